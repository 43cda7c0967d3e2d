// What `syms PATTERN` means: a glob when it has * ? or [, else a word (exact name first, then names containing it);
// and the cheap screen over raw string tables that finds the few names worth decoding.
import { nameScreen, type NameScreen } from '../elf/symtab.js';

export interface NamePattern {
  /** A glob (`*`, `?`, `[…]`) over the whole name; otherwise a word. */
  glob: boolean;
  /** Whether a name matches: the whole name for a glob, a part of it for a word. */
  test(name: string): boolean;
  /** For a word: the name is the word itself (listed before names that only contain it). */
  exact(name: string): boolean;
  /** A superset of the matches, screened on a string table's bytes before any name is decoded. */
  screen: NameScreen;
}

const GLOB_CHARS = /[*?[]/;

export const isGlob = (pattern: string): boolean => GLOB_CHARS.test(pattern);

const escapeRegExp = (text: string) => text.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');

interface GlobPiece {
  /** Regular-expression source of the piece. */
  source: string;
  /** The piece's text when it is literal (not a wildcard or class). */
  literal?: string;
}

/**
 * A glob as pieces. `any` is what one unknown character may be: `.` in a decoded name, `[^\0]` in a string table
 * (where a match must not run past the name's NUL). `[abc]`, `[a-z]` and `[!abc]` (or `[^abc]`) are classes; a `[`
 * without its `]` is itself.
 */
function globPieces(glob: string, any: string): GlobPiece[] {
  const pieces: GlobPiece[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') pieces.push({ source: `${any}*` });
    else if (c === '?') pieces.push({ source: any });
    else if (c === '[') {
      let j = i + 1;
      const negated = glob[j] === '!' || glob[j] === '^';
      if (negated) j++;
      if (glob[j] === ']') j++; // a ] first in the class is one of its characters
      const close = glob.indexOf(']', j);
      if (close < 0) {
        pieces.push({ source: '\\[', literal: '[' });
        continue;
      }
      const body = glob.slice(negated ? i + 2 : i + 1, close).replace(/[\\\]^]/g, '\\$&');
      pieces.push({ source: negated ? `[^${body}${any === '.' ? '' : '\\0'}]` : `[${body}]` });
      i = close;
    } else pieces.push({ source: escapeRegExp(c), literal: c });
  }
  return pieces;
}

/** Runs of literal characters in a glob, in order (`*Heap*Space*` → Heap, Space). */
function literalRuns(pieces: GlobPiece[]): { runs: string[]; prefix: string } {
  const runs: string[] = [];
  let run = '';
  let prefix: string | undefined;
  for (const p of pieces) {
    if (p.literal !== undefined) {
      run += p.literal;
      continue;
    }
    prefix ??= run;
    if (run) runs.push(run);
    run = '';
  }
  if (run) runs.push(run);
  return { runs, prefix: prefix ?? run };
}

export function namePattern(pattern: string): NamePattern {
  if (!isGlob(pattern)) {
    const screen = nameScreen(`[^\\0]*?${escapeRegExp(pattern)}[^\\0]*`, '', pattern);
    return { glob: false, test: (name) => name.includes(pattern), exact: (name) => name === pattern, screen };
  }
  const whole = new RegExp(`^${globPieces(pattern, '.').map((p) => p.source).join('')}$`, 's');
  const pieces = globPieces(pattern, '[^\\0]');
  const { runs, prefix } = literalRuns(pieces);
  // The longest literal run is what a substring search over the table's bytes looks for.
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a), '');
  const screen = nameScreen(pieces.map((p) => p.source).join(''), prefix, longest);
  return { glob: true, test: (name) => whole.test(name), exact: () => false, screen };
}
