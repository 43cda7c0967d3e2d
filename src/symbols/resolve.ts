// Turns what a user typed for a location into one run-time address, or an error that says how to pick one.
import { HotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import { parseAddress, isSpellableFile, isSpellableModule, ADDRESS_SYNTAX_HINT } from './expr.js';
import { bindRank, type LookupFilter } from './index.js';
import { belongsTo } from './scope.js';
import type { SymbolView } from './space.js';
import type { Module, RuntimeSymbol, ThreadLocalSymbol } from './types.js';

/** What naming a symbol needs: exact lookups, and the modules to tell apart two that share a basename. */
export interface NamingContext {
  index: Pick<SymbolView, 'lookup' | 'versionFor'>;
  modules?: readonly Module[];
  /** The id `libs` shows for each library hotpatch loaded: `#3!name` names that copy alone. */
  loadIds?: ReadonlyMap<Module, number>;
}

export interface ResolveContext extends NamingContext {
  index: SymbolView;
  modules: readonly Module[];
  /** A register of the current thread by its lowercase name; undefined for a name the architecture does not have. */
  readRegister?: (name: string) => bigint | undefined;
  /** The architecture's register names, to list in the hint for an unknown one (Arch.registerNames). */
  registerNames?: readonly string[];
  /** Of several definitions of a plain name, the one the dynamic linker binds (src/symbols/scope.ts), if any. */
  linkerChoice?: (candidates: readonly RuntimeSymbol[]) => RuntimeSymbol | undefined;
}

export interface ResolvedAddress {
  address: bigint;
  /** The symbol named, or for a number or register the symbol that holds the address (compare `address`). */
  symbol?: RuntimeSymbol;
  /** How to show it: `counter.c:tick+0x4`, `0x401136 (main+0x6)`, `$rip = 0x401136 (main+0x6)`. */
  description: string;
  /** Said when a name had several definitions and one was taken: `getpid: 2 definitions; chose libc.so.6!getpid (…)`. */
  note?: string;
}

/** Which modules a typed module name stands for: all of that basename, or (`#3`, a path) one of them. */
export interface ModuleChoice {
  name: string;
  within?: { start: bigint; end: bigint };
}

const ADDRESS_LIMIT = 1n << 64n;

export function resolveAddress(text: string, ctx: ResolveContext): ResolvedAddress {
  const { base, offset } = parseAddress(text);

  if (base.kind === 'number') {
    const address = applyOffset(text, base.value, offset);
    return describeRaw(hex(address), address, ctx);
  }

  if (base.kind === 'register') {
    if (!ctx.readRegister) {
      throw new HotpatchError('E_NO_TARGET', `no thread to read $${base.name} from`,
        'attach to a running process first (registers belong to a thread)');
    }
    const value = ctx.readRegister(base.name);
    if (value === undefined) {
      const known = ctx.registerNames?.map((n) => `$${n}`).join(', ');
      throw new HotpatchError('E_BAD_REGISTER', `unknown register "$${base.name}"`,
        known ? `registers: ${known}` : 'use a register of the target\'s architecture');
    }
    const address = applyOffset(text, value, offset);
    const shown = offset === 0n ? `$${base.name}` : `$${base.name}${signedHex(offset)}`;
    return describeRaw(`${shown} = ${hex(address)}`, address, ctx);
  }

  const module = base.module === undefined ? undefined : resolveModule(base.module, ctx.modules, ctx.loadIds);
  const hits = ctx.index.lookup(base.name, { module: module?.name, within: module?.within, file: base.file });
  const typed = (base.module !== undefined ? `${base.module}!` : '') + (base.file !== undefined ? `${base.file}:` : '') + base.name;

  if (hits.length === 0) throw unknownSymbol(typed, base.name, ctx);

  const places = groupByPlace(hits);
  if (places.length > 1) {
    // A plain name is what a program writes: it means what the dynamic linker binds, as in gdb. A qualified one
    // says where to look, and must be exact.
    const bound = base.module === undefined && base.file === undefined ? ctx.linkerChoice?.(hits) : undefined;
    const place = bound && places.find((p) => p.includes(bound));
    if (place) {
      const spelling = spellingFor(place[0]!, ctx, { withModule: true });
      return {
        address: applyOffset(text, place[0]!.address, offset),
        symbol: place[0]!,
        description: spelling + signedHex(offset),
        note: `${base.name}: ${places.length} definitions; chose ${spelling} (what the dynamic linker binds)`,
      };
    }
    const spellings = places.map((p) => spellingFor(p[0]!, ctx));
    const listed = places.map((p, i) => (spellings[i]!.startsWith('0x') ? spellings[i]! : `${spellings[i]} (${hex(p[0]!.address)})`)).join(', ');
    throw new HotpatchError('E_AMBIGUOUS_SYMBOL', `ambiguous symbol "${typed}": ${listed}`,
      `type one of the listed spellings to pick one, e.g. ${spellings[0]}${signedHex(offset)}`);
  }
  const symbol = places[0]![0]!;
  const address = applyOffset(text, symbol.address, offset);
  return { address, symbol, description: spellingFor(symbol, ctx) + signedHex(offset) };
}

/**
 * The shortest spelling that names this symbol's place alone, without the dynamic linker's choice: `name`, else
 * `file.c:name` (or with the directory the symbol table recorded), else `module!name`, `module!file.c:name`, with
 * the module as its basename, its id from `libs` (`#3`) or its path; else the same with `name@VERSION`; when even
 * that names several places (two static `tick` in two `util.c` recorded without a directory), the address itself.
 * `withModule` starts at the module-qualified spellings: to say which module a choice fell on.
 */
export function spellingFor(sym: RuntimeSymbol, ctx: NamingContext, opts: { withModule?: boolean } = {}): string {
  const { index } = ctx;
  const files: string[] = [];
  if (sym.file !== undefined) {
    files.push(basename(sym.file));
    if (sym.file !== files[0] && isSpellableFile(sym.file)) files.push(sym.file);
  }
  const home = ctx.modules?.find((m) => belongsTo(sym, m));
  const qualifiers: { text: string; filter: LookupFilter }[] = [{ text: sym.module, filter: { module: sym.module } }];
  if (home) {
    const id = ctx.loadIds?.get(home);
    if (id !== undefined) qualifiers.push({ text: `#${id}`, filter: { module: home.name, within: home } });
    if (isSpellableModule(home.path)) qualifiers.push({ text: home.path, filter: { module: home.name, within: home } });
  }
  const picksIt = (name: string, filter: LookupFilter): boolean => {
    const places = groupByPlace(index.lookup(name, filter));
    return places.length === 1 && places[0]![0]!.address === sym.address && places[0]![0]!.module === sym.module;
  };
  const version = index.versionFor(sym);
  const names = version === undefined ? [sym.name] : [sym.name, `${sym.name}@${version}`];
  for (const name of names) {
    if (!opts.withModule) {
      if (picksIt(name, {})) return name;
      for (const file of files) if (picksIt(name, { file })) return `${file}:${name}`;
    }
    for (const q of qualifiers) {
      if (picksIt(name, q.filter)) return `${q.text}!${name}`;
      for (const file of files) if (picksIt(name, { ...q.filter, file })) return `${q.text}!${file}:${name}`;
    }
  }
  return hex(sym.address);
}

/**
 * An exact module name, a module's full path, `#ID` of a library hotpatch loaded, or a prefix naming one module
 * (`libc` → `libc.so.6`). When a prefix fits several, one whose name goes on with '.' or '-' right after the prefix
 * wins (`libc` picks `libc.so.6` over `libcrypto.so.3`). A path or an id picks that one module even when another
 * shares its basename.
 */
export function resolveModule(typed: string, modules: readonly Module[], loadIds?: ReadonlyMap<Module, number>): ModuleChoice {
  const names = [...new Set(modules.map((m) => m.name))];
  const one = (m: Module): ModuleChoice =>
    modules.filter((x) => x.name === m.name).length > 1 ? { name: m.name, within: { start: m.start, end: m.end } } : { name: m.name };
  if (/^#\d+$/.test(typed)) {
    const id = Number(typed.slice(1));
    const loaded = [...(loadIds ?? new Map<Module, number>())];
    const found = loaded.find(([, i]) => i === id);
    if (found) return one(found[0]);
    throw new HotpatchError('E_UNKNOWN_MODULE', `no library ${typed} loaded by hotpatch`,
      loaded.length > 0 ? `loaded by hotpatch: ${loaded.map(([m, i]) => `#${i} ${m.name}`).join(', ')}` : 'hotpatch has loaded no library here (see `libs`)');
  }
  if (names.includes(typed)) return { name: typed };
  if (typed.includes('/')) {
    const byPath = modules.filter((m) => m.path === typed);
    if (byPath.length === 1) return one(byPath[0]!);
    if (byPath.length > 1) return { name: byPath[0]!.name };
  }
  const prefixed = names.filter((n) => n.startsWith(typed));
  if (prefixed.length === 1) return { name: prefixed[0]! };
  const atBoundary = prefixed.filter((n) => n[typed.length] === '.' || n[typed.length] === '-');
  if (atBoundary.length === 1) return { name: atBoundary[0]! };
  if (prefixed.length > 1) {
    throw new HotpatchError('E_AMBIGUOUS_MODULE', `ambiguous module "${typed}": ${prefixed.sort().join(', ')}`,
      'type one of the listed names');
  }
  throw new HotpatchError('E_UNKNOWN_MODULE', `unknown module "${typed}"`,
    names.length > 0 ? `loaded modules: ${names.sort().join(', ')}` : 'no modules are loaded: attach to a process first');
}

/** The basename a typed module name stands for (see resolveModule). */
export function resolveModuleName(typed: string, modules: readonly Module[], loadIds?: ReadonlyMap<Module, number>): string {
  return resolveModule(typed, modules, loadIds).name;
}

function unknownSymbol(typed: string, name: string, ctx: ResolveContext): HotpatchError {
  const elsewhere = groupByPlace(ctx.index.lookup(name));
  let hint: string;
  if (elsewhere.length > 0) {
    hint = `${name} is defined as: ${elsewhere.map((p) => spellingFor(p[0]!, ctx)).join(', ')}`;
  } else {
    const similar = ctx.index.suggest(name, 5);
    hint = similar.length > 0 ? `did you mean: ${similar.join(', ')}?` : 'no similar names are loaded';
  }
  return new HotpatchError('E_UNKNOWN_SYMBOL', `unknown symbol "${typed}"`, hint);
}

/**
 * A name that is a thread-local variable (`__thread`): every thread has its own copy, so there is no address to give.
 * The hint says where one thread's copy lies when the distance from the thread pointer is known (the executable's).
 */
export function threadLocalError(typed: string, found: readonly ThreadLocalSymbol[], threadPointer: string,
  offsetFromThreadPointer: (t: ThreadLocalSymbol) => bigint | undefined): HotpatchError {
  const t = found[0]!;
  const where = `${t.module}!${t.file !== undefined ? `${basename(t.file)}:` : ''}${t.name}`;
  const others = found.length > 1 ? ` (and ${found.length - 1} more of that name)` : '';
  const distance = offsetFromThreadPointer(t);
  const hint = distance !== undefined
    ? `a thread's copy lies at its $${threadPointer}${signedHex(distance)}: \`peek $${threadPointer}${signedHex(distance)} ${t.size || 8}\` reads the main thread's; \`regs TID\` shows another thread's ${threadPointer}`
    : `hotpatch does not know where ${t.module}'s TLS block lies in a thread; read it through a function of the program (call)`;
  return new HotpatchError('E_TLS_SYMBOL',
    `${typed} is a thread-local variable (${where}, offset ${hex(t.offset)} in its module's TLS block${others}): each thread has its own copy, so it has no single address`,
    hint);
}

/**
 * Hits grouped by (module, address), each group's best symbol first: aliases at one address (a global and its weak
 * alias, the .symtab and .dynsym entries) are one place, not an ambiguity.
 */
function groupByPlace(hits: readonly RuntimeSymbol[]): RuntimeSymbol[][] {
  const groups = new Map<string, RuntimeSymbol[]>();
  for (const s of hits) {
    const key = `${s.module}\0${s.address}`;
    const group = groups.get(key);
    if (group) group.push(s);
    else groups.set(key, [s]);
  }
  const places = [...groups.values()];
  for (const p of places) p.sort((a, b) => bindRank(a.bind) - bindRank(b.bind));
  return places.sort((a, b) => (a[0]!.address < b[0]!.address ? -1 : a[0]!.address > b[0]!.address ? 1 : 0));
}

function describeRaw(shown: string, address: bigint, ctx: ResolveContext): ResolvedAddress {
  const where = ctx.index.symbolize(address);
  if (!where.symbol) return { address, description: where.module ? `${shown} (${where.module}+${hex(where.offset)})` : shown };
  const name = spellingFor(where.symbol, ctx);
  return { address, symbol: where.symbol, description: `${shown} (${name.startsWith('0x') ? where.symbol.name : name}${signedHex(where.offset)})` };
}

function applyOffset(text: string, base: bigint, offset: bigint): bigint {
  const address = base + offset;
  if (address < 0n || address >= ADDRESS_LIMIT) {
    throw new HotpatchError('E_BAD_ADDRESS', `bad address "${text}": ${hex(base)}${signedHex(offset)} is outside 64 bits`,
      ADDRESS_SYNTAX_HINT);
  }
  return address;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function signedHex(offset: bigint): string {
  if (offset === 0n) return '';
  return offset > 0n ? `+${hex(offset)}` : `-${hex(-offset)}`;
}

/** The notes of resolved addresses, for CommandResult.notes (undefined when there are none). */
export const notesOf = (...resolved: ({ note?: string } | undefined)[]): string[] | undefined => {
  const notes = resolved.map((r) => r?.note).filter((n): n is string => n !== undefined);
  return notes.length > 0 ? notes : undefined;
};
