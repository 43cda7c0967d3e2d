// Merging .symtab with .dynsym: a symbol in both is reported once, as .symtab's entry carrying .dynsym's version.
import { STT_FILE, STT_SECTION } from './constants.js';
import type { ElfSymbol } from './types.js';
import { ENTRIES_PER_YIELD, type Sliced } from '../slices.js';
import { namedSymbols, symbolAt, SymbolEntries, type NameScreen, type SkipEntry, type StringTable, type SymbolTableInput } from './symtab.js';

/*
 * ld writes a versioned symbol into .symtab as "printf@GLIBC_2.2.5" (or "name@@VER" for the default
 * version) while .dynsym has "printf" with the version in .gnu.version: the same symbol, which is
 * reported under the plain name.
 */

/** "name@VER" or "name@@VER" split, or undefined for a plain name. */
function splitVersionedName(name: string): { base: string; version: string } | undefined {
  const at = name.indexOf('@');
  if (at <= 0) return undefined;
  const version = name.charCodeAt(at + 1) === 0x40 ? name.slice(at + 2) : name.slice(at + 1);
  return { base: name.slice(0, at), version };
}

const DIFFERENT = 0;
const SAME = 1;
/** The .symtab name is the .dynsym name followed by "@VER". */
const SAME_BEFORE_VERSION = 2;

/** Compares two NUL-terminated names in place, so matching 75k exported names creates no strings. */
function compareRawNames(symtabNames: Buffer, symtabAt: number, dynsymNames: Buffer, dynsymAt: number): number {
  for (let k = 0; ; k++) {
    const a = symtabAt + k < symtabNames.length ? symtabNames[symtabAt + k] : 0;
    const b = dynsymAt + k < dynsymNames.length ? dynsymNames[dynsymAt + k] : 0;
    if (a !== b) return b === 0 && a === 0x40 ? SAME_BEFORE_VERSION : DIFFERENT;
    if (a === 0) return SAME;
  }
}

interface Twin {
  position: number;
  versioned: boolean;
}

function addToList<K>(map: Map<K, number[]>, key: K, position: number): void {
  const list = map.get(key);
  if (list) list.push(position);
  else map.set(key, [position]);
}

/**
 * .dynsym indexed for finding the twin of a .symtab symbol. Defined symbols are found by value in a
 * typed-array hash table (few share a value) and compared by raw bytes: no Map of 75k entries, no
 * hashing of long C++ names. Undefined ones all have value 0 and are found by name.
 */
class RawDynsymIndex {
  readonly entries: SymbolEntries;
  private readonly hashShift: number;
  private readonly firstInBucket: Int32Array;
  private readonly nextInBucket: Int32Array;
  private readonly undefinedByName = new Map<string, number[]>();

  constructor(private readonly input: SymbolTableInput) {
    this.entries = new SymbolEntries(input.entries);
    const bucketBits = Math.max(4, Math.ceil(Math.log2(this.entries.count + 1)) + 1);
    this.hashShift = 32 - bucketBits;
    this.firstInBucket = new Int32Array(1 << bucketBits).fill(-1);
    this.nextInBucket = new Int32Array(this.entries.count).fill(-1);
  }

  /** Indexes every entry (75k for node): in slices, as the merge that needs it. */
  *fill(): Sliced<void> {
    for (let position = 1; position < this.entries.count; position++) {
      if ((position & (ENTRIES_PER_YIELD - 1)) === 0) yield;
      this.add(position);
    }
  }

  private bucketOf(entries: SymbolEntries, position: number): number {
    return entries.valueHash(position) >>> this.hashShift;
  }

  private add(position: number): void {
    const kind = this.entries.kind(position);
    if (kind === STT_SECTION || kind === STT_FILE) return;
    if (this.entries.shndx(position) === 0) {
      addToList(this.undefinedByName, this.input.names.name(this.entries.nameOffset(position)), position);
      return;
    }
    const bucket = this.bucketOf(this.entries, position);
    this.nextInBucket[position] = this.firstInBucket[bucket];
    this.firstInBucket[bucket] = position;
  }

  private versionMatches(position: number, version: string): boolean {
    return this.input.versionOf === undefined || this.input.versionOf(position) === version;
  }

  /** The twin of a defined .symtab entry, if any; `versioned` when .symtab wrote it as name@VER. */
  findDefined(symbol: ElfSymbol, symtab: SymbolEntries, symtabPosition: number, symtabNames: StringTable): Twin | undefined {
    const nameOffset = symtab.nameOffset(symtabPosition);
    const first = this.firstInBucket[this.bucketOf(symtab, symtabPosition)];
    for (let position = first; position >= 0; position = this.nextInBucket[position]) {
      if (!this.entries.sameValue(position, symtab, symtabPosition)) continue;
      const match = compareRawNames(symtabNames.bytes, nameOffset, this.input.names.bytes, this.entries.nameOffset(position));
      if (match === SAME) return { position, versioned: false };
      if (match === SAME_BEFORE_VERSION) {
        const split = splitVersionedName(symbol.name);
        if (split && this.versionMatches(position, split.version)) return { position, versioned: true };
      }
    }
    return undefined;
  }

  findUndefined(name: string): Twin | undefined {
    const plain = this.undefinedByName.get(name)?.[0];
    if (plain !== undefined) return { position: plain, versioned: false };
    const split = name.includes('@') ? splitVersionedName(name) : undefined;
    if (!split) return undefined;
    const position = this.undefinedByName.get(split.base)?.find((p) => this.versionMatches(p, split.version));
    return position === undefined ? undefined : { position, versioned: true };
  }

  mayMatch(position: number, screen: NameScreen): boolean {
    return this.input.names.passingAt(this.entries.nameOffset(position), screen) !== undefined;
  }

  nameAt(position: number): string {
    return this.input.names.name(this.entries.nameOffset(position));
  }

  versionAt(position: number): string | undefined {
    return this.input.versionOf?.(position);
  }

  symbolAt(position: number): ElfSymbol {
    return symbolAt(this.input, this.entries, position);
  }
}

/** Gives a .symtab symbol its twin's version, and its plain name when it was written as name@VER. */
function adoptTwin(symbol: ElfSymbol, dynsym: RawDynsymIndex, twin: Twin): void {
  if (twin.versioned) symbol.name = dynsym.nameAt(twin.position);
  const version = dynsym.versionAt(twin.position);
  if (version !== undefined) symbol.version = version;
}

/**
 * .symtab and .dynsym parsed and merged straight from the raw tables, in slices (see slices.ts). With a `screen`,
 * only names that pass it are made into symbols (a .dynsym twin passes whenever its .symtab entry does: same name,
 * or name@VER).
 */
export function* mergedSymbols(symtab: SymbolTableInput, dynsym: SymbolTableInput | undefined, screen?: NameScreen): Sliced<ElfSymbol[]> {
  if (!dynsym) return yield* namedSymbols(symtab, undefined, screen);
  const index = new RawDynsymIndex(dynsym);
  yield* index.fill();
  const covered = new Uint8Array(index.entries.count);
  const merged = yield* namedSymbols(symtab, (symbol, entries, position) => {
    // Only global and weak symbols are exported; a local has no .dynsym twin.
    if (symbol.bind === 'local') return;
    const twin = symbol.defined
      ? index.findDefined(symbol, entries, position, symtab.names)
      : index.findUndefined(symbol.name);
    if (!twin) return;
    covered[twin.position] = 1;
    adoptTwin(symbol, index, twin);
  }, screen);
  for (let position = 1; position < index.entries.count; position++) {
    if ((position & (ENTRIES_PER_YIELD - 1)) === 0) yield;
    const kind = index.entries.kind(position);
    if (covered[position] || kind === STT_SECTION || kind === STT_FILE) continue;
    if (screen && !index.mayMatch(position, screen)) continue;
    merged.push(index.symbolAt(position));
  }
  return merged;
}

/**
 * For a screened .dynsym about to be merged with `symtab` (mergeSymbolTables): the entries that would change nothing,
 * so that they need not become symbols (node's `*Heap*` has 4,000 twins, each only to be found and dropped). Such an
 * entry is defined, has no version, is the first passing entry of its name and value, and a non-local .symtab symbol
 * has that name and value: the merge would take it as that symbol's twin and copy nothing from it. Kept: an entry
 * with a version, an undefined one, a later one of the same name and value, one whose name a .symtab `name@VER`
 * splits to (the merge renames on such a twin). `collides` says when the skipping changed the merge after all (a
 * later entry of a skipped entry's name and value was kept: the merge would now take that one as the twin), and the
 * caller parses again without skipping.
 */
export function redundantTwins(symtab: readonly ElfSymbol[]): { skip: SkipEntry; collides(kept: readonly ElfSymbol[]): boolean } {
  // By value as a number (exact below 2^53, every address a file uses), then by name: no BigInt turned into text.
  // A value has one name almost always: kept as the name itself, an array only when a second comes.
  type Names = Map<number, string | string[]>;
  const keys: Names = new Map();
  const splitBases = new Set<string>();
  const has = (map: Names, value: number, name: string) => {
    const names = map.get(value);
    return names === name || (Array.isArray(names) && names.includes(name));
  };
  const add = (map: Names, value: number, name: string) => {
    const names = map.get(value);
    if (names === undefined) map.set(value, name);
    else if (Array.isArray(names)) names.push(name);
    else if (names !== name) map.set(value, [names, name]);
  };
  for (const s of symtab) {
    if (s.bind === 'local') continue;
    add(keys, Number(s.value), s.name);
    const split = s.name.includes('@') ? splitVersionedName(s.name) : undefined;
    if (split) splitBases.add(split.base);
  }
  const seen: Names = new Map();
  const skipped: Names = new Map();
  const nonLocal = symtab.filter((s) => s.bind !== 'local');
  const skip: SkipEntry = Object.assign((name: string, entries: SymbolEntries, index: number, input: SymbolTableInput) => {
    if (entries.shndx(index) === 0) return false;
    const value = entries.valueNumber(index);
    const first = !has(seen, value, name);
    add(seen, value, name);
    if (!first || !has(keys, value, name) || splitBases.has(name) || input.versionOf?.(index) !== undefined) return false;
    add(skipped, value, name);
    return true;
  }, {
    // The same rule for the addon, as it screens a mapped .dynsym (native/symscan.cc dropRedundantTwins).
    twins: { names: nonLocal.map((s) => s.name).join('\0'), values: Float64Array.from(nonLocal, (s) => Number(s.value)), splitBases: [...splitBases].join('\0') },
  });
  return {
    skip,
    collides: (kept) => skipped.size > 0 && kept.some((s) => s.defined && has(skipped, Number(s.value), s.name)),
  };
}

/**
 * The same merge over symbols already parsed, for a .symtab from a separate debug file and the
 * stripped file's .dynsym. Defined twins are found by value, undefined ones by name.
 */
export function mergeSymbolTables(symtab: ElfSymbol[], dynsym: ElfSymbol[]): ElfSymbol[] {
  // Keyed by the value as a number (a Map hashes numbers far faster than BigInts); the candidates found are still
  // compared by their exact value.
  const byValue = new Map<number, number[]>();
  const undefinedByName = new Map<string, number[]>();
  dynsym.forEach((symbol, position) => {
    if (symbol.defined) addToList(byValue, Number(symbol.value), position);
    else addToList(undefinedByName, symbol.name, position);
  });
  const covered = new Uint8Array(dynsym.length);
  const findTwin = (name: string, symbol: ElfSymbol, version?: string): number => {
    const candidates = symbol.defined ? byValue.get(Number(symbol.value)) : undefinedByName.get(name);
    return candidates?.find((p) => dynsym[p].name === name && dynsym[p].value === symbol.value
      && (version === undefined || dynsym[p].version === undefined || dynsym[p].version === version)) ?? -1;
  };
  const merged = symtab.map((symbol) => {
    if (symbol.bind === 'local') return symbol;
    let name = symbol.name;
    let twin = findTwin(name, symbol);
    const split = twin < 0 && name.includes('@') ? splitVersionedName(name) : undefined;
    if (split) {
      twin = findTwin(split.base, symbol, split.version);
      if (twin >= 0) name = split.base;
    }
    if (twin < 0) return symbol;
    covered[twin] = 1;
    const version = dynsym[twin].version;
    return version === undefined ? { ...symbol, name } : { ...symbol, name, version };
  });
  dynsym.forEach((symbol, position) => {
    if (!covered[position]) merged.push(symbol);
  });
  return merged;
}
