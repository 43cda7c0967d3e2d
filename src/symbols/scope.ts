// What the dynamic linker would bind a name to: the exported definition of the first object in the program's lookup scope.
import type { ElfFile } from '../elf/types.js';
import type { LinkMapEntry } from './linkmap.js';
import { moduleNameOf } from './maps.js';
import type { Module, RuntimeSymbol } from './types.js';

/** The objects a name the program uses is looked up in, and in which order. */
export interface LookupScope {
  /** The executable, then what was loaded with it (preloads, DT_NEEDED libraries), in the dynamic linker's order. */
  modules: Module[];
  /** 'link map': the target's own list; 'DT_NEEDED': worked out from the files (no list could be read). */
  source: 'link map' | 'DT_NEEDED';
}

export type ElfOf = (module: Module) => ElfFile | undefined;

/**
 * The program's global scope. With the link map, that is the objects loaded at start: the list up to the last one
 * the executable's DT_NEEDED closure names (a preload sits before it). What was dlopen'ed later is left out, and
 * with it every library hotpatch loaded: RTLD_LOCAL keeps them out of the scope (a program's own RTLD_GLOBAL dlopen is
 * left out too: its names stay ambiguous rather than wrongly chosen). Without the list, the breadth-first DT_NEEDED
 * order from the files, which is the order ld.so loads them in.
 */
export function lookupScope(main: Module | undefined, modules: readonly Module[], elfOf: ElfOf, linkMap?: readonly LinkMapEntry[]): LookupScope {
  if (!main) return { modules: [], source: 'DT_NEEDED' };
  const needed = (m: Module | undefined) => (m ? elfOf(m)?.dynamic()?.needed ?? [] : []);
  const namesOf = (m: Module | undefined, path: string) => {
    const names = [moduleNameOf(path)];
    const soname = m ? elfOf(m)?.dynamic()?.soname : undefined;
    if (soname !== undefined) names.push(soname);
    if (m) names.push(m.name);
    return names;
  };

  if (linkMap && linkMap.length > 0) {
    const objects = linkMap.map((e) => ({
      module: modules.find((m) => m.loadBias === e.loadBias && m.start <= e.dynamicAddress && e.dynamicAddress < m.end),
      path: e.name,
    }));
    const wanted = new Set(needed(main));
    let last = 0;
    for (let size = -1; size !== wanted.size; ) {
      size = wanted.size;
      objects.forEach((o, i) => {
        if (i > last && namesOf(o.module, o.path).some((n) => wanted.has(n))) last = i;
      });
      for (const o of objects.slice(0, last + 1)) for (const n of needed(o.module)) wanted.add(n);
    }
    const loaded = objects.slice(0, last + 1).map((o) => o.module).filter((m): m is Module => m !== undefined);
    // The executable is the list's head; a damaged list that lost it still searches it first.
    return { modules: loaded.includes(main) ? loaded : [main, ...loaded], source: 'link map' };
  }

  const order: Module[] = [main];
  for (let i = 0; i < order.length; i++) {
    for (const name of needed(order[i])) {
      const m = modules.find((x) => !order.includes(x) && namesOf(x, x.path).includes(name));
      if (m) order.push(m);
    }
  }
  return { modules: order, source: 'DT_NEEDED' };
}

const exportTables = new WeakMap<ElfFile, Map<string, bigint[]>>();

/**
 * The file-relative values of each name the dynamic linker can bind in a file: .dynsym entries that are defined,
 * GLOBAL, WEAK or UNIQUE, not hidden or internal, and the default version of their name (`@@`).
 */
function exportsOf(elf: ElfFile): Map<string, bigint[]> {
  let table = exportTables.get(elf);
  if (!table) {
    table = new Map();
    for (const s of elf.dynamicSymbols()) {
      if (!s.defined || s.name === '' || s.bind === 'local' || s.bind === 'other') continue;
      if (s.visibility === 'hidden' || s.visibility === 'internal' || s.versionHidden) continue;
      const values = table.get(s.name);
      if (values) values.push(s.value);
      else table.set(s.name, [s.value]);
    }
    exportTables.set(elf, table);
  }
  return table;
}

/** Whether the dynamic linker can bind a reference to this symbol of this module. */
export function isExported(sym: RuntimeSymbol, module: Module, elf: ElfFile | undefined): boolean {
  const values = elf ? exportsOf(elf).get(sym.name) : undefined;
  // A value is file-relative, or absolute for an SHN_ABS symbol.
  return values !== undefined && values.some((v) => v + module.loadBias === sym.address || v === sym.address);
}

/** Whether a symbol lies in this very module (two modules may share a basename). */
export function belongsTo(sym: RuntimeSymbol, module: Module): boolean {
  return sym.module === module.name && module.start <= sym.address && sym.address < module.end;
}

/**
 * Of several definitions of one name, the one an unversioned reference from the program binds to: the exported
 * definition in the first object of the scope that has one. Undefined when none is exported there (statics, locals,
 * copies in libraries outside the scope): those stay for the user to pick.
 */
export function linkerChoice(candidates: readonly RuntimeSymbol[], scope: LookupScope, elfOf: ElfOf): RuntimeSymbol | undefined {
  for (const module of scope.modules) {
    const elf = elfOf(module);
    const found = candidates.find((s) => belongsTo(s, module) && isExported(s, module, elf));
    if (found) return found;
  }
  return undefined;
}
