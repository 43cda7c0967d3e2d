// Long work in slices: a generator that yields at points where it may pause, run either at once (batch mode, tests) or
// a slice at a time with the event loop turning in between (the console: the spinner moves, keys and Ctrl-C are heard).
import { HotpatchError } from './errors.js';

/**
 * Work written as a generator: each bare `yield` says "a pause here is safe". It must publish nothing (fill no cache,
 * set no shared field) before it returns, so that work dropped half-way leaves nothing half-built behind.
 */
export type Sliced<T> = Generator<void, T, void>;

/** How many table entries (symbols, names) a loop handles between two `yield`s: a fraction of a millisecond of work. */
export const ENTRIES_PER_YIELD = 2048;

/** Runs the work to its end without pausing. */
export function finish<T>(work: Sliced<T>): T {
  for (;;) {
    const step = work.next();
    if (step.done) return step.value;
  }
}

/**
 * How long a slice may hold the event loop. Well under the 100 ms a key may wait before it feels ignored, with room
 * for a slower machine, a cold JIT and one entry batch that overruns.
 */
export const SLICE_MS = 20;

/**
 * Runs the work a slice at a time: after each SLICE_MS of it, one turn of the event loop (setImmediate: timers, I/O
 * and keys run before the next slice). An aborted `signal` stops it at the next pause with E_CANCELLED and `cancelled`
 * as the message; the generator is closed and its partial results dropped.
 */
export async function inSlices<T>(work: Sliced<T>, signal: AbortSignal | undefined, cancelled: string, sliceMs = SLICE_MS): Promise<T> {
  let sliceStart = performance.now();
  try {
    for (;;) {
      if (signal?.aborted) throw new HotpatchError('E_CANCELLED', cancelled);
      const step = work.next();
      if (step.done) return step.value;
      if (performance.now() - sliceStart >= sliceMs) {
        await nextTurn();
        sliceStart = performance.now();
      }
    }
  } finally {
    work.return(undefined as T);
  }
}

/** One turn of the event loop. */
export const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Elements sorted natively at once before the merges: a fraction of a millisecond each. */
const RUN = 512;

/**
 * A stable sort in slices (a merge sort: runs of RUN sorted natively, then merged pass by pass, pausing every
 * ENTRIES_PER_YIELD elements), for arrays whose one native sort would hold the event loop for hundreds of ms.
 * Returns a new array; `items` is not changed.
 */
export function* sortInSlices<T>(items: readonly T[], compare: (a: T, b: T) => number): Sliced<T[]> {
  const n = items.length;
  let from: T[] = new Array<T>(n);
  for (let start = 0; start < n; start += RUN) {
    const run = items.slice(start, start + RUN).sort(compare);
    for (let i = 0; i < run.length; i++) from[start + i] = run[i]!;
    if (start % ENTRIES_PER_YIELD === 0) yield;
  }
  let to: T[] = new Array<T>(n);
  let merged = 0;
  for (let width = RUN; width < n; width *= 2) {
    for (let left = 0; left < n; left += 2 * width) {
      const middle = Math.min(left + width, n);
      const end = Math.min(left + 2 * width, n);
      let i = left;
      let j = middle;
      let k = left;
      while (i < middle && j < end) {
        to[k++] = compare(from[j]!, from[i]!) < 0 ? from[j++]! : from[i++]!;
        if (++merged % ENTRIES_PER_YIELD === 0) yield;
      }
      while (i < middle) to[k++] = from[i++]!;
      while (j < end) to[k++] = from[j++]!;
    }
    [from, to] = [to, from];
  }
  return from;
}
