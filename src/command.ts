// The command contract: each module in commands/ describes itself; parsing, help and completion come from that spec.
import { HotpatchError } from './errors.js';
import type { CommandResult } from './result.js';
import type { Session } from './session.js';

export type Stage = 'attach' | 'explore' | 'load' | 'patch' | 'console';

export const STAGES: { stage: Stage; title: string; why: string }[] = [
  { stage: 'attach', title: 'Attach', why: 'take hold of a running process without stopping it' },
  { stage: 'explore', title: 'Explore', why: 'find the function and data to change, and read them' },
  { stage: 'load', title: 'Load', why: 'bring the new code into the process as a shared library' },
  { stage: 'patch', title: 'Patch', why: 'send calls to the new code, see and undo patches' },
  { stage: 'console', title: 'Console', why: 'settings, help and leaving' },
];

export type ArgKind = 'address' | 'number' | 'string' | 'path' | 'symbol' | 'module' | 'process';

export interface ArgSpec {
  name: string;
  kind: ArgKind;
  optional?: boolean;
  /** Takes every remaining word. */
  rest?: boolean;
  help?: string;
}

export interface OptionSpec {
  name: string;
  /** 'flag' takes no value; 'list' may repeat. */
  kind: 'flag' | 'string' | 'number' | 'list';
  values?: string[];
  valueName?: string;
  help?: string;
}

export interface ParsedArgs {
  args: Record<string, string | string[] | undefined>;
  options: Record<string, string | boolean | string[] | undefined>;
}

export interface CommandContext {
  session: Session;
  signal?: AbortSignal;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  stage: Stage;
  usage: string;
  summary: string;
  /** One line on why a user would run it (shown by `help CMD`). */
  why?: string;
  args: ArgSpec[];
  options?: OptionSpec[];
  /** Needs an attached target. */
  needsTarget?: boolean;
  run(ctx: CommandContext, input: ParsedArgs): Promise<CommandResult>;
}

/**
 * Split a command line into words; single or double quotes keep spaces, backslash escapes one character. A `#` that
 * starts a word begins a comment to the end of the line, unless a digit follows it (`#3!fix` names a library by its
 * number from `libs`).
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
      continue;
    }
    if (c === '#' && !inWord && !/[0-9]/.test(line[i + 1] ?? '')) break;
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new HotpatchError('E_USAGE', `unterminated ${quote} quote`, 'close the quote');
  if (inWord) words.push(cur);
  return words;
}

/** A word as splitWords reads it back: quoted when it holds spaces, quotes, backslashes or a leading #. */
export function quoteWord(word: string): string {
  if (word !== '' && !/[\s'"\\]/.test(word) && !word.startsWith('#')) return word;
  return '"' + word.replace(/["\\]/g, '\\$&') + '"';
}

export function usageError(spec: CommandSpec, what: string): HotpatchError {
  return new HotpatchError('E_USAGE', `${spec.name}: ${what}`, `usage: ${spec.usage}`);
}

/** Match words to the spec: options anywhere (`--name value`, `--name=value`), positionals in order. */
export function parseArgs(spec: CommandSpec, words: string[]): ParsedArgs {
  const options: ParsedArgs['options'] = {};
  const positional: string[] = [];
  const specs = spec.options ?? [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === '--') {
      positional.push(...words.slice(i + 1));
      break;
    }
    if (w.startsWith('--') && w.length > 2) {
      const eq = w.indexOf('=');
      const name = eq > 0 ? w.slice(2, eq) : w.slice(2);
      const opt = specs.find((o) => o.name === name);
      if (!opt) {
        // A negative number or odd address is not an option: only names that look like options are refused.
        const known = specs.map((o) => '--' + o.name).join(', ');
        throw usageError(spec, `unknown option --${name}` + (known ? ` (known: ${known})` : ''));
      }
      if (opt.kind === 'flag') {
        if (eq > 0) throw usageError(spec, `--${name} takes no value`);
        options[name] = true;
        continue;
      }
      let value: string | undefined = eq > 0 ? w.slice(eq + 1) : words[++i];
      if (value === undefined) throw usageError(spec, `--${name} needs a value${opt.valueName ? ` (${opt.valueName})` : ''}`);
      if (opt.values && !opt.values.includes(value)) throw usageError(spec, `--${name} must be one of ${opt.values.join(', ')}, not "${value}"`);
      if (opt.kind === 'number' && !/^(0x[0-9a-f]+|\d+)$/i.test(value)) throw usageError(spec, `--${name} needs a number, not "${value}"`);
      if (opt.kind === 'list') {
        const list = (options[name] as string[] | undefined) ?? [];
        list.push(value);
        options[name] = list;
      } else {
        options[name] = value;
      }
      continue;
    }
    positional.push(w);
  }
  const args: ParsedArgs['args'] = {};
  let p = 0;
  for (const a of spec.args) {
    if (a.rest) {
      const restWords = positional.slice(p);
      p = positional.length;
      if (restWords.length === 0 && !a.optional) throw usageError(spec, `missing ${a.name}`);
      args[a.name] = restWords;
      continue;
    }
    const v = positional[p];
    if (v === undefined) {
      if (!a.optional) throw usageError(spec, `missing ${a.name}`);
      continue;
    }
    if (a.kind === 'number' && !/^(0x[0-9a-f]+|\d+)$/i.test(v)) throw usageError(spec, `${a.name} must be a number, not "${v}"`);
    args[a.name] = v;
    p++;
  }
  if (p < positional.length) throw usageError(spec, `unexpected "${positional.slice(p).join(' ')}"`);
  return { args, options };
}

export function parseNumber(text: string, what: string): number {
  const v = /^0x/i.test(text) ? parseInt(text, 16) : Number(text);
  if (!Number.isSafeInteger(v) || v < 0) throw new HotpatchError('E_USAGE', `${what} must be a non-negative number, not "${text}"`);
  return v;
}

/**
 * In long work: let the console's event loop see a key (Ctrl-C aborts the command's signal), then stop with
 * E_CANCELLED (the console shows it as cancelled) with `message` if it did.
 */
export async function checkCancelled(signal: AbortSignal | undefined, message: string): Promise<void> {
  if (!signal) return;
  await new Promise((resolve) => setImmediate(resolve));
  if (signal.aborted) throw new HotpatchError('E_CANCELLED', message);
}
