// The address space of the target: modules from /proc/PID/maps with their symbols, rebuilt only when the mappings change.
import { statSync } from 'node:fs';
import { openElf } from '../elf/reader.js';
import { nameScreen } from '../elf/symtab.js';
import { pltSymbols } from '../elf/plt.js';
import { archForMachine } from '../arch/index.js';
import { findDebugFile, mergeDebugSymbols } from '../elf/debugfile.js';
import { PT_TLS } from '../elf/constants.js';
import type { ElfFile, ElfSymbol } from '../elf/types.js';
import { finish, type Sliced } from '../slices.js';
import { readMaps, modulesFromMaps } from './maps.js';
import { escapeRegExp, namePattern } from './pattern.js';
import { SymbolIndex, isAddressable, toRuntimeSymbol, byAddressThenPreference, sortByAddress, type LookupFilter, type MatchFilter } from './index.js';
import type { MapEntry, Module, RuntimeSymbol, Symbolized, ThreadLocalSymbol } from './types.js';

/** A module the kernel's maps cannot name: a library we mapped ourselves into anonymous memory. */
export interface ExtraModule {
  module: Module;
}

export interface AddressSpace {
  maps: MapEntry[];
  modules: Module[];
  /** Built on first use: a lookup by name or address needs it, a one-off search does not. */
  readonly index: SymbolIndex;
  /** The index built in slices (see slices.ts), for the console; kept only once whole. */
  indexing(): Sliced<SymbolIndex>;
  /** Symbols matching a glob (or containing a text), in address order, without building the index when it is not there. */
  match(pattern: string, filter?: MatchFilter): RuntimeSymbol[];
  /** match in slices once the index is built (the console builds it first); before that, at once. */
  matching(pattern: string, filter?: MatchFilter): Sliced<RuntimeSymbol[]>;
  /**
   * The symbol an address falls in. Without the whole index, only the symbols of the module the address lies in are
   * read (a thread asleep in libc needs libc's few thousand, not node's 107k).
   */
  symbolize(address: bigint): Symbolized;
  /**
   * Several addresses named at once, as symbolize would, without reading whole symbol tables: each module's raw
   * table is scanned once for the addresses in it (a backtrace names a dozen pcs of node's 107k symbols in a few ms).
   */
  symbolizeMany(addresses: readonly bigint[]): Symbolized[];
  /** Lookups by exact name without the whole index (each name read from every module once, screened). */
  readonly names: SymbolView;
  /** The symbols of one module alone. */
  moduleIndex(module: Module): SymbolIndex;
  /** The main executable's module. */
  main?: Module;
  /**
   * Thread-local variables (STT_TLS) named exactly: kept apart from every symbol lookup above, since their value
   * is an offset in a TLS block, not an address.
   */
  threadLocals(name: string, filter?: LookupFilter): ThreadLocalSymbol[];
  /** Thread-local variables whose name matches a glob (or contains a text), as `match` does for the others. */
  matchThreadLocals(pattern: string, filter?: { module?: string; localOnly?: boolean }): ThreadLocalSymbol[];
  elfOf(module: Module): ElfFile | undefined;
}

/** What resolving a name needs: exact lookups, versions, suggestions for a typo, and symbolizing an address. */
export interface SymbolView {
  lookup(name: string, filter?: LookupFilter): RuntimeSymbol[];
  versionFor(sym: RuntimeSymbol): string | undefined;
  suggest(name: string, count?: number): string[];
  symbolize(address: bigint): Symbolized;
}

/** ELF files by path and identity, shared across commands (and sessions in one process). */
export class ElfCache {
  private files = new Map<string, { key: string; elf: ElfFile | undefined }>();
  /** Debug files the user named with `symbols MODULE FILE`, by module name. */
  readonly userDebugFiles = new Map<string, string>();

  open(path: string, moduleName?: string): ElfFile | undefined {
    let key = '';
    try {
      const st = statSync(path);
      key = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return undefined;
    }
    const hit = this.files.get(path);
    if (hit && hit.key === key) return hit.elf;
    let elf: ElfFile | undefined;
    try {
      elf = openElf(path);
      const named = moduleName ? this.userDebugFiles.get(moduleName) : undefined;
      const debugPath = named ?? (elf.hasSymtab ? undefined : findDebugFile(elf));
      if (debugPath && elf) {
        const base = elf;
        try {
          elf = mergeDebugSymbols(base, openElf(debugPath));
        } catch {
          elf = base;  // a debug file from another build: keep what the module itself has
        }
      }
    } catch {
      elf = undefined;
    }
    this.files.set(path, { key, elf });
    return elf;
  }

  forget(path: string): void {
    this.files.delete(path);
  }
}

/**
 * The symbols of one file that pass one screen, kept with the file: the sessions of a run over many processes share
 * their ElfCache, so the thousandth process finds `dlopen` or the patched function without reading libc again. An
 * ElfFile is never changed (a file changed on disk is opened anew as another object), so what is kept stays right.
 */
const screened = new WeakMap<ElfFile, Map<string, ElfSymbol[]>>();

function symbolsScreened(elf: ElfFile, screen: ReturnType<typeof nameScreen>): ElfSymbol[] {
  if (!elf.symbolsMatching) return elf.symbols();
  let byScreen = screened.get(elf);
  if (!byScreen) screened.set(elf, (byScreen = new Map()));
  const key = screen.loose.source;
  let found = byScreen.get(key);
  if (!found) {
    found = elf.symbolsMatching(screen);
    // A screen per name looked up: bounded, so a long console session looking up many names does not grow without end.
    if (byScreen.size >= 256) byScreen.clear();
    byScreen.set(key, found);
  }
  return found;
}

/** What an index holds of a module: its symbol tables, and a name for each PLT stub. */
const indexedSymbols = (elf: ElfFile) => [...elf.symbols(), ...pltSymbols(elf, archForMachine(elf.machine)?.pltSlot)];

export class SpaceCache {
  private space?: AddressSpace;
  private signature = '';

  constructor(readonly elves: ElfCache) {}

  invalidate(): void {
    this.space = undefined;
    this.signature = '';
  }

  /** The address space now; the symbol index is reused while the file mappings stay the same. */
  current(pid: number, exe?: string, extras: ExtraModule[] = [], maps: MapEntry[] = readMaps(pid)): AddressSpace {
    const signature =
      maps.filter((m) => m.path.startsWith('/')).map((m) => `${m.start}:${m.path}`).join('|') +
      extras.map((e) => `+${e.module.start}:${e.module.path}`).join('');
    if (this.space && signature === this.signature) {
      this.space.maps = maps;
      return this.space;
    }
    const elfByPath = new Map<string, ElfFile | undefined>();
    const loadElf = (path: string) => {
      if (!elfByPath.has(path)) elfByPath.set(path, this.elves.open(path, path.split('/').pop()));
      return elfByPath.get(path);
    };
    const modules = modulesFromMaps(maps, (path) => loadElf(path)?.segments);
    for (const extra of extras) modules.push(extra.module);
    let index: SymbolIndex | undefined;
    const perModule = new Map<Module, SymbolIndex>();
    const moduleIndex = (m: Module): SymbolIndex => {
      let one = perModule.get(m);
      if (!one) {
        one = new SymbolIndex();
        const elf = loadElf(m.path);
        if (elf) one.addModule(m, indexedSymbols(elf));
        perModule.set(m, one);
      }
      return one;
    };
    // One small index per name looked up: every module's symbols of that name, read with a screen for it.
    const perName = new Map<string, SymbolIndex>();
    const owner = new WeakMap<RuntimeSymbol, SymbolIndex>();
    const byName = (name: string): SymbolIndex => {
      const plt = name.endsWith('@plt');
      const at = name.indexOf('@');
      const bare = plt ? name : at > 0 ? name.slice(0, at) : name;
      let one = perName.get(bare);
      if (!one) {
        one = new SymbolIndex();
        const screen = nameScreen(escapeRegExp(bare), bare);
        for (const m of modules) {
          const elf = loadElf(m.path);
          if (!elf) continue;
          const found = plt ? pltSymbols(elf, archForMachine(elf.machine)?.pltSlot) : symbolsScreened(elf, screen);
          one.addModule(m, found.filter((s) => s.name === bare));
        }
        perName.set(bare, one);
      }
      return one;
    };
    // The index is published only once whole: one dropped half-way (Ctrl-C) is built again by the next command.
    function* indexing(): Sliced<SymbolIndex> {
      if (index) return index;
      const built = new SymbolIndex();
      for (const m of modules) {
        const elf = loadElf(m.path);
        if (!elf) continue;
        const symbols = elf.symbolsSliced ? yield* elf.symbolsSliced() : elf.symbols();
        yield* built.adding(m, [...symbols, ...pltSymbols(elf, archForMachine(elf.machine)?.pltSlot)]);
      }
      index ??= built;
      return index;
    }
    const main = modules.find((m) => m.path === exe) ?? modules[0];
    const threadLocalsIn = (m: Module, screen: ReturnType<typeof nameScreen>, test: (name: string) => boolean): ThreadLocalSymbol[] => {
      const elf = loadElf(m.path);
      // Only a module with a PT_TLS segment defines thread-local variables: most are skipped unread.
      if (!elf || !elf.segments.some((s) => s.type === PT_TLS)) return [];
      const found = symbolsScreened(elf, screen).filter((sym) => sym.type === 'tls' && sym.defined && test(sym.name));
      return found.length === 0 ? [] : found.map((sym) => threadLocalOf(m, elf, sym, m === main));
    };
    const space: AddressSpace = {
      maps,
      modules,
      get index() {
        return index ?? finish(indexing());
      },
      indexing,
      match(pattern, filter = {}) {
        if (index) return index.match(pattern, filter);
        const { test, screen } = namePattern(pattern);
        const out: RuntimeSymbol[] = [];
        for (const m of modules) {
          if (filter.module !== undefined && m.name !== filter.module) continue;
          const elf = loadElf(m.path);
          const found = elf?.symbolsMatching ? elf.symbolsMatching(screen) : elf?.symbols() ?? [];
          // PLT stubs (`malloc@plt`) only for a pattern that asks for them: decoding them costs the relocations.
          const candidates = elf && pattern.includes('@') ? [...found, ...pltSymbols(elf, archForMachine(elf.machine)?.pltSlot)] : found;
          for (const sym of candidates) {
            if (!test(sym.name) || !isAddressable(sym)) continue;
            if (filter.type !== undefined && sym.type !== filter.type) continue;
            if (filter.localOnly && sym.bind !== 'local') continue;
            out.push(toRuntimeSymbol(m, sym));
          }
        }
        return sortByAddress(out);
      },
      *matching(pattern, filter = {}) {
        return index ? yield* index.matching(pattern, filter) : space.match(pattern, filter);
      },
      symbolize(address) {
        if (index) return index.symbolize(address);
        const m = modules.find((x) => x.start <= address && address < x.end);
        return m ? moduleIndex(m).symbolize(address) : { address, offset: address };
      },
      symbolizeMany(addresses) {
        if (index) return addresses.map((a) => index!.symbolize(a));
        const named = new Map<bigint, Symbolized>();
        for (const m of modules) {
          const inside = [...new Set(addresses.filter((a) => m.start <= a && a < m.end))];
          if (inside.length === 0) continue;
          const elf = loadElf(m.path);
          if (!elf?.symbolsHolding || perModule.has(m)) {
            for (const a of inside) named.set(a, moduleIndex(m).symbolize(a));
            continue;
          }
          const found = elf.symbolsHolding(inside.map((a) => a - m.loadBias));
          inside.forEach((a, i) => named.set(a, bestHolder(m, a, found[i]!)));
        }
        return addresses.map((a) => named.get(a) ?? { address: a, offset: a });
      },
      names: {
        lookup(name, filter) {
          if (index) return index.lookup(name, filter);
          const one = byName(name);
          const hits = one.lookup(name, filter);
          for (const h of hits) owner.set(h, one);
          return hits;
        },
        versionFor: (sym) => index?.versionFor(sym) ?? owner.get(sym)?.versionFor(sym),
        suggest: (name, count) => space.index.suggest(name, count),
        symbolize: (address) => space.symbolize(address),
      },
      moduleIndex,
      main,
      elfOf: (m) => loadElf(m.path),
      threadLocals(name, filter = {}) {
        const file = filter.file === undefined ? undefined : filter.file.slice(filter.file.lastIndexOf('/') + 1);
        const screen = nameScreen(escapeRegExp(name), name);
        return modules
          .filter((m) => filter.module === undefined || m.name === filter.module)
          .flatMap((m) => threadLocalsIn(m, screen, (n) => n === name))
          .filter((t) => file === undefined || (t.file !== undefined && t.file.slice(t.file.lastIndexOf('/') + 1) === file));
      },
      matchThreadLocals(pattern, filter = {}) {
        const { test, screen } = namePattern(pattern);
        return modules
          .filter((m) => filter.module === undefined || m.name === filter.module)
          .flatMap((m) => threadLocalsIn(m, screen, test))
          .filter((t) => !filter.localOnly || t.bind === 'local');
      },
    };
    this.space = space;
    this.signature = signature;
    return space;
  }
}

/** Of the symbols that hold an address, the one symbolize would pick: the innermost (highest start), then the preferred. */
function bestHolder(m: Module, address: bigint, holders: readonly ElfSymbol[]): Symbolized {
  const candidates = holders.filter(isAddressable).map((sym) => toRuntimeSymbol(m, sym)).sort(byAddressThenPreference);
  if (candidates.length === 0) return { address, module: m.name, offset: address - m.loadBias };
  const top = candidates[candidates.length - 1]!.address;
  const symbol = candidates.find((c) => c.address === top)!;
  return { address, module: m.name, symbol, offset: address - symbol.address };
}

function threadLocalOf(module: Module, elf: ElfFile, sym: ElfSymbol, executable: boolean): ThreadLocalSymbol {
  const segment = elf.segments.find((s) => s.type === PT_TLS);
  const exported = sym.bind !== 'local' && elf.dynamicSymbols().some((d) => d.name === sym.name && d.defined && d.type === 'tls' && d.bind !== 'local');
  const t: ThreadLocalSymbol = { name: sym.name, offset: sym.value, size: sym.size, bind: sym.bind, module: module.name, executable, exported };
  if (sym.file !== undefined) t.file = sym.file;
  if (segment) t.segment = { vaddr: segment.vaddr, memsz: segment.memsz, align: segment.align };
  return t;
}
