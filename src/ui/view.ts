// The output area as a list of screen lines: entries turned into wrapped lines, and the window of them that fits.
import type { Entry, Scroll } from './state.js';
import { echoLine, outcomeLines, splitNewlines, wrapLine, type StyledLine } from './lines.js';

export interface Flattened {
  lines: StyledLine[];
  /** Index of each entry's first line, by entry id. */
  startOf: Map<number, number>;
}

// Entries never change once finished (a new object replaces them), so their lines are cached per object and width.
const cache = new WeakMap<Entry, { width: number; lines: StyledLine[] }>();

export function entryLines(e: Entry, width: number): StyledLine[] {
  const hit = cache.get(e);
  if (hit && hit.width === width) return hit.lines;
  let raw: StyledLine[];
  if (e.kind === 'notice') raw = [[{ text: e.text, role: e.tone }]];
  else {
    raw = [echoLine(e.line)];
    // A command that stopped for the Ctrl-C says so once, below: its E_CANCELLED error would only repeat it.
    const stoppedByCtrlC = e.cancel === 'cancelled' && e.outcome?.error?.code === 'E_CANCELLED';
    if (e.outcome && !stoppedByCtrlC) raw.push(...outcomeLines(e.outcome, e.explain, width));
    if (e.cancel === 'cancelled') raw.push([{ text: 'cancelled (Ctrl-C)', role: 'warn' }]);
    if (e.cancel === 'late') raw.push([{ text: 'Ctrl-C came too late: this command does not stop half-way; it finished (above)', role: 'warn' }]);
  }
  const lines = raw.flatMap(splitNewlines).flatMap((l) => wrapLine(l, width));
  cache.set(e, { width, lines });
  return lines;
}

export function flatten(entries: readonly Entry[], width: number): Flattened {
  const lines: StyledLine[] = [];
  const startOf = new Map<number, number>();
  for (const e of entries) {
    startOf.set(e.id, lines.length);
    for (const l of entryLines(e, width)) lines.push(l);
  }
  return { lines, startOf };
}

export interface Viewport {
  /** Lines to show, [start, end) of the flattened list. */
  start: number;
  end: number;
  /** Lines hidden above and below (each shown as one marker row). */
  above: number;
  below: number;
}

/**
 * The window of `total` lines in `height` rows. A marker row takes the place of a line when some are hidden above or
 * below. Wanted top: where the user paged to, or a reference page's first line, unless what follows it fits, then the
 * end shows.
 */
export function layoutViewport(total: number, height: number, wantedTop: number): Viewport {
  if (total <= height) return { start: 0, end: total, above: 0, below: 0 };
  const top = Math.max(0, Math.min(total, wantedTop));
  let rows = height - (top > 0 ? 1 : 0);
  if (top + rows >= total) {
    rows = height - 1;
    return { start: total - rows, end: total, above: total - rows, below: 0 };
  }
  rows = Math.max(1, rows - 1);
  return { start: top, end: top + rows, above: top, below: total - top - rows };
}

export function wantedTop(scroll: Scroll, flat: Flattened): number {
  if (scroll.kind === 'top') return scroll.line;
  if (scroll.kind === 'entry') return flat.startOf.get(scroll.entryId) ?? Number.MAX_SAFE_INTEGER;
  return Number.MAX_SAFE_INTEGER;
}
