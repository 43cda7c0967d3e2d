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

const isGlob = (pattern: string): boolean => GLOB_CHARS.test(pattern);

export const escapeRegExp = (text: string) => text.replace(/[.+^${}()|[\]\\*?]/g, '\\$&');

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
    // Non-empty: an empty literal screens nothing.
    if (pattern) screen.decides = true;
    return { glob: false, test: (name) => name.includes(pattern), exact: (name) => name === pattern, screen };
  }
  // One literal after a star and before one (`*Heap*`), or before one alone (`uv_*`): containing it, or starting
  // with it, is the whole test, with no regular expression (4,000 names tested twice in a cold process).
  const simple = /^(\*?)([^*?[\]]+)\*$/.exec(pattern);
  if (simple) {
    const literal = simple[2]!;
    const contains = simple[1] === '*';
    const screen = contains ? nameScreen(`[^\\0]*${escapeRegExp(literal)}[^\\0]*`, '', literal) : nameScreen(`${escapeRegExp(literal)}[^\\0]*`, literal, literal);
    screen.decides = true;
    return { glob: true, test: contains ? (name) => name.includes(literal) : (name) => name.startsWith(literal), exact: () => false, screen };
  }
  const whole = new RegExp(`^${globPieces(pattern, '.').map((p) => p.source).join('')}$`, 's');
  const pieces = globPieces(pattern, '[^\\0]');
  const { runs, prefix } = literalRuns(pieces);
  // The longest literal run is what a substring search over the table's bytes looks for.
  const longest = runs.reduce((a, b) => (b.length > a.length ? b : a), '');
  const screen = nameScreen(pieces.map((p) => p.source).join(''), prefix, longest);
  return { glob: true, test: (name) => whole.test(name), exact: () => false, screen };
}
