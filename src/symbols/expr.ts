// The address-expression parser: `0x401136`, `main+0x10`, `counter.c:tick`, `libfoo.so!foo.c:tick-8`, `#3!fix`, `$rsp+8`.
import { HotpatchError } from '../errors.js';

export type AddressBase =
  | { kind: 'number'; value: bigint }
  | { kind: 'symbol'; module?: string; file?: string; name: string }
  | { kind: 'register'; name: string };

export interface AddressExpr {
  base: AddressBase;
  /** Sum of the `+n` / `-n` terms after the base (may be negative). */
  offset: bigint;
}

export const ADDRESS_SYNTAX_HINT = 'use 0x…, name, file.c:name, module!name (module: name, /path or #ID from libs), $reg, optionally +offset';

const MAX_U64 = (1n << 64n) - 1n;
const HEX = /^0x[0-9a-f]+$/i;
const DECIMAL = /^[0-9]+$/;
const REGISTER = /^[a-z_][a-z0-9_]*$/i;
// A name is identifier characters plus '.' (tick.cold, foo.constprop.0), '@' (memcpy@GLIBC_2.14) and C++ '::'.
const NAME = /^[a-z_.][a-z0-9_.@]*(?:::[a-z_~.][a-z0-9_.@]*)*$/i;
// File names as STT_FILE records them: no ':' or '!', which the grammar uses as separators.
const FILE = /^[a-z0-9_.+\-/]+$/i;

/** Whether a module (a name, a path, `#3`) can be written before '!' and read back as it is. */
export function isSpellableModule(module: string): boolean {
  return module !== '' && !/[!:\s]/.test(module);
}

/** Whether a source file as the symbol table recorded it can be written before ':' and read back as it is. */
export function isSpellableFile(file: string): boolean {
  return FILE.test(file);
}

/**
 * Parses one address expression. Numbers are hex with `0x` or decimal (a leading 0 does not mean octal). Only
 * numbers may follow '+'/'-', and spaces are allowed around them. Throws E_BAD_ADDRESS naming what is wrong.
 */
export function parseAddress(text: string): AddressExpr {
  const fail = (what: string): never => {
    throw new HotpatchError('E_BAD_ADDRESS', `bad address "${text}": ${what}`, ADDRESS_SYNTAX_HINT);
  };

  const trimmed = text.trim();
  if (trimmed === '') fail('empty');
  if (trimmed.startsWith('*')) fail('dereference (*) is not supported');

  // The module is everything before the first '!', so module names keep their '+' and '-' (libstdc++.so.6).
  let module: string | undefined;
  let rest = trimmed;
  const bang = trimmed.indexOf('!');
  if (bang >= 0) {
    module = trimmed.slice(0, bang);
    rest = trimmed.slice(bang + 1);
    if (module === '') fail("missing module name before '!'");
    if (rest.includes('!')) fail("more than one '!'");
    if (/\s/.test(module)) fail(`module name "${module}" contains a space`);
    if (module.includes(':')) fail(`module name "${module}" contains ':' (write module!file.c:name)`);
  }

  // Same for the file: it ends at the first lone ':' ('::' belongs to C++ names), so it may hold '-' and '+'.
  let file: string | undefined;
  const colon = findLoneColon(rest);
  if (colon >= 0) {
    file = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
    if (file === '') fail("missing file name before ':'");
    if (!FILE.test(file)) fail(`bad file name "${file}"`);
    if (findLoneColon(rest) >= 0) fail("more than one ':'");
  }

  const { head, terms } = splitTerms(rest, fail);
  let offset = 0n;
  for (const term of terms) {
    const value = parseNumber(term.digits, fail);
    if (value === undefined) fail(term.digits === '' ? `missing number after '${term.sign}'` : `bad offset "${term.digits}"`);
    offset += term.sign === '+' ? value! : -value!;
  }

  if (head === '') {
    if (module !== undefined || file !== undefined) fail('missing symbol name');
    fail(terms.length > 0 ? `missing base before '${terms[0]!.sign}'` : 'empty');
  }

  const qualified = module !== undefined || file !== undefined;
  if (head.startsWith('$')) {
    if (qualified) fail('a register cannot take a module or file');
    const name = head.slice(1);
    if (name === '') fail("missing register name after '$'");
    if (!REGISTER.test(name)) fail(`bad register name "${name}"`);
    return { base: { kind: 'register', name: name.toLowerCase() }, offset };
  }

  if (/^[0-9]/.test(head)) {
    if (qualified) fail(`"${head}" is a number, not a symbol name`);
    const value = parseNumber(head, fail);
    if (value === undefined) fail(`bad number "${head}"`);
    return { base: { kind: 'number', value: value! }, offset };
  }

  if (!NAME.test(head)) fail(`bad symbol name "${head}"`);
  const base: AddressBase = { kind: 'symbol', name: head };
  if (module !== undefined) base.module = module;
  if (file !== undefined) base.file = file;
  return { base, offset };
}

/** Index of the first ':' that is not half of '::', or -1. */
/** The first `:` of `text` at or after `from` that is not half of a `::` (C++ scope): -1 when there is none. */
export function findLoneColon(text: string, from = 0): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] !== ':') continue;
    if (text[i + 1] === ':') {
      i++;
      continue;
    }
    return i;
  }
  return -1;
}

interface OffsetTerm {
  sign: '+' | '-';
  digits: string;
}

/** Splits `head +a -b` at each '+'/'-'; the head is whatever comes before the first one. */
function splitTerms(text: string, fail: (what: string) => never): { head: string; terms: OffsetTerm[] } {
  const pieces = text.split(/([+-])/);
  const head = pieces[0]!.trim();
  if (/\s/.test(head)) fail(`unexpected space in "${head}"`);
  const terms: OffsetTerm[] = [];
  for (let i = 1; i < pieces.length; i += 2) {
    const digits = pieces[i + 1]!.trim();
    if (/\s/.test(digits)) fail(`unexpected space in "${digits}"`);
    terms.push({ sign: pieces[i] as '+' | '-', digits });
  }
  return { head, terms };
}

/** A 64-bit unsigned number, undefined when the text is not a number at all. */
function parseNumber(text: string, fail: (what: string) => never): bigint | undefined {
  if (!HEX.test(text) && !DECIMAL.test(text)) return undefined;
  const value = BigInt(text);
  if (value > MAX_U64) fail(`${text} does not fit in 64 bits`);
  return value;
}
