// Binding a patch's undefined symbols to the target: what the dynamic linker would bind, else every .symtab, locals included.
import { HotpatchError } from '../errors.js';
import type { ElfFile, ElfSymbol } from '../elf/types.js';
import type { PatchContext } from './context.js';
import { parseAddress } from '../symbols/expr.js';
import { resolveModuleName, spellingFor } from '../symbols/resolve.js';
import type { AddressSpace } from '../symbols/space.js';
import type { RuntimeSymbol, ThreadLocalSymbol } from '../symbols/types.js';
import type { SymbolBinder } from './mapplan.js';
import { tlsTargetOf, type TlsTarget } from './tls.js';

interface BindingBase {
  name: string;
  /** How the user would spell what it was bound to: `counter.c:tick`, `libc.so.6!getpid`. */
  description: string;
  /** The dynamic linker cannot see it (a local, or a symbol not in any .dynsym): the tool writes the slot. */
  hidden: boolean;
  /** Picked by --bind. */
  chosen: boolean;
}

/** A reference bound to a place in memory. */
export interface AddressBinding extends BindingBase {
  address: bigint;
  tls?: undefined;
}

/** A reference to a thread-local variable (`extern __thread`): a TLS module and offset, never an address. */
export interface TlsBinding extends BindingBase {
  tls: TlsTarget;
  address?: undefined;
}

export type Binding = AddressBinding | TlsBinding;

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
export async function bindPatch(session: PatchContext, elf: ElfFile, chosen: Map<string, string>): Promise<BindReport> {
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
    if (sym.type === 'tls') {
      const b = bindThreadLocal(session, space, sym, pick, ambiguous);
      if (b) report.bindings.push(b);
      else if (!ambiguous.some((a) => a.name === sym.name)) (sym.bind === 'weak' ? report.unresolvedWeak : report.missing).push(sym.name);
      continue;
    }
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
    } else if (space.threadLocals(sym.name).length > 0) {
      throw tlsMismatch(sym.name, `the patch uses ${sym.name} as an ordinary ${sym.type === 'func' ? 'function' : 'variable'}, but in the target it is thread-local (${tlsSpellings(space.threadLocals(sym.name), space).join(', ')})`,
        `declare it \`extern __thread\` in the patch`);
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

/**
 * An `extern __thread` reference: to an exported thread-local variable (the dynamic linker binds it), else to the
 * one local or unexported definition of that name (hotpatch fills the slots), else --bind picks among several.
 * Undefined when nothing defines it (or when it is ambiguous: recorded in `ambiguous`).
 */
function bindThreadLocal(session: PatchContext, space: AddressSpace, sym: ElfSymbol, pick: string | undefined, ambiguous: { name: string; spellings: string[]; listed: string }[]): TlsBinding | undefined {
  const bound = (t: ThreadLocalSymbol, hidden: boolean, chosen: boolean): TlsBinding =>
    ({ name: sym.name, description: tlsSpelling(t, space), hidden, chosen, tls: tlsTargetOf(session.arch, t) });
  if (pick !== undefined) {
    const { base, offset } = parseAddress(pick);
    if (base.kind !== 'symbol' || offset !== 0n) {
      throw new HotpatchError('E_USAGE', `--bind ${sym.name}=${pick}: ${sym.name} is thread-local, so it binds to a thread-local variable by name, not to an address`,
        `e.g. --bind ${sym.name}=FILE.c:${sym.name}`);
    }
    const module = base.module === undefined ? undefined : resolveModuleName(base.module, space.modules);
    const places = distinctThreadLocals(space.threadLocals(base.name, { module, file: base.file }));
    if (places.length === 1) return bound(places[0], true, true);
    if (places.length === 0) {
      throw new HotpatchError('E_UNKNOWN_SYMBOL', `--bind ${sym.name}=${pick}: no thread-local variable ${pick} in the target`,
        hintThreadLocals(space, base.name));
    }
    throw new HotpatchError('E_AMBIGUOUS_SYMBOL', `--bind ${sym.name}=${pick}: several thread-local variables match: ${tlsSpellings(places, space).join(', ')}`, 'type one of these spellings');
  }
  const all = space.threadLocals(sym.name);
  const exported = all.filter((t) => t.exported);
  if (exported.length > 0) {
    const order = space.modules.map((m) => m.name);
    return bound([...exported].sort((a, b) => order.indexOf(a.module) - order.indexOf(b.module))[0], false, false);
  }
  const places = distinctThreadLocals(all);
  if (places.length === 1) return bound(places[0], true, false);
  if (places.length > 1) {
    const spellings = tlsSpellings(places, space);
    ambiguous.push({ name: sym.name, spellings, listed: `${spellings.join(', ')} (thread-local)` });
    return undefined;
  }
  const ordinary = space.names.lookup(sym.name);
  if (ordinary.length > 0) {
    throw tlsMismatch(sym.name, `the patch declares ${sym.name} thread-local (__thread), but in the target it is not (${distinctPlaces(ordinary).map((p) => spellingFor(p, session.naming(space))).join(', ')})`,
      'declare it without __thread in the patch');
  }
  return undefined;
}

function tlsMismatch(name: string, message: string, hint: string): HotpatchError {
  return new HotpatchError('E_TLS_MISMATCH', message, `${hint}; the dynamic linker would refuse ${name} the same way`);
}

function distinctThreadLocals(list: ThreadLocalSymbol[]): ThreadLocalSymbol[] {
  const byPlace = new Map<string, ThreadLocalSymbol>();
  for (const t of list) if (!byPlace.has(`${t.module}@${t.offset}`)) byPlace.set(`${t.module}@${t.offset}`, t);
  return [...byPlace.values()];
}

/** The shortest spelling that names one thread-local variable: `name`, `file.c:name`, `module!name`, `module!file.c:name`. */
export function tlsSpelling(t: ThreadLocalSymbol, space: Pick<AddressSpace, 'threadLocals'>): string {
  const file = t.file === undefined ? undefined : t.file.slice(t.file.lastIndexOf('/') + 1);
  const picks = (filter: { module?: string; file?: string }) => {
    const places = distinctThreadLocals(space.threadLocals(t.name, filter));
    return places.length === 1 && places[0].module === t.module && places[0].offset === t.offset;
  };
  if (picks({})) return t.name;
  if (file !== undefined && picks({ file })) return `${file}:${t.name}`;
  if (picks({ module: t.module })) return `${t.module}!${t.name}`;
  return file !== undefined ? `${t.module}!${file}:${t.name}` : `${t.module}!${t.name}`;
}

function tlsSpellings(list: ThreadLocalSymbol[], space: AddressSpace): string[] {
  return distinctThreadLocals(list).map((t) => tlsSpelling(t, space));
}

function hintThreadLocals(space: AddressSpace, name: string): string {
  const same = tlsSpellings(space.threadLocals(name), space);
  return same.length > 0 ? `thread-local variables named ${name}: ${same.join(', ')}` : 'see `syms --type tls`';
}

/** The report as the map planner's binder: addresses for ordinary references, TLS targets for thread-local ones. */
export function mapBinder(report: BindReport): SymbolBinder {
  const byName = new Map(report.bindings.map((b) => [b.name, b]));
  return (name) => {
    const b = byName.get(name);
    if (!b) return undefined;
    return b.tls ? { tls: b.tls, description: b.description } : { address: b.address, description: b.description };
  };
}

/** Weak references every gcc-built library carries and no program defines: not worth a warning. */
const CRT_WEAK_REFERENCES = new Set(['_ITM_registerTMCloneTable', '_ITM_deregisterTMCloneTable', '__gmon_start__']);

function distinctPlaces(syms: RuntimeSymbol[]): RuntimeSymbol[] {
  const byPlace = new Map<string, RuntimeSymbol>();
  for (const s of syms) if (!byPlace.has(`${s.module}@${s.address}`)) byPlace.set(`${s.module}@${s.address}`, s);
  return [...byPlace.values()];
}
