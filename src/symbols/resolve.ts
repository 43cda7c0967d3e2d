// Turns what a user typed for a location into one run-time address, or an error that says how to pick one.
import { HotpatchError } from '../errors.js';
import { parseAddress, ADDRESS_SYNTAX_HINT } from './expr.js';
import { bindRank } from './index.js';
import type { SymbolView } from './space.js';
import type { Module, RuntimeSymbol, ThreadLocalSymbol } from './types.js';

export interface ResolveContext {
  index: SymbolView;
  modules: readonly Module[];
  /** A register of the current thread by its lowercase name; undefined for a name the architecture does not have. */
  readRegister?: (name: string) => bigint | undefined;
  /** The architecture's register names, to list in the hint for an unknown one (Arch.registerNames). */
  registerNames?: readonly string[];
}

export interface ResolvedAddress {
  address: bigint;
  /** The symbol named, or for a number or register the symbol that holds the address (compare `address`). */
  symbol?: RuntimeSymbol;
  /** How to show it: `counter.c:tick+0x4`, `0x401136 (main+0x6)`, `$rip = 0x401136 (main+0x6)`. */
  description: string;
}

const ADDRESS_LIMIT = 1n << 64n;

export function resolveAddress(text: string, ctx: ResolveContext): ResolvedAddress {
  const { base, offset } = parseAddress(text);

  if (base.kind === 'number') {
    const address = applyOffset(text, base.value, offset);
    return describeRaw(hex(address), address, ctx.index);
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
    return describeRaw(`${shown} = ${hex(address)}`, address, ctx.index);
  }

  const module = base.module === undefined ? undefined : resolveModuleName(base.module, ctx.modules);
  const filter = { module, file: base.file };
  const hits = ctx.index.lookup(base.name, filter);
  const typed = (base.module !== undefined ? `${base.module}!` : '') + (base.file !== undefined ? `${base.file}:` : '') + base.name;

  if (hits.length === 0) throw unknownSymbol(typed, base.name, ctx.index);

  const places = groupByPlace(hits);
  if (places.length > 1) {
    const listed = places.map((p) => {
      const spelling = spellingFor(p[0]!, ctx.index);
      return spelling.startsWith('0x') ? spelling : `${spelling} (${hex(p[0]!.address)})`;
    }).join(', ');
    throw new HotpatchError('E_AMBIGUOUS_SYMBOL', `ambiguous symbol "${typed}": ${listed}`,
      'type one of these spellings to pick it');
  }
  const symbol = places[0]![0]!;
  const address = applyOffset(text, symbol.address, offset);
  return { address, symbol, description: spellingFor(symbol, ctx.index) + signedHex(offset) };
}

/**
 * The shortest spelling that resolves to this symbol's address: `name`, else `file.c:name`, else `module!name`, else
 * `module!file.c:name`, else the same with `name@VERSION`; when even that names several places (two static `tick` in
 * two `util.c` of one module), the address itself.
 */
export function spellingFor(sym: RuntimeSymbol, index: Pick<SymbolView, 'lookup' | 'versionFor'>): string {
  const file = sym.file === undefined ? undefined : basename(sym.file);
  const version = index.versionFor(sym);
  const picksIt = (name: string, filter: { module?: string; file?: string }): boolean => {
    const places = groupByPlace(index.lookup(name, filter));
    return places.length === 1 && places[0]![0]!.address === sym.address && places[0]![0]!.module === sym.module;
  };
  const names = version === undefined ? [sym.name] : [sym.name, `${sym.name}@${version}`];
  for (const name of names) {
    if (picksIt(name, {})) return name;
    if (file !== undefined && picksIt(name, { file })) return `${file}:${name}`;
    if (picksIt(name, { module: sym.module })) return `${sym.module}!${name}`;
    if (file !== undefined && picksIt(name, { module: sym.module, file })) return `${sym.module}!${file}:${name}`;
  }
  return hex(sym.address);
}

/**
 * An exact module name, a module's full path, or a prefix naming one module (`libc` → `libc.so.6`). When a prefix fits several, one whose
 * name goes on with '.' or '-' right after the prefix wins (`libc` picks `libc.so.6` over `libcrypto.so.3`).
 */
export function resolveModuleName(typed: string, modules: readonly Module[]): string {
  const names = [...new Set(modules.map((m) => m.name))];
  if (names.includes(typed)) return typed;
  if (typed.includes('/')) {
    const byPath = modules.find((m) => m.path === typed);
    if (byPath) return byPath.name;
  }
  const prefixed = names.filter((n) => n.startsWith(typed));
  if (prefixed.length === 1) return prefixed[0]!;
  const atBoundary = prefixed.filter((n) => n[typed.length] === '.' || n[typed.length] === '-');
  if (atBoundary.length === 1) return atBoundary[0]!;
  if (prefixed.length > 1) {
    throw new HotpatchError('E_AMBIGUOUS_MODULE', `ambiguous module "${typed}": ${prefixed.sort().join(', ')}`,
      'type more of the module name');
  }
  throw new HotpatchError('E_UNKNOWN_MODULE', `unknown module "${typed}"`,
    names.length > 0 ? `loaded modules: ${names.sort().join(', ')}` : 'no modules are loaded: attach to a process first');
}

function unknownSymbol(typed: string, name: string, index: SymbolView): HotpatchError {
  const elsewhere = groupByPlace(index.lookup(name));
  let hint: string;
  if (elsewhere.length > 0) {
    hint = `${name} is defined as: ${elsewhere.map((p) => spellingFor(p[0]!, index)).join(', ')}`;
  } else {
    const similar = index.suggest(name, 5);
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

function describeRaw(shown: string, address: bigint, index: SymbolView): ResolvedAddress {
  const where = index.symbolize(address);
  if (!where.symbol) return { address, description: where.module ? `${shown} (${where.module}+${hex(where.offset)})` : shown };
  const name = spellingFor(where.symbol, index);
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

function hex(value: bigint): string {
  return '0x' + value.toString(16);
}

function signedHex(offset: bigint): string {
  if (offset === 0n) return '';
  return offset > 0n ? `+${hex(offset)}` : `-${hex(-offset)}`;
}
