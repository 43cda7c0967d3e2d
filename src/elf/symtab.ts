// Symbol tables (.symtab, .dynsym): raw entries to ElfSymbol, with STT_FILE labels for locals.
import { isAscii } from 'node:buffer';
import {
  STB_GLOBAL, STB_GNU_UNIQUE, STB_LOCAL, STB_WEAK, STT_COMMON, STT_FILE, STT_FUNC, STT_GNU_IFUNC,
  STT_NOTYPE, STT_OBJECT, STT_SECTION, STT_TLS, SYMBOL_ENTRY_SIZE, SHT_NOBITS,
} from './constants.js';
import type { ElfSection, ElfSymbol, SymbolBind, SymbolType } from './types.js';
import { elfBad, type ByteSource, type FileIdentity } from './source.js';
import { sectionBytes } from './headers.js';
import { finish, ENTRIES_PER_YIELD, type Sliced } from '../slices.js';
import { partitionPoint } from '../sorted.js';
import { nativeHolderScan, nativeSymbolFileScan, nativeSymbolScan, type NativeTwins } from '../native.js';

/**
 * Names out of a string table. Most tables are pure ASCII: when many names are wanted (a whole index), the table is
 * decoded once and names are substrings; a few names (a screened `syms`) are decoded one by one, so an 8 MB table
 * is never turned into a string just to find 500 of its names.
 */
export class StringTable {
  /** undefined: not decoded yet; null: not ASCII (names decode as UTF-8 one by one). */
  private decoded: string | null | undefined;
  private perName = 0;
  private prefix?: { text: string; bytes: Uint8Array };
  private latin1?: string;

  constructor(readonly bytes: Buffer, private readonly path: string, private readonly what: string) {}

  get length(): number {
    return this.bytes.length;
  }

  /** Names asked one by one beyond this many: decode the whole table once instead. */
  private static readonly DECODE_AFTER = 2048;

  private text(): string | undefined {
    if (this.decoded === undefined) this.decoded = isAscii(this.bytes) ? this.bytes.toString('latin1') : null;
    return this.decoded ?? undefined;
  }

  /**
   * The name at `offset` when it may pass `screen`, else undefined. With a literal prefix, its bytes are compared at
   * the offset first (most names differ in the first byte), and the few that pass are decoded and tested whole.
   * Without one, `sticky` (flag y) is tried right at the offset of the decoded ASCII text; non-ASCII tables decode the
   * name and use `loose`.
   */
  passingAt(offset: number, screen: NameScreen): string | undefined {
    if (screen.prefix) {
      const p = this.prefixBytes(screen.prefix);
      const b = this.bytes;
      if (offset + p.length > b.length) return undefined;
      for (let i = 0; i < p.length; i++) if (b[offset + i] !== p[i]) return undefined;
      const name = this.name(offset);
      return screen.loose.test(name) ? name : undefined;
    }
    const text = this.text();
    if (text !== undefined) {
      screen.sticky.lastIndex = offset;
      return screen.sticky.test(text) ? this.name(offset) : undefined;
    }
    if (offset >= this.bytes.length) return undefined;
    const name = this.name(offset);
    return screen.loose.test(name) ? name : undefined;
  }

  /**
   * The name offsets whose name contains `text` (see NameRanges). A match at p lies in every name that starts after
   * the NUL before p and at or before p (names may share their tails, so a name can start in the middle of another).
   * The search runs over the bytes as one latin1 string (char i is byte i, whatever the encoding): a string search
   * per hit costs a fraction of a Buffer.indexOf call, and `*Heap*` hits node's 7 MB of names 4,600 times.
   */
  rangesContaining(text: string): NameRanges {
    const all = this.byteText();
    const needle = Buffer.from(text, 'utf8').toString('latin1');
    const starts: number[] = [];
    const ends: number[] = [];
    for (let at = all.indexOf(needle); at >= 0; at = all.indexOf(needle, at + 1)) {
      const start = all.lastIndexOf('\0', at) + 1;
      // A second hit in the same name widens that name's range.
      if (ends.length > 0 && start <= ends[ends.length - 1]!) ends[ends.length - 1] = at;
      else {
        starts.push(start);
        ends.push(at);
      }
    }
    return new NameRanges(Int32Array.from(starts), Int32Array.from(ends), this.bytes.length);
  }

  /** The whole table as latin1 (see rangesContaining): the ASCII text itself when the table is ASCII. */
  private byteText(): string {
    if (this.latin1 === undefined) this.latin1 = this.text() ?? this.bytes.toString('latin1');
    return this.latin1;
  }

  /** The name at `offset`: a slice of the decoded text when the table is ASCII and decoded, else decoded alone. */
  nameFound(offset: number): string {
    if (this.decoded && offset < this.decoded.length) {
      const end = this.decoded.indexOf('\0', offset);
      return this.decoded.slice(offset, end < 0 ? undefined : end);
    }
    return this.nameAlone(offset);
  }

  /** The name at `offset`, decoded alone (for the few names a screen lets through). */
  nameAlone(offset: number): string {
    if (offset >= this.bytes.length) return this.name(offset);
    const end = this.bytes.indexOf(0, offset);
    return this.bytes.toString('utf8', offset, end < 0 ? this.bytes.length : end);
  }

  private prefixBytes(prefix: string): Uint8Array {
    if (this.prefix?.text !== prefix) this.prefix = { text: prefix, bytes: Buffer.from(prefix, 'utf8') };
    return this.prefix.bytes;
  }

  name(offset: number): string {
    if (offset >= this.bytes.length) {
      if (offset === 0) return '';
      throw elfBad(this.path, `name offset ${offset} is past the end of ${this.what} (${this.bytes.length} bytes)`);
    }
    if (this.decoded === undefined && ++this.perName <= StringTable.DECODE_AFTER) {
      const end = this.bytes.indexOf(0, offset);
      return this.bytes.toString('utf8', offset, end < 0 ? this.bytes.length : end);
    }
    const text = this.text();
    if (text !== undefined) {
      const end = text.indexOf('\0', offset);
      return text.slice(offset, end < 0 ? undefined : end);
    }
    const end = this.bytes.indexOf(0, offset);
    return this.bytes.toString('utf8', offset, end < 0 ? this.bytes.length : end);
  }
}

/**
 * Sorted, disjoint ranges of name offsets: offset o is in when starts[r] <= o <= ends[r] for some r. Asked once per
 * symbol entry (107k for node), in an order that is near-sorted for .symtab and hash order for .dynsym: a map of
 * 64-byte blocks (117 KB for node's 7 MB of names, cache-sized) turns away most offsets with one read, and only
 * those in a marked block are looked up in the ranges.
 */
export class NameRanges {
  static readonly BLOCK_SHIFT = 6;
  /** blocks[o >> BLOCK_SHIFT] is 1 when some range touches that block. */
  readonly blocks: Uint8Array;

  constructor(readonly starts: Int32Array, readonly ends: Int32Array, tableLength: number) {
    const shift = NameRanges.BLOCK_SHIFT;
    this.blocks = new Uint8Array((tableLength >> shift) + 1);
    for (let r = 0; r < starts.length; r++) this.blocks.fill(1, starts[r]! >> shift, (ends[r]! >> shift) + 1);
  }

  get empty(): boolean {
    return this.starts.length === 0;
  }

  /** Whether `offset` lies in a range (for an offset whose block is marked). */
  holds(offset: number): boolean {
    const ends = this.ends;
    const r = partitionPoint(ends.length, (i) => ends[i]! < offset);
    return r < ends.length && offset >= this.starts[r]!;
  }
}

/**
 * A string table read name by name from the file, for the few names a caller needs out of a big table (7 MB for
 * node): nothing is read until a name is asked for, then a small piece at its offset.
 */
export class StringsAtOffsets extends StringTable {
  private static readonly CHUNK = 256;

  constructor(private readonly readAt: (offset: number, length: number) => Buffer, private readonly sizeBytes: number, path: string, what: string) {
    super(Buffer.alloc(0), path, what);
  }

  override get length(): number {
    return this.sizeBytes;
  }

  override name(offset: number): string {
    if (offset >= this.sizeBytes) return super.name(offset);
    const parts: Buffer[] = [];
    for (let at = offset; at < this.sizeBytes; at += StringsAtOffsets.CHUNK) {
      const piece = this.readAt(at, Math.min(StringsAtOffsets.CHUNK, this.sizeBytes - at));
      const end = piece.indexOf(0);
      parts.push(end < 0 ? piece : piece.subarray(0, end));
      if (end >= 0) break;
    }
    return Buffer.concat(parts).toString('utf8');
  }
}

const TYPES: Record<number, SymbolType> = {
  [STT_NOTYPE]: 'notype', [STT_OBJECT]: 'object', [STT_FUNC]: 'func', [STT_SECTION]: 'section',
  [STT_FILE]: 'file', [STT_COMMON]: 'common', [STT_TLS]: 'tls', [STT_GNU_IFUNC]: 'ifunc',
};
const BINDS: Record<number, SymbolBind> = {
  [STB_LOCAL]: 'local', [STB_GLOBAL]: 'global', [STB_WEAK]: 'weak', [STB_GNU_UNIQUE]: 'unique',
};

const VISIBILITIES: Record<number, ElfSymbol['visibility']> = { 1: 'internal', 2: 'hidden', 3: 'protected' };

export interface SymbolTableInput {
  entries: Buffer;
  names: StringTable;
  table: 'symtab' | 'dynsym';
  /**
   * Where the table and its names lie in a file, for the addon to map and screen them there (screenedSymbols): then
   * `entries` and `names` are read only when something else asks for them.
   */
  onDisk?: TableOnDisk;
  /** The names read a few at a time (file labels, version names), not the whole table: for those few look-ups. */
  sparseNames?: () => StringTable;
  /** Version of the symbol at a dynsym index, when the file has version tables. */
  versionOf?: (index: number) => string | undefined;
  /** Whether that version is a non-default one (VERSYM_HIDDEN: `name@VER`, not `name@@VER`). */
  versionHidden?: (index: number) => boolean;
}

export interface TableOnDisk {
  path: string;
  file: FileIdentity;
  entries: { offset: number; size: number };
  strings: { offset: number; size: number };
  /** A .dynsym's .gnu.version, when the file has one. */
  versym?: { offset: number; size: number };
}

/**
 * A symbol table whose entries and names are read on first use: a screen with the addon maps them instead
 * (screenedSymbols), and node's tables are 17 MB. `sparseNames` reads names a few bytes at a time.
 */
export function lazyTableInput(source: ByteSource, table: ElfSection, strings: ElfSection, kind: 'symtab' | 'dynsym', what: string,
  versym?: ElfSection): SymbolTableInput {
  let entries: Buffer | undefined;
  let names: StringTable | undefined;
  const onDisk: TableOnDisk | undefined = source.file && table.type !== SHT_NOBITS && strings.type !== SHT_NOBITS
    ? {
      path: source.path, file: source.file, entries: { offset: Number(table.offset), size: Number(table.size) }, strings: { offset: Number(strings.offset), size: Number(strings.size) },
      ...(versym && versym.type !== SHT_NOBITS ? { versym: { offset: Number(versym.offset), size: Number(versym.size) } } : {}),
    }
    : undefined;
  return {
    get entries() {
      return (entries ??= source.batch(() => sectionBytes(source, table)));
    },
    get names() {
      return (names ??= new StringTable(source.batch(() => sectionBytes(source, strings)), source.path, what));
    },
    table: kind,
    ...(onDisk ? { onDisk } : {}),
    sparseNames: () => names ?? new StringsAtOffsets((offset, length) => source.batch(() => source.read(strings.offset + BigInt(offset), length, what)),
      Number(strings.size), source.path, what),
  };
}

/**
 * A cheap first pass over names (a superset of what the caller wants; it filters the result exactly).
 * `sticky` has flag y and matches from a name's first character; `loose` is anchored with ^ for decoded names.
 */
export interface NameScreen {
  sticky: RegExp;
  loose: RegExp;
  /** Literal text every passing name starts with: checked before the expression runs. */
  prefix: string;
  /**
   * Literal text every passing name contains (used without a prefix): found by a byte search over the whole string
   * table, so that only the names holding it are decoded and tested (`*Heap*` over node's 7 MB of names).
   */
  contains?: string;
  /**
   * Having the literal (`prefix`, or `contains` without one) is passing `loose`: the pattern is that literal alone
   * (`uv_*`, `*Heap*`, a word), so a name the addon found by the literal needs no regular expression run on it.
   */
  decides?: boolean;
}

/** A screen from a regular-expression source for one whole name (no anchors); "name@VER" forms pass too. */
export function nameScreen(source: string, prefix = '', contains = ''): NameScreen {
  const body = `(?:${source})(?:@[^\\0]*)?`;
  const screen: NameScreen = { sticky: new RegExp(`${body}(?:\\0|$)`, 'ys'), loose: new RegExp(`^${body}$`, 's'), prefix };
  if (contains) screen.contains = contains;
  return screen;
}

const TWO_TO_32 = 0x1_0000_0000;

/** Typed-array views of a raw symbol table: 107k entries are read field by field without Buffer method calls. */
export class SymbolEntries {
  readonly count: number;
  /** The raw entries (24 bytes each; st_info at +4), for loops that read them inline. */
  readonly bytes: Uint8Array;
  /** The same as 32-bit words (st_name is word 0 of each entry's 6). */
  readonly words: Uint32Array;
  private readonly wide: BigUint64Array;

  constructor(entries: Buffer) {
    this.count = Math.floor(entries.length / SYMBOL_ENTRY_SIZE);
    // Typed views need an 8-byte aligned start; a slice of a bigger buffer may not have one.
    const aligned = entries.byteOffset % 8 === 0 ? entries : Buffer.from(entries);
    this.bytes = new Uint8Array(aligned.buffer, aligned.byteOffset, this.count * SYMBOL_ENTRY_SIZE);
    this.words = new Uint32Array(aligned.buffer, aligned.byteOffset, this.count * 6);
    this.wide = new BigUint64Array(aligned.buffer, aligned.byteOffset, this.count * 3);
  }

  nameOffset(index: number): number { return this.words[index * 6]; }
  kind(index: number): number { return this.bytes[index * SYMBOL_ENTRY_SIZE + 4] & 0xf; }
  binding(index: number): number { return this.bytes[index * SYMBOL_ENTRY_SIZE + 4] >> 4; }
  /** st_other's low two bits: STV_DEFAULT 0, INTERNAL 1, HIDDEN 2, PROTECTED 3. */
  visibility(index: number): number { return this.bytes[index * SYMBOL_ENTRY_SIZE + 5] & 3; }
  shndx(index: number): number { return this.words[index * 6 + 1] >>> 16; }
  value(index: number): bigint { return this.wide[index * 3 + 1]; }
  /** st_value as a number: exact below 2^53, which covers every address a real file uses. */
  valueNumber(index: number): number { return this.words[index * 6 + 2] + this.words[index * 6 + 3] * TWO_TO_32; }
  /** A 32-bit mix of st_value, for hash tables keyed by value. */
  valueHash(index: number): number {
    return Math.imul(this.words[index * 6 + 2] ^ Math.imul(this.words[index * 6 + 3], 0x85ebca6b), 0x9e3779b1);
  }
  /** Compares st_value word by word: no BigInt made. */
  sameValue(index: number, other: SymbolEntries, otherIndex: number): boolean {
    return this.words[index * 6 + 2] === other.words[otherIndex * 6 + 2] && this.words[index * 6 + 3] === other.words[otherIndex * 6 + 3];
  }
  size(index: number): number { return this.words[index * 6 + 4] + this.words[index * 6 + 5] * TWO_TO_32; }
}

export function symbolAt(input: SymbolTableInput, entries: SymbolEntries, index: number, name?: string): ElfSymbol {
  const shndx = entries.shndx(index);
  const symbol: ElfSymbol = {
    name: name ?? input.names.name(entries.nameOffset(index)),
    value: entries.value(index),
    size: entries.size(index),
    type: TYPES[entries.kind(index)] ?? 'other',
    bind: BINDS[entries.binding(index)] ?? 'other',
    shndx,
    defined: shndx !== 0,
    table: input.table,
  };
  const version = input.versionOf?.(index);
  if (version !== undefined) symbol.version = version;
  if (shndx !== 0 && input.versionHidden?.(index)) symbol.versionHidden = true;
  const visibility = VISIBILITIES[entries.visibility(index)];
  if (visibility !== undefined) symbol.visibility = visibility;
  return symbol;
}

/** Every entry, in table order: index i of the result is symbol index i (0 is the null symbol). */
export function parseAllSymbols(input: SymbolTableInput): ElfSymbol[] {
  const entries = new SymbolEntries(input.entries);
  const symbols = new Array<ElfSymbol>(entries.count);
  for (let index = 0; index < entries.count; index++) symbols[index] = symbolAt(input, entries, index);
  return symbols;
}

/**
 * The entries worth looking up: no null symbol, no STT_SECTION or STT_FILE entries; each local
 * labelled with the nearest preceding STT_FILE name, which is how two `static helper`s in a.c and
 * b.c are told apart. `onSymbol` may adjust each symbol before it is kept.
 */
export function parseNamedSymbols(input: SymbolTableInput,
  onSymbol?: (symbol: ElfSymbol, entries: SymbolEntries, index: number) => void, screen?: NameScreen, skip?: SkipEntry): ElfSymbol[] {
  return screen ? screenedSymbols(input, screen, onSymbol, skip) : finish(namedSymbols(input, onSymbol));
}

/**
 * With a screen: an entry that passes it but need not become a symbol (a .dynsym twin that would add nothing to its
 * .symtab entry, see redundantTwins); `input` is the one whose versionOf takes `index`.
 */
export type SkipEntry = ((name: string, entries: SymbolEntries, index: number, input: SymbolTableInput) => boolean) & {
  /** The same rule for the addon to apply while it screens a mapped .dynsym (see NativeTwins). */
  twins?: Omit<NativeTwins, 'versymOffset' | 'versymSize'>;
};

/** parseNamedSymbols in slices (see slices.ts): it yields every ENTRIES_PER_YIELD entries (a screened pass: none). */
export function* namedSymbols(input: SymbolTableInput,
  onSymbol?: (symbol: ElfSymbol, entries: SymbolEntries, index: number) => void, screen?: NameScreen): Sliced<ElfSymbol[]> {
  if (screen) return screenedSymbols(input, screen, onSymbol);
  const entries = new SymbolEntries(input.entries);
  const symbols: ElfSymbol[] = [];
  const labels = new FileLabels(input.names);
  // The loop runs once per symbol (107k for node) in a process that has just started, before the JIT has warmed up:
  // the entry fields are read inline.
  const raw = entries.bytes;
  const words = entries.words;
  for (let index = 1; index < entries.count; index++) {
    if ((index & (ENTRIES_PER_YIELD - 1)) === 0) yield;
    const kind = raw[index * SYMBOL_ENTRY_SIZE + 4]! & 0xf;
    if (kind === STT_FILE) {
      labels.fileOffset = words[index * 6]!;
      continue;
    }
    if (kind === STT_SECTION) continue;
    const symbol = symbolAt(input, entries, index);
    labels.label(symbol);
    onSymbol?.(symbol, entries, index);
    symbols.push(symbol);
  }
  return symbols;
}

/**
 * The STT_FILE entry the locals that follow belong to: its name is decoded only when a local of it is kept (a
 * screened pass keeps few, and node has thousands of files).
 */
class FileLabels {
  /** st_name of the last STT_FILE entry passed; -1 before the first. */
  fileOffset = -1;
  private fileName: string | undefined;
  private fileNamed = -1;

  constructor(private readonly names: StringTable) {}

  label(symbol: ElfSymbol): void {
    if (symbol.bind !== 'local' || this.fileOffset < 0) return;
    if (this.fileNamed !== this.fileOffset) {
      this.fileName = this.names.name(this.fileOffset) || undefined;
      this.fileNamed = this.fileOffset;
    }
    if (this.fileName !== undefined) symbol.file = this.fileName;
  }
}

/**
 * One of the addon's scans (native/symscan.cc), looked up once, unless turned off: they turn away node's 107k entries
 * at C speed, where the loops here run in a process too young for the JIT to have optimised them. Off (tests, or an
 * addon that cannot be loaded or predates them), the loops give the same results.
 */
function switchable<T>(look: () => T | undefined): { get(): T | undefined; use(on: boolean): void } {
  let cached: T | null | undefined;
  return {
    get: () => {
      if (cached === undefined) cached = look() ?? null;
      return cached ?? undefined;
    },
    use: (on) => {
      cached = on ? undefined : null;
    },
  };
}

const symbolScanner = switchable(nativeSymbolScan);
const symbolFileScanner = switchable(nativeSymbolFileScan);
const symbolFileScan = () => symbolFileScanner.get();
const holderScanner = switchable(nativeHolderScan);
const symbolScan = () => symbolScanner.get();
const holderScan = () => holderScanner.get();

/** Turns the native name screen off (false) or back on: the tests compare the two paths. */
export const useNativeSymbolScan = (on: boolean): void => {
  symbolScanner.use(on);
  symbolFileScanner.use(on);
};
/** Turns the native address-holder scan off (false) or back on: the tests compare the two paths. */
export const useNativeHolderScan = (on: boolean): void => holderScanner.use(on);

/**
 * parseNamedSymbols with a screen: only the entries whose names pass it become symbols. One plain loop over st_name
 * and st_info, not the sliced generator: a screened pass over node's 107k entries takes a few milliseconds, and V8
 * runs a generator's loop about half as fast while the process is too young for it to be optimised.
 * - With a literal prefix, its first byte turns away almost every name before anything else is read.
 * - Without one, a literal every name must contain (`*Heap*`) is found in the table's bytes first (see
 *   StringTable.rangesContaining); an entry whose st_name falls in none of those few ranges is turned away by
 *   looking at numbers (see NameRanges), and only the others are decoded and tested.
 * With the addon, either literal is screened natively instead (symbolScan) and only its survivors are decoded here.
 */
function screenedSymbols(input: SymbolTableInput, screen: NameScreen,
  onSymbol?: (symbol: ElfSymbol, entries: SymbolEntries, index: number) => void, skip?: SkipEntry): ElfSymbol[] {
  const mapped = onSymbol ? undefined : screenedOnDisk(input, screen, skip);
  if (mapped) return mapped;
  const entries = new SymbolEntries(input.entries);
  const symbols: ElfSymbol[] = [];
  const names = input.names;
  const labels = new FileLabels(names);
  const literal = screen.prefix || screen.contains;
  const scan = literal && names.bytes.length === names.length ? symbolScan() : undefined;
  if (scan) {
    const [found, text] = scan(input.entries, names.bytes, Buffer.from(literal!, 'utf8'), screen.prefix !== '');
    // The names come in one string: a 7 MB table is neither decoded whole nor name by name.
    const passing = text.split('\0');
    for (let i = 0; i < found.length; i += 2) {
      const index = found[i]!;
      const name = passing[i >> 1]!;
      if (!screen.decides && !screen.loose.test(name)) continue;
      if (skip?.(name, entries, index, input)) continue;
      const symbol = symbolAt(input, entries, index, name);
      labels.fileOffset = found[i + 1]! - 1;
      labels.label(symbol);
      onSymbol?.(symbol, entries, index);
      symbols.push(symbol);
    }
    return symbols;
  }
  const raw = entries.bytes;
  const words = entries.words;
  const count = entries.count;
  const strings = names.bytes;
  const first = screen.prefix ? Buffer.from(screen.prefix, 'utf8')[0]! : -1;
  const ranges = first < 0 && screen.contains ? names.rangesContaining(screen.contains) : undefined;
  if (ranges?.empty) return symbols;
  const blocks = ranges?.blocks;
  const shift = NameRanges.BLOCK_SHIFT;
  for (let index = 1; index < count; index++) {
    const kind = raw[index * SYMBOL_ENTRY_SIZE + 4]! & 0xf;
    const nameOffset = words[index * 6]!;
    if (kind === STT_FILE) {
      labels.fileOffset = nameOffset;
      continue;
    }
    if (kind === STT_SECTION) continue;
    let name: string | undefined;
    if (blocks) {
      if (blocks[nameOffset >> shift] !== 1 || !ranges!.holds(nameOffset)) continue;
      name = names.nameFound(nameOffset);
      if (!screen.loose.test(name)) continue;
    } else {
      if (first >= 0 && strings[nameOffset] !== first) continue;
      name = names.passingAt(nameOffset, screen);
      if (name === undefined) continue;
    }
    if (skip?.(name, entries, index, input)) continue;
    const symbol = symbolAt(input, entries, index, name);
    labels.label(symbol);
    onSymbol?.(symbol, entries, index);
    symbols.push(symbol);
  }
  return symbols;
}

/**
 * screenedSymbols over a table the addon maps from its file (SymbolTableInput.onDisk): only the passing entries come
 * back, with their raw bytes, so the table and its names are never read here. Undefined when there is no literal to
 * screen by, no such addon, or the file cannot be mapped (changed since, say): the caller reads the tables.
 */
function screenedOnDisk(input: SymbolTableInput, screen: NameScreen, skip?: SkipEntry): ElfSymbol[] | undefined {
  const literal = screen.prefix || screen.contains;
  const disk = input.onDisk;
  const scan = literal && disk ? symbolFileScan() : undefined;
  if (!scan || !disk) return undefined;
  // A .dynsym's redundant twins are dropped by the addon as it screens, reading .gnu.version where versionOf reads the
  // versions (a file with versions but no such section keeps the rule here); when it could not (a collision), the
  // rule runs here on the whole list.
  const twins: NativeTwins | undefined = skip?.twins && input.table === 'dynsym' && (disk.versym || !input.versionOf)
    ? { ...skip.twins, versymOffset: disk.versym?.offset ?? 0, versymSize: disk.versym?.size ?? 0 }
    : undefined;
  const got = scan(disk.path, disk.file.ino, disk.file.mtimeMs, disk.file.sizeBytes, disk.entries.offset, disk.entries.size, disk.strings.offset,
    disk.strings.size, Buffer.from(literal!, 'utf8'), screen.prefix !== '', twins);
  if (!got) return undefined;
  const [found, text, raw, collided] = got;
  if (twins && !collided) skip = undefined;
  // Entry k of `raw` is entry found[2k] of the table: versions are looked up by the table's own index.
  const compact: SymbolTableInput = {
    entries: raw,
    names: input.sparseNames?.() ?? input.names,
    table: input.table,
    ...(input.versionOf ? { versionOf: (k: number) => input.versionOf!(found[2 * k]!) } : {}),
    ...(input.versionHidden ? { versionHidden: (k: number) => input.versionHidden!(found[2 * k]!) } : {}),
  };
  const entries = new SymbolEntries(raw);
  const labels = new FileLabels(compact.names);
  const passing = text.split('\0');
  const symbols: ElfSymbol[] = [];
  for (let i = 0; i < found.length; i += 2) {
    const name = passing[i >> 1]!;
    if ((!screen.decides && !screen.loose.test(name)) || skip?.(name, entries, i >> 1, compact)) continue;
    const symbol = symbolAt(compact, entries, i >> 1, name);
    labels.fileOffset = found[i + 1]! - 1;
    labels.label(symbol);
    symbols.push(symbol);
  }
  return symbols;
}

/**
 * For each file address, the symbols whose [value, value + size) holds it; where none does, the nearest symbol of
 * unknown size (0) below it, unless a sized one starts between them. One pass over the raw entries (a second only for
 * addresses no sized symbol holds), and only those few entries are made into symbols: naming a backtrace's dozen pcs
 * in a 107k-symbol binary must not parse it all. Locals carry their STT_FILE label, as in parseNamedSymbols.
 */
export function symbolsHolding(input: SymbolTableInput, addresses: readonly bigint[]): ElfSymbol[][] {
  const entries = new SymbolEntries(input.entries);
  const wanted = [...new Set(addresses.map(Number))].sort((a, b) => a - b);
  if (wanted.length === 0) return addresses.map(() => []);
  // Triples (wanted index, entry index, st_name of the STT_FILE entry before it + 1, or 0): from the addon's one pass
  // over the raw entries (native/symscan.cc), else from the same rules in TypeScript.
  const native = holderScan();
  const triples = native ? native(entries.bytes, Float64Array.from(wanted)) : holdersInScript(entries, wanted);
  const byWanted: ElfSymbol[][] = wanted.map(() => []);
  for (let k = 0; k + 2 < triples.length; k += 3) {
    const symbol = symbolAt(input, entries, triples[k + 1]!);
    const file = triples[k + 2]!;
    if (symbol.bind === 'local' && file > 0) {
      const name = input.names.name(file - 1);
      if (name) symbol.file = name;
    }
    byWanted[triples[k]!]!.push(symbol);
  }
  const at = new Map(wanted.map((a, i) => [a, i]));
  return addresses.map((address) => byWanted[at.get(Number(address))!]!);
}

/**
 * Each entry past the first that is worth naming an address with (defined, named, not a section, file or
 * thread-local entry), with its value, size and the st_name of the STT_FILE entry before it + 1 (0: none).
 */
function eachNameable(entries: SymbolEntries, visit: (index: number, value: number, size: number, file: number) => void): void {
  const raw = entries.bytes;
  const words = entries.words;
  let file = 0;
  for (let index = 1; index < entries.count; index++) {
    const kind = raw[index * SYMBOL_ENTRY_SIZE + 4]! & 0xf;
    if (kind === STT_FILE) {
      file = words[index * 6]! + 1;
      continue;
    }
    if (kind === STT_SECTION || kind === STT_TLS || words[index * 6 + 1]! >>> 16 === 0 || words[index * 6]! === 0) continue;
    visit(index, words[index * 6 + 2]! + words[index * 6 + 3]! * TWO_TO_32, words[index * 6 + 4]! + words[index * 6 + 5]! * TWO_TO_32, file);
  }
}

/** symbolsHolding's triples without the addon: the sized entries holding each address, else the nearest unsized one
 * below it unless a sized one starts between them (hand-written assembly). */
function holdersInScript(entries: SymbolEntries, wanted: number[]): number[] {
  const lowest = wanted[0]!;
  const highest = wanted[wanted.length - 1]!;
  const out: number[] = [];
  const held = wanted.map(() => false);
  const firstAtOrAbove = (value: number): number => partitionPoint(wanted.length, (i) => wanted[i]! < value);
  eachNameable(entries, (index, value, size, file) => {
    // Most entries hold none of the addresses: turned away before anything else is read.
    if (size === 0 || value === 0 || value > highest || value + size <= lowest) return;
    for (let i = firstAtOrAbove(value); i < wanted.length && wanted[i]! < value + size; i++) {
      out.push(i, index, file);
      held[i] = true;
    }
  });
  const unheld = wanted.map((_, i) => i).filter((i) => !held[i]);
  if (unheld.length === 0) return out;
  const best = unheld.map(() => ({ value: -1, index: 0, file: 0, sizedBelow: -1 }));
  eachNameable(entries, (index, value, size, file) => {
    if (value === 0 || value > highest) return;
    unheld.forEach((i, k) => {
      if (value > wanted[i]!) return;
      const b = best[k]!;
      if (size > 0) b.sizedBelow = Math.max(b.sizedBelow, value);
      else if (value > b.value) Object.assign(b, { value, index, file });
    });
  });
  unheld.forEach((i, k) => {
    const b = best[k]!;
    if (b.index !== 0 && b.value >= b.sizedBelow) out.push(i, b.index, b.file);
  });
  return out;
}
