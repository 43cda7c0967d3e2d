// Tab completion derived from the command table: command names, options and their values, then each argument by its kind.
import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import type { ArgSpec, CommandSpec, OptionSpec } from '../command.js';
import { findLoneColon } from '../symbols/expr.js';

/** Where names come from; the console builds one over the live session (see source.ts). */
export interface CompletionSource {
  commands: readonly CommandSpec[];
  /**
   * Distinct symbol names starting with prefix, sorted, at most limit; with `scope`, only those of that module
   * (`libc.so.6!`) and source file (`loop.c:`, its statics).
   */
  symbols(prefix: string, limit: number, scope?: SymbolScope): string[];
  modules(): string[];
  registers(): string[];
  /** Paths starting with prefix; directories end with '/'. */
  files(prefix: string, limit: number): string[];
  /** The processes one could attach to (not the console's own), for `attach PID|NAME`. */
  processes?(): { pid: number; comm: string }[];
}

/** What a word typed before the name restricts it to: `module!`, `file.c:`, or both. */
export interface SymbolScope {
  module?: string;
  file?: string;
}

export interface Completion {
  /** The word being completed is text[from, to). */
  from: number;
  to: number;
  candidates: string[];
  /** There are more candidates than listed. */
  more: boolean;
  /** The candidates are file paths (shown by their last part). */
  paths?: boolean;
}

export const COMPLETION_LIMIT = 200;

/** Candidates for the word that ends at the cursor. */
export function complete(text: string, cursor: number, src: CompletionSource): Completion {
  const before = text.slice(0, cursor);
  const from = before.search(/\S*$/);
  const word = before.slice(from);
  const words = before.slice(0, from).trim().split(/\s+/).filter(Boolean);
  const result = (candidates: string[], paths = false): Completion => ({
    from,
    to: cursor,
    candidates: candidates.slice(0, COMPLETION_LIMIT),
    more: candidates.length > COMPLETION_LIMIT,
    ...(paths ? { paths } : {}),
  });
  if (words.length === 0) return result(commandNames(src.commands, word));
  const spec = src.commands.find((c) => c.name === words[0] || c.aliases?.includes(words[0]!));
  if (!spec) return result([]);
  const slot = slotOf(spec, words.slice(1));
  if (slot.option) return result(optionValues(slot.option, word, src), takesPath(slot.option));
  if (word.startsWith('-')) {
    const eq = word.indexOf('=');
    if (eq > 0) {
      const option = spec.options?.find((o) => o.name === word.slice(2, eq));
      return result(option ? optionValues(option, word.slice(eq + 1), src).map((v) => word.slice(0, eq + 1) + v) : []);
    }
    return result((spec.options ?? []).map((o) => '--' + o.name).filter((n) => n.startsWith(word)));
  }
  const arg = spec.args[slot.positional] ?? spec.args.find((a) => a.rest);
  return result(arg ? argValues(spec, arg, slot.positional, word, src) : [], arg?.kind === 'path');
}

/** The longest prefix every candidate shares. */
export function commonPrefix(candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  let prefix = candidates[0]!;
  for (const c of candidates) {
    let i = 0;
    while (i < prefix.length && i < c.length && prefix[i] === c[i]) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix;
}

/** A completed word that continues (a directory, `module!`, `file.c:`) gets no space after it. */
export const continuesWord = (candidate: string): boolean => /[/!:=]$/.test(candidate);

function commandNames(commands: readonly CommandSpec[], word: string): string[] {
  // Aliases are shortcuts for typing, not for completing: `dis` completes to `disasm`.
  const names = commands.map((c) => c.name).filter((n) => n.startsWith(word));
  if (names.length > 0) return names.sort();
  return [...new Set(commands.flatMap((c) => c.aliases ?? []).filter((a) => a.startsWith(word)))].sort();
}

/** Which positional argument the next word is, or the option it is the value of. */
function slotOf(spec: CommandSpec, words: string[]): { positional: number; option?: OptionSpec } {
  let positional = 0;
  let option: OptionSpec | undefined;
  for (const w of words) {
    if (option) {
      option = undefined;
      continue;
    }
    if (w.startsWith('--') && w.length > 2) {
      const named = spec.options?.find((o) => o.name === w.slice(2).split('=')[0]);
      if (named && named.kind !== 'flag' && !w.includes('=')) option = named;
      if (named) continue;
    }
    positional++;
  }
  return { positional, option };
}

function optionValues(option: OptionSpec, word: string, src: CompletionSource): string[] {
  if (option.values) return option.values.filter((v) => v.startsWith(word));
  const valueName = (option.valueName ?? '').toUpperCase();
  if (option.name === 'module' || valueName === 'M' || valueName === 'MODULE') return src.modules().filter((m) => m.startsWith(word)).sort();
  if (takesPath(option)) return src.files(word, COMPLETION_LIMIT + 1);
  return [];
}

const takesPath = (option: OptionSpec): boolean => !option.values && ['FILE', 'PATH', 'DIR'].includes((option.valueName ?? '').toUpperCase());

function argValues(spec: CommandSpec, arg: ArgSpec, index: number, word: string, src: CompletionSource): string[] {
  switch (arg.kind) {
    case 'address':
    case 'symbol':
      return symbolWords(word, src);
    case 'module':
      return src.modules().filter((m) => m.startsWith(word)).sort();
    case 'process':
      return processWords(word, src);
    case 'path':
      return src.files(word, COMPLETION_LIMIT + 1);
    case 'string':
      if (arg.name === 'command') return commandNames(src.commands, word);
      return usageChoices(spec.usage, index).filter((c) => c.startsWith(word));
    default:
      return [];
  }
}

/** Digits: the pids that start with them; else the process names that start with the word (each once). */
function processWords(word: string, src: CompletionSource): string[] {
  const all = src.processes?.() ?? [];
  if (/^\d+$/.test(word)) return all.map((p) => String(p.pid)).filter((p) => p.startsWith(word));
  return [...new Set(all.map((p) => p.comm).filter((c) => c.startsWith(word)))].sort();
}

/** `name`, `module!name`, `file.c:name`, `$reg`; numbers and `name+off` have nothing to complete. */
function symbolWords(word: string, src: CompletionSource): string[] {
  if (word.startsWith('$')) return src.registers().filter((r) => r.startsWith(word.slice(1))).map((r) => '$' + r);
  if (/^(0x|\d)/i.test(word) || word.includes('+')) return [];
  // `module!file.c:name`, as the address parser reads it: the module ends at '!', the file at a lone ':' ('::' is C++).
  const bang = word.indexOf('!');
  const colon = findLoneColon(word, bang + 1);
  const cut = Math.max(bang, colon);
  const head = word.slice(0, cut + 1);
  const scope = cut < 0 ? undefined : { module: bang >= 0 ? word.slice(0, bang) : undefined, file: colon >= 0 ? word.slice(bang + 1, colon) : undefined };
  const names = src.symbols(word.slice(cut + 1), COMPLETION_LIMIT + 1, scope).map((n) => head + n);
  if (cut >= 0 || word === '') return names;
  // A word that may be a module name also offers `module!`, after the symbols.
  return [...names, ...src.modules().filter((m) => m.startsWith(word)).sort().map((m) => m + '!')];
}

/** Choices written into the usage line, as `explain on|off` or `tour [next|stop]`, for positional `index`. */
export function usageChoices(usage: string, index: number): string[] {
  const positionals = usage
    .replace(/\[--[^\]]*\]/g, '')
    .split(/\s+/)
    .slice(1)
    .filter((t) => t !== '' && !t.startsWith('--'));
  const token = positionals[index]?.replace(/[[\]]/g, '');
  return token && /^[a-z0-9_-]+(\|[a-z0-9_-]+)+$/.test(token) ? token.split('|') : [];
}

/** Directory entries for a partly typed path (`~/` understood); hidden files only when asked for with a dot. */
export function filePaths(prefix: string, limit: number): string[] {
  const slash = prefix.lastIndexOf('/');
  const dir = prefix.slice(0, slash + 1);
  const base = prefix.slice(slash + 1);
  const onDisk = dir === '' ? '.' : dir.startsWith('~/') ? homedir() + dir.slice(1) : dir;
  let entries;
  try {
    entries = readdirSync(onDisk, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(base) || (e.name.startsWith('.') && !base.startsWith('.'))) continue;
    out.push(dir + e.name + (isDirectory(onDisk, e) ? '/' : ''));
  }
  return out.sort().slice(0, limit);
}

function isDirectory(dir: string, e: { name: string; isDirectory(): boolean; isSymbolicLink(): boolean }): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return statSync(`${dir}/${e.name}`).isDirectory();
  } catch {
    return false;
  }
}
