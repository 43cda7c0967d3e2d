// Laying out a table block as text, shared by the renderers: plain rows for pipes, and columns fitted to a width
// (the console, a terminal) where paths lose their middle and other cells wrap between words, never inside one.

/** Plain output pads a column to at most this many characters; a longer cell runs past and the row goes on after it. */
export const PLAIN_PAD_CAP = 40;

/** No column is narrowed below this (a path keeps `/…/` and the start of its file name). */
const MIN_COLUMN = 8;

/** Where a path too long for its column starts, on its own line under its row. */
const OWN_LINE_INDENT = '    ';

/** What plain output shows for an empty cell, so that every row has the same number of fields for awk and cut. */
const EMPTY_CELL = '-';

const NUMERIC = /^(0x[0-9a-f]+|-?[\d.]+)?$/i;

/**
 * One row a line, columns two spaces apart, each padded to its widest cell but never past PLAIN_PAD_CAP: a 2000-character
 * C++ name makes its own row long, not every row. No rules, no wrapping; easy to grep, sort and cut.
 */
export function plainTable(columns: string[], rows: string[][], alignRight: number[] = []): string {
  const cell = (c: string | undefined) => (c === undefined || c === '' ? EMPTY_CELL : c);
  const widths = columns.map((c, i) => {
    let w = c.length;
    for (const r of rows) {
      const n = cell(r[i]).length;
      if (n > w && n <= PLAIN_PAD_CAP) w = n;
      if (w === PLAIN_PAD_CAP) break;
    }
    return w;
  });
  // Plain loops and one growing string: `syms *Heap*` prints 4,000 rows from a process too young for the JIT to have
  // optimised per-cell closures and arrays.
  const last = columns.length - 1;
  const right = columns.map((_, i) => alignRight.includes(i));
  // Once a cell runs past its column (a name longer than the cap), the rest of that row cannot line up any more:
  // its cells are only separated, not padded (node's `syms *Heap*` printed 150 KB of such spaces).
  const line = (cells: readonly (string | undefined)[], blank: boolean): string => {
    let text = '';
    let aligned = true;
    for (let i = 0; i <= last; i++) {
      const raw = cells[i];
      const c = blank && (raw === undefined || raw === '') ? EMPTY_CELL : raw ?? '';
      if (i === last) text += c;
      else if (!aligned) text += c + '  ';
      else {
        text += (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)) + '  ';
        if (c.length > widths[i]!) aligned = false;
      }
    }
    return text;
  };
  let out = line(columns, false);
  for (const r of rows) out += '\n' + line(r, true);
  return out;
}

/**
 * Rows of a table fitted to `width`: the heading, then each row on as many lines as its tallest cell needs. Numbers and
 * addresses keep their width; the widest text columns give way; a path loses its middle (`/usr/lib/…/libc.so.6`), or
 * in the last column, when even its file name does not fit, goes on a line of its own under the row; other text wraps
 * between words.
 */
export function fittedTable(
  columns: string[],
  rows: string[][],
  alignRight: number[],
  width: number,
  optional: number[] = [],
): { heading: string; rows: string[][]; hidden: string[] } {
  // Too many columns for the width even with every text column narrowed to its longest word: leave out the optional
  // ones, least needed first, rather than break names in the middle or overflow the line.
  // A column empty in every row (no source file for any of these symbols) says nothing: left out, not reported.
  const keep = columns.map((_, i) => i).filter((i) => rows.length === 0 || rows.some((r) => (r[i] ?? '') !== ''));
  for (const drop of optional) {
    if (!keep.includes(drop)) continue;
    if (minimumWidth(columns, rows, keep) <= width) break;
    keep.splice(keep.indexOf(drop), 1);
  }
  if (keep.length < columns.length) {
    const pick = <T>(cells: T[]) => keep.map((i) => cells[i]!);
    const fitted = fittedTable(pick(columns), rows.map(pick), alignRight.filter((i) => keep.includes(i)).map((i) => keep.indexOf(i)), width);
    return { ...fitted, hidden: columns.filter((_, i) => !keep.includes(i) && rows.some((r) => (r[i] ?? '') !== '')) };
  }
  const natural = columns.map((c, i) => rows.reduce((w, r) => Math.max(w, (r[i] ?? '').length), c.length));
  const fixed = columns.map((_, i) => rows.length > 0 && rows.every((r) => NUMERIC.test(r[i] ?? '')));
  const widths = fitColumns(natural, fixed, width);
  const line = (cells: string[]) =>
    cells.map((c, i) => (alignRight.includes(i) ? c.padStart(widths[i]!) : i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const heading = line(columns.map((c, i) => (c.length <= widths[i]! ? c : c.slice(0, Math.max(0, widths[i]! - 1)) + '…')));
  const out: string[][] = [];
  const last = columns.length - 1;
  for (const r of rows) {
    // A path in the last column whose file name alone is wider than the column (`ld-linux-x86-64.so.2` beside two
    // 18-digit addresses at 80 columns) goes whole on a line of its own under the row, rather than broken in its name.
    let below: string | undefined;
    const cells = columns.map((_, i) => {
      const text = r[i] ?? '';
      if (i === last && isPath(text) && shortenPath(text, widths[i]!).length > widths[i]!) {
        below = OWN_LINE_INDENT + shortenPath(text, Math.max(MIN_COLUMN, width - OWN_LINE_INDENT.length));
        return [''];
      }
      return fitCell(text, widths[i]!);
    });
    const height = Math.max(...cells.map((c) => c.length));
    const lines: string[] = [];
    for (let k = 0; k < height; k++) lines.push(line(cells.map((c) => c[k] ?? '')));
    if (below !== undefined) lines.push(below);
    out.push(lines);
  }
  return { heading, rows: out, hidden: [] };
}

/** Longest word a column may not be narrowed below before it breaks names: a file path's name, else a word (≤ 40). */
const WORD_CAP = 40;

/** The narrowest the columns `keep` can be without cutting a word: numbers whole, text at its longest word (capped). */
function minimumWidth(columns: string[], rows: string[][], keep: number[]): number {
  let total = 2 * (keep.length - 1);
  for (const i of keep) {
    const cells = rows.map((r) => r[i] ?? '');
    if (cells.length > 0 && cells.every((c) => NUMERIC.test(c))) {
      total += Math.max(columns[i]!.length, ...cells.map((c) => c.length));
      continue;
    }
    let word = Math.min(columns[i]!.length, MIN_COLUMN);
    for (const c of cells) {
      const parts = isPath(c) ? [c.slice(c.lastIndexOf('/') + 1)] : c.split(' ');
      for (const p of parts) word = Math.max(word, Math.min(p.length, WORD_CAP));
    }
    total += Math.max(MIN_COLUMN, word);
  }
  return total;
}

/** Column widths that fit in `width` with two spaces between, narrowing the widest text column first, none below 8. */
export function fitColumns(widths: number[], fixed: boolean[], width: number): number[] {
  const fitted = [...widths];
  const total = () => fitted.reduce((a, b) => a + b, 0) + 2 * (fitted.length - 1);
  while (total() > width) {
    const order = fitted.map((_, i) => i).filter((i) => !fixed[i] && fitted[i]! > MIN_COLUMN).sort((a, b) => fitted[b]! - fitted[a]!);
    if (order.length === 0) break;
    const widest = order[0]!;
    const second = order.length > 1 ? fitted[order[1]!]! : MIN_COLUMN;
    // Down to the next widest at most, so that wide columns share the cut.
    const to = Math.max(second, fitted[widest]! - (total() - width));
    fitted[widest] = Math.max(MIN_COLUMN, Math.min(fitted[widest]! - 1, to));
  }
  return fitted;
}

/** A cell in lines of at most `width`: a path shortened in its middle, anything else wrapped between words. */
export function fitCell(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  if (isPath(text)) {
    const short = shortenPath(text, width);
    if (short.length <= width) return [short];
    return wrapWords(short, width);
  }
  return wrapWords(text, width);
}

/** A file path: has a slash and no spaces (`/usr/lib/…`, `../sysdeps/x86/start.S`, `[hotpatch code]` is not one). */
export const isPath = (text: string): boolean => text.includes('/') && !/\s/.test(text);

/**
 * A path in at most `width` characters by leaving out whole directories in its middle: the file name always stays, then
 * as many leading and trailing directories as fit (`/usr/lib/…/libc.so.6`). Longer than `width` only when `…/` and
 * the file name alone are.
 */
export function shortenPath(path: string, width: number): string {
  if (path.length <= width) return path;
  const parts = path.split('/');
  const name = parts.pop()!;
  // parts[0] is '' for an absolute path: the head starts with it, so the result starts with '/'.
  let head = 0;
  let tail = parts.length;
  const render = (h: number, t: number) => [...parts.slice(0, h), '…', ...parts.slice(t), name].join('/');
  if (parts[0] === '') head = 1;
  if (render(head, tail).length > width) return render(head, tail);
  // Alternate: one more leading directory, then one more trailing one, while the result fits.
  for (let grew = true; grew; ) {
    grew = false;
    if (head < tail && render(head + 1, tail).length <= width) {
      head++;
      grew = true;
    }
    if (tail > head && render(head, tail - 1).length <= width) {
      tail--;
      grew = true;
    }
  }
  return head >= tail ? path : render(head, tail);
}

/**
 * Text in lines of at most `width`, broken where words meet: after a space (which goes), else after punctuation that
 * ends a piece of a name (`_ : , ( ) < > . - /`), in the line's second half; cut at the width only when a line has
 * neither.
 */
export function wrapWords(text: string, width: number): string[] {
  if (width <= 0 || text.length <= width) return [text];
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const at = breakPoint(rest, width);
    lines.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest) lines.push(rest);
  return lines;
}

const BREAK_AFTER = /[_:,()<>.\-/]/;

function breakPoint(text: string, width: number): number {
  const space = text.lastIndexOf(' ', width);
  if (space > width / 2) return space;
  for (let i = width; i > width / 2; i--) if (BREAK_AFTER.test(text[i - 1]!) && !BREAK_AFTER.test(text[i] ?? '')) return i;
  return width;
}
