// gdb's words, for hands that type them: a line hotpatch runs with its own command (`x/4xg $rsp` → peek), or what
// to do instead when gdb's idea does not apply (breakpoints: hotpatch never stops the program on its own).
import { HotpatchError } from '../src/errors.js';
import type { CommandSpec } from '../src/command.js';

/** A gdb line in hotpatch's terms: the line to run instead, or an error that says what to use. */
export type GdbHabit = { line: string } | { error: HotpatchError };

/** gdb's unit letters of `x/`: bytes each. */
const UNITS: Record<string, number> = { b: 1, h: 2, w: 4, g: 8 };

/**
 * What a gdb user meant by `words`, when the first word is no hotpatch command. `find` looks a command up by name
 * (bt comes from another change; until it exists, `where` and `info stack` say so instead of running it).
 */
export function gdbHabit(words: string[], find: (name: string) => CommandSpec | undefined): GdbHabit | undefined {
  const [head = '', ...rest] = words;
  const examine = /^x\/(\w*)$/.exec(head);
  if (examine) return examineLine(examine[1]!, rest);
  switch (head) {
    case 'info':
    case 'i':
      return infoLine(rest, find);
    case 'where':
    case 'backtrace':
    case 'bt':
      return backtrace(rest, find);
    case 'b':
    case 'break':
    case 'tbreak':
    case 'hbreak':
    case 'rbreak':
    case 'watch':
    case 'rwatch':
    case 'awatch':
      return {
        error: new HotpatchError('E_UNKNOWN_COMMAND', `${head}: hotpatch sets no breakpoints: it changes the program while it runs, and never stops it by itself`,
          'to see each call of a function, redirect it to a patch that logs and calls hp_orig_NAME (load, redirect); ' +
          'to look now: peek, regs, threads, disasm; to hold every thread still: stop, then cont'),
      };
    case 'run':
    case 'r':
    case 'start':
    case 'step':
    case 's':
    case 'next':
    case 'n':
    case 'stepi':
    case 'si':
    case 'nexti':
    case 'ni':
    case 'finish':
      return {
        error: new HotpatchError('E_UNKNOWN_COMMAND', `${head}: hotpatch attaches to a program that is already running and does not step it`,
          'stop freezes every thread and cont releases them; regs and disasm $pc show where a thread is'),
      };
    case 'print':
    case 'p':
      return {
        error: new HotpatchError('E_UNKNOWN_COMMAND', `${head}: hotpatch reads memory, not C expressions`,
          `peek ${rest[0] ?? 'NAME'} --as i32 (or u64, ptr, str…) reads a variable; regs shows the registers`),
      };
    case 'set':
      return {
        error: new HotpatchError('E_UNKNOWN_COMMAND', `${head}: hotpatch writes memory, not C expressions`, 'poke NAME --i32 N (or --u64, --str, hex bytes) writes a variable'),
      };
  }
  return undefined;
}

/** `x/NFU ADDR` (count, format, unit, in any order after the count) as peek or disasm. */
function examineLine(spec: string, rest: string[]): GdbHabit {
  const m = /^(\d*)([a-z]*)$/.exec(spec);
  const where = rest.join(' ').replace(/^&/, '');
  const bad = (why: string): GdbHabit => ({ error: new HotpatchError('E_USAGE', `x/${spec}: ${why}`, 'gdb\'s x/NFU ADDR: N count, F one of x d u a c f s i, U one of b h w g (e.g. x/4xg $rsp)') });
  if (!m) return bad('not a count and letters');
  if (where === '') return bad('missing ADDR');
  const count = m[1] ? Number(m[1]) : 1;
  let format = 'x';
  let unit: number | undefined;
  for (const c of m[2]!) {
    if (UNITS[c] !== undefined) unit = UNITS[c];
    else if ('xduoatcfsi'.includes(c)) format = c;
    else return bad(`unknown letter "${c}"`);
  }
  if (format === 'i') return { line: `disasm ${where} ${count}` };
  if (format === 's') return { line: `peek ${where} --as str` };
  // gdb's defaults: a word, but a pointer for `a`, a byte for `c`, a double for `f`.
  const size = format === 'a' ? 8 : unit ?? (format === 'c' ? 1 : format === 'f' ? 8 : 4);
  const bits = size * 8;
  const view =
    format === 'a' ? 'ptr'
    : format === 'd' ? `i${bits}`
    : format === 'u' ? `u${bits}`
    : format === 'f' && size >= 4 ? `f${bits}`
    : `x${bits}`;
  return { line: `peek ${where} ${count * size} --as ${view}` };
}

/** gdb's `info` topics that hotpatch has a command for. */
function infoLine(rest: string[], find: (name: string) => CommandSpec | undefined): GdbHabit {
  const topic = rest[0] ?? '';
  const is = (full: string, shortest: number) => topic.length >= shortest && full.startsWith(topic);
  if (is('registers', 1) || is('all-registers', 2)) return { line: 'regs' };
  if (is('threads', 2)) return { line: 'threads' };
  if (is('sharedlibrary', 2) || topic === 'dll') return { line: 'maps .so' };
  if (topic === 'proc' && (rest[1] ?? '').startsWith('map')) return { line: 'maps' };
  if (is('stack', 1) || is('frame', 1)) return backtrace([], find);
  if (is('symbol', 2)) return { line: `syms ${rest.slice(1).join(' ')}`.trim() };
  if (is('breakpoints', 1)) return { line: 'patches' };
  return {
    error: new HotpatchError('E_UNKNOWN_COMMAND', topic ? `info ${topic}: not a topic hotpatch knows` : 'info: which topic?',
      'info registers (regs), info threads (threads), info sharedlibrary (maps .so), info proc mappings (maps), info breakpoints (patches)'),
  };
}

/**
 * A backtrace runs `bt` when this build has it. TODO(bt): once commands/bt.ts is merged, `where`/`backtrace` may
 * become aliases in its spec; this then only serves `info stack`.
 */
function backtrace(rest: string[], find: (name: string) => CommandSpec | undefined): GdbHabit {
  if (find('bt')) return { line: ['bt', ...rest].join(' ') };
  return {
    error: new HotpatchError('E_UNKNOWN_COMMAND', 'no backtrace command in this build yet',
      'threads shows where each thread stands; disasm $pc the code there; regs its registers'),
  };
}
