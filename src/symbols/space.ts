// The address space of the target: modules from /proc/PID/maps with their symbols, rebuilt only when the mappings change.
import { statSync } from 'node:fs';
import { openElf } from '../elf/reader.js';
import { nameScreen } from '../elf/symtab.js';
import { findDebugFile, mergeDebugSymbols } from '../elf/debugfile.js';
import type { ElfFile } from '../elf/types.js';
import { readMaps, modulesFromMaps } from './maps.js';
import { SymbolIndex, globTester, isAddressable, toRuntimeSymbol, byAddressThenPreference, type MatchFilter } from './index.js';
import type { MapEntry, Module, RuntimeSymbol } from './types.js';

/** A module the kernel's maps cannot name: a library we mapped ourselves into anonymous memory. */
export interface ExtraModule {
  module: Module;
}

export interface AddressSpace {
  maps: MapEntry[];
  modules: Module[];
  /** Built on first use: a lookup by name or address needs it, a one-off search does not. */
  readonly index: SymbolIndex;
  /** Symbols matching a glob (or containing a text), in address order, without building the index when it is not there. */
  match(pattern: string, filter?: MatchFilter): RuntimeSymbol[];
  /** The main executable's module. */
  main?: Module;
  elfOf(module: Module): ElfFile | undefined;
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

const NOT_NUL = '[^\\0]';

/** The pattern of `syms` (a glob, or a substring without * and ?) as a regular expression that cannot run past a name's end. */
function screenSource(pattern: string): string {
  const escape = (text: string) => text.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');
  if (!/[*?]/.test(pattern)) return `${NOT_NUL}*?${escape(pattern)}${NOT_NUL}*`;
  return pattern.split('').map((c) => (c === '*' ? `${NOT_NUL}*` : c === '?' ? NOT_NUL : escape(c))).join('');
}

export class SpaceCache {
  private space?: AddressSpace;
  private signature = '';

  constructor(readonly elves: ElfCache) {}

  invalidate(): void {
    this.space = undefined;
    this.signature = '';
  }

  /** The address space now; the symbol index is reused while the file mappings stay the same. */
  current(pid: number, exe?: string, extras: ExtraModule[] = []): AddressSpace {
    const maps = readMaps(pid);
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
    const buildIndex = () => {
      const built = new SymbolIndex();
      for (const m of modules) {
        const elf = loadElf(m.path);
        if (elf) built.addModule(m, elf.symbols());
      }
      return built;
    };
    const main = modules.find((m) => m.path === exe) ?? modules[0];
    this.space = {
      maps,
      modules,
      get index() {
        index ??= buildIndex();
        return index;
      },
      match(pattern, filter = {}) {
        if (index) return index.match(pattern, filter);
        const test = /[*?]/.test(pattern) ? globTester(pattern) : (name: string) => name.includes(pattern);
        const screen = nameScreen(screenSource(pattern), /[*?]/.test(pattern) ? pattern.split(/[*?]/)[0] : '');
        const out: RuntimeSymbol[] = [];
        for (const m of modules) {
          if (filter.module !== undefined && m.name !== filter.module) continue;
          const elf = loadElf(m.path);
          const candidates = elf?.symbolsMatching ? elf.symbolsMatching(screen) : elf?.symbols() ?? [];
          for (const sym of candidates) {
            if (!test(sym.name) || !isAddressable(sym)) continue;
            if (filter.type !== undefined && sym.type !== filter.type) continue;
            if (filter.localOnly && sym.bind !== 'local') continue;
            out.push(toRuntimeSymbol(m, sym));
          }
        }
        return out.sort(byAddressThenPreference);
      },
      main,
      elfOf: (m) => loadElf(m.path),
    };
    this.signature = signature;
    return this.space;
  }
}
