// Binding a patch's undefined symbols to the target: exported symbols first, then every .symtab, locals included.
import { HotpatchError } from '../errors.js';
import type { ElfFile, ElfSymbol } from '../elf/types.js';
import type { Session } from '../session.js';
import { spellingFor } from '../symbols/resolve.js';
import type { RuntimeSymbol } from '../symbols/types.js';

export interface Binding {
  name: string;
  address: bigint;
  /** How the user would spell what it was bound to: `counter.c:tick`, `libc.so.6!getpid`. */
  description: string;
  /** The dynamic linker cannot see it (a local, or a symbol not in any .dynsym): the tool writes the slot. */
  hidden: boolean;
  /** Picked by --bind. */
  chosen: boolean;
}

export interface BindReport {
  bindings: Binding[];
  /** Strong references nothing in the target defines. */
  missing: string[];
  /** Weak references nothing defines: left 0, as ld.so does. */
  unresolvedWeak: string[];
}

/** `--bind SYM=WHERE` pairs. */
export function parseBindOptions(list: string[] | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new HotpatchError('E_USAGE', `--bind "${item}" must look like SYM=WHERE`, 'e.g. --bind counter=b.c:counter');
    map.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return map;
}

function undefinedSymbols(elf: ElfFile): ElfSymbol[] {
  const seen = new Set<string>();
  return elf.dynamicSymbols().filter((s) => {
    if (s.defined || s.name === '' || seen.has(s.name)) return false;
    seen.add(s.name);
    return true;
  });
}

/** Where each undefined symbol of the patch goes in the target. Throws on an ambiguous name without --bind. */
export async function bindPatch(session: Session, elf: ElfFile, chosen: Map<string, string>, skipModules: string[] = []): Promise<BindReport> {
  const space = session.space();
  const report: BindReport = { bindings: [], missing: [], unresolvedWeak: [] };
  const ambiguous: string[] = [];
  // What each module's .dynsym defines: only those the dynamic linker can bind.
  const exportCache = new Map<string, Set<string>>();
  const exportsOf = (moduleName: string): Set<string> => {
    let set = exportCache.get(moduleName);
    if (!set) {
      const mod = space.modules.find((m) => m.name === moduleName);
      const elf = mod ? space.elfOf(mod) : undefined;
      set = new Set((elf?.dynamicSymbols() ?? []).filter((d) => d.defined && d.bind !== 'local').map((d) => d.name));
      exportCache.set(moduleName, set);
    }
    return set;
  };
  for (const name of chosen.keys()) {
    if (!undefinedSymbols(elf).some((s) => s.name === name)) {
      throw new HotpatchError('E_USAGE', `--bind ${name}=…: the library does not reference ${name}`, 'bind only symbols the patch uses');
    }
  }
  for (const sym of undefinedSymbols(elf)) {
    const pick = chosen.get(sym.name);
    if (pick !== undefined) {
      const r = await session.resolve(pick);
      report.bindings.push({ name: sym.name, address: r.address, description: r.description, hidden: true, chosen: true });
      continue;
    }
    const all = space.names.lookup(sym.name).filter((s) => !skipModules.includes(s.module));
    const exported = all.filter((s) => s.bind !== 'local' && exportsOf(s.module).has(s.name));
    if (exported.length > 0) {
      const first = firstInLoadOrder(exported, space.modules.map((m) => m.name));
      report.bindings.push({ name: sym.name, address: first.address, description: `${first.module}!${first.name}`, hidden: false, chosen: false });
      continue;
    }
    const places = distinctPlaces(all);
    if (places.length === 1) {
      report.bindings.push({ name: sym.name, address: places[0].address, description: spellingFor(places[0], space.names), hidden: true, chosen: false });
    } else if (places.length > 1) {
      ambiguous.push(`${sym.name}: ${places.map((p) => `${spellingFor(p, space.names)} (0x${p.address.toString(16)})`).join(', ')}`);
    } else if (sym.bind === 'weak') {
      if (!CRT_WEAK_REFERENCES.has(sym.name)) report.unresolvedWeak.push(sym.name);
    } else {
      report.missing.push(sym.name);
    }
  }
  if (ambiguous.length) {
    const first = ambiguous[0].split(':')[0];
    throw new HotpatchError('E_AMBIGUOUS_SYMBOL', `the patch's ${ambiguous.length === 1 ? 'reference' : 'references'} ${ambiguous.join('; ')} ${ambiguous.length === 1 ? 'has' : 'have'} several definitions`, `pick one with --bind ${first}=FILE.c:${first}`);
  }
  return report;
}

/** Weak references every gcc-built library carries and no program defines: not worth a warning. */
const CRT_WEAK_REFERENCES = new Set(['_ITM_registerTMCloneTable', '_ITM_deregisterTMCloneTable', '__gmon_start__']);

function distinctPlaces(syms: RuntimeSymbol[]): RuntimeSymbol[] {
  const byPlace = new Map<string, RuntimeSymbol>();
  for (const s of syms) if (!byPlace.has(`${s.module}@${s.address}`)) byPlace.set(`${s.module}@${s.address}`, s);
  return [...byPlace.values()];
}

function firstInLoadOrder(syms: RuntimeSymbol[], order: string[]): RuntimeSymbol {
  return [...syms].sort((a, b) => order.indexOf(a.module) - order.indexOf(b.module))[0];
}
