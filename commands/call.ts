// call FUNC [ARG…]: run a function inside the process on a borrowed thread and show what it returned.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { hex, notesOf, text } from '../src/result.js';
import { HotpatchError, toHotpatchError } from '../src/errors.js';
import type { Session } from '../src/session.js';
import { runCalls, stubWords } from '../src/process/stub.js';

const RETURN_TYPES = ['int', 'long', 'ptr', 'str', 'void'] as const;
type ReturnType = (typeof RETURN_TYPES)[number];
/** How much of a returned string is read: a screen's worth, and a bound on a pointer to something that is not text. */
const MAX_STRING_BYTES = 4096;

export const call: CommandSpec = {
  name: 'call',
  stage: 'patch',
  usage: 'call FUNC [ARG…] [--str] [--type int|long|ptr|str|void] [--timeout MS]',
  summary: 'call a function in the process (integer/pointer arguments) and show its return value',
  why: 'try new code before redirecting to it, or poke at the program through its own functions',
  args: [
    { name: 'function', kind: 'address' },
    { name: 'args', kind: 'string', rest: true, optional: true, help: 'up to 6 integers or addresses' },
  ],
  options: [
    { name: 'type', kind: 'string', values: [...RETURN_TYPES], help: 'read the result as int (low 32 bits, signed), long, ptr (named), str (a char *) or void; default: all 64 bits' },
    { name: 'str', kind: 'flag', help: 'the result is a char *: show the string it points to (same as --type str)' },
    { name: 'timeout', kind: 'number', valueName: 'MS', help: 'give up after MS milliseconds (default 2000): the thread is put back as it was' },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    if (options.str === true && options.type !== undefined && options.type !== 'str') {
      throw new HotpatchError('E_USAGE', `call: --str and --type ${options.type as string} disagree`, 'give one of them');
    }
    const type = options.str === true ? 'str' : (options.type as ReturnType | undefined);
    const fn = await session.resolve(args.function as string);
    const words = (args.args as string[] | undefined) ?? [];
    if (words.length > 6) throw new HotpatchError('E_USAGE', 'call: at most 6 arguments', 'usage: call FUNC [ARG…]');
    const values: bigint[] = [];
    const resolved = [fn];
    for (const w of words) {
      if (/^-?\d+$/.test(w)) {
        values.push(BigInt.asUintN(64, BigInt(w)));
      } else {
        const r = await session.resolve(w);
        resolved.push(r);
        values.push(r.address);
      }
    }
    const target = session.requireTarget();
    const tid = target.borrowThread();
    const timeoutMs = options.timeout ? parseNumber(options.timeout as string, '--timeout') : 2000;
    const { results, path } = await runCalls(target, tid, [{ kind: 'call', fn: fn.address, args: values, timeoutMs }]);
    const value = results[0]!.value;
    const shown = showResult(session, value, type);
    return {
      data: {
        function: fn.description,
        address: hex(fn.address),
        returned: hex(value),
        ...(type !== undefined ? { type } : {}),
        int: Number(BigInt.asIntN(32, value)),
        value: exactNumber(BigInt.asIntN(64, value)),
        unsigned: exactNumber(value),
        ...shown.data,
        tid,
      },
      blocks: [text(`${fn.description}(${words.join(', ')}) ${shown.text}`, shown.tone)],
      notes: notesOf(...resolved),
      explain: [
        `Borrowed thread ${tid}: saved its registers, vector (x87/SSE/AVX) state and signal mask; set rip to the function, the arguments in rdi, rsi, rdx, rcx, r8, r9, and ${stubWords(path)}`,
        'When it stopped there we read the result and put everything back; an interrupted system call restarts as if nothing happened.',
      ],
    };
  },
};

/** The result as the user asked to read it: the line's text after the call, and what JSON adds. */
function showResult(session: Session, value: bigint, type: ReturnType | undefined): { text: string; tone?: 'warn'; data: Record<string, unknown> } {
  const signed = BigInt.asIntN(64, value);
  switch (type) {
    case 'void':
      return { text: 'returned (void)', data: {} };
    case 'int': {
      const low = BigInt.asUintN(32, value);
      return { text: `= ${BigInt.asIntN(32, value)} (${hex(low)})`, data: {} };
    }
    case 'long':
      return { text: `= ${signed} (${hex(value)})`, data: {} };
    case 'ptr': {
      if (value === 0n) return { text: '= NULL', data: { pointer: null } };
      const where = session.describe(value);
      return { text: `= ${hex(value)}${where.startsWith('0x') ? '' : ` (${where})`}`, data: { pointer: where } };
    }
    case 'str':
      return showString(session, value);
    default: {
      // An int function leaves the upper half of rax as it was (often 0): -1 comes back as 0xffffffff.
      const asInt = value >= 1n << 31n && value < 1n << 32n ? `; as int ${BigInt.asIntN(32, value)}` : '';
      return { text: `= ${signed} (${hex(value)}${asInt})`, data: {} };
    }
  }
}

/** The char * a function returned, read from the process: quoted and escaped, NULL as NULL, bounded in length. */
function showString(session: Session, value: bigint): { text: string; tone?: 'warn'; data: Record<string, unknown> } {
  if (value === 0n) return { text: '= NULL', data: { string: null } };
  let bytes: Buffer;
  try {
    bytes = session.requireTarget().readMemory(value, MAX_STRING_BYTES);
  } catch (err) {
    const { code } = toHotpatchError(err);
    if (code !== 'EFAULT' && code !== 'EIO') throw err;
    bytes = Buffer.alloc(0);
  }
  if (bytes.length === 0) {
    const why = `${hex(value)} is not a readable address`;
    return { text: `= ${hex(value)} (not a string: ${why})`, tone: 'warn', data: { string: null, stringError: why } };
  }
  const end = bytes.indexOf(0);
  const body = bytes.subarray(0, end < 0 ? bytes.length : end);
  const truncated = end < 0;
  const more = truncated ? (bytes.length < MAX_STRING_BYTES ? '… (memory ends here)' : `… (first ${MAX_STRING_BYTES} bytes)`) : '';
  return {
    text: `= ${hex(value)} ${quoteBytes(body)}${more}`,
    data: { string: body.toString('utf8'), ...(truncated ? { truncated: true } : {}) },
  };
}

/** A C string as a quoted literal: UTF-8 text as it reads, control characters and other bytes escaped (\n, \x01). */
function quoteBytes(bytes: Buffer): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = bytes.toString('latin1');
    return '"' + [...text].map((c) => (c.charCodeAt(0) >= 0x80 ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : escapeChar(c))).join('') + '"';
  }
  return '"' + [...text].map(escapeChar).join('') + '"';
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const code = c.codePointAt(0)!;
  if (ESCAPES[c]) return ESCAPES[c]!;
  if (code < 0x20 || code === 0x7f) return `\\x${code.toString(16).padStart(2, '0')}`;
  return c;
}

/** A number JSON can carry exactly; beyond 2^53, its decimal digits as a string. */
function exactNumber(value: bigint): number | string {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}
