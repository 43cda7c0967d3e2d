// Binding a patch's undefined symbols to the target: what the dynamic linker would bind, else every .symtab, locals included.
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

/**
 * Where each undefined symbol of the patch goes in the target: what the dynamic linker would bind it to (src/symbols/
 * scope.ts, shared with resolving a typed name), else the one definition anywhere, statics included. Throws on a
 * name defined in several places that the linker would not choose among, without --bind.
 */
export async function bindPatch(session: Session, elf: ElfFile, chosen: Map<string, string>): Promise<BindReport> {
  const space = session.space();
  const naming = session.naming(space);
  const report: BindReport = { bindings: [], missing: [], unresolvedWeak: [] };
  const ambiguous: { name: string; spellings: string[]; listed: string }[] = [];
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
    const all = space.names.lookup(sym.name);
    const bound = session.linkerChoice(all, space);
    if (bound) {
      report.bindings.push({ name: sym.name, address: bound.address, description: `${bound.module}!${bound.name}`, hidden: false, chosen: false });
      continue;
    }
    const places = distinctPlaces(all);
    if (places.length === 1) {
      report.bindings.push({ name: sym.name, address: places[0].address, description: spellingFor(places[0], naming), hidden: true, chosen: false });
    } else if (places.length > 1) {
      const spellings = places.map((p) => spellingFor(p, naming));
      const listed = places.map((p, i) => (spellings[i].startsWith('0x') ? spellings[i] : `${spellings[i]} (0x${p.address.toString(16)})`)).join(', ');
      ambiguous.push({ name: sym.name, spellings, listed });
    } else if (sym.bind === 'weak') {
      if (!CRT_WEAK_REFERENCES.has(sym.name)) report.unresolvedWeak.push(sym.name);
    } else {
      report.missing.push(sym.name);
    }
  }
  if (ambiguous.length) {
    const first = ambiguous[0];
    throw new HotpatchError('E_AMBIGUOUS_SYMBOL',
      `the patch's ${ambiguous.length === 1 ? 'reference' : 'references'} ${ambiguous.map((a) => `${a.name}: ${a.listed}`).join('; ')} ${ambiguous.length === 1 ? 'has' : 'have'} several definitions`,
      `pick one with --bind NAME=SPELLING, a spelling listed, e.g. --bind ${first.name}=${first.spellings[0]}`);
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
