// Long work in slices (src/slices.ts): the same results as at once, a cancel that drops the work, and an event loop
// that stays free while node's own symbols are read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finish, inSlices, sortInSlices, type Sliced } from '../src/slices.js';
import { openElf } from '../src/elf/reader.js';
import { SymbolIndex } from '../src/symbols/index.js';

test('sortInSlices: the order of a stable native sort', () => {
  const items = Array.from({ length: 5000 }, (_, i) => ({ key: (i * 7919) % 613, i }));
  const byKey = (a: { key: number }, b: { key: number }) => a.key - b.key;
  assert.deepEqual(finish(sortInSlices(items, byKey)), [...items].sort(byKey));
  assert.deepEqual(finish(sortInSlices([], byKey)), []);
});

test('inSlices: an aborted signal stops the work with E_CANCELLED, and what it made is never kept', async () => {
  let kept: number | undefined;
  function* work(): Sliced<number> {
    let sum = 0;
    for (let i = 0; i < 1e7; i++) {
      sum += i;
      if (i % 1000 === 0) yield;
    }
    kept = sum;
    return sum;
  }
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 5);
  await assert.rejects(inSlices(work(), stop.signal, 'stopped', 1), { code: 'E_CANCELLED', message: 'stopped' });
  assert.equal(kept, undefined);
});

test("reading node's symbols in slices gives what reading them at once gives, and never holds the event loop long", async (t) => {
  const sliced = openElf(process.execPath);
  const atOnce = openElf(process.execPath).symbols();
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  last = started;
  const symbols = await inSlices(sliced.symbolsSliced!(), undefined, 'cancelled');
  const index = new SymbolIndex();
  await inSlices(index.adding({ name: 'node', path: process.execPath, loadBias: 0n, start: 0n, end: 1n << 47n, maps: [] }, symbols), undefined, 'cancelled');
  await inSlices(index.preparing(), undefined, 'cancelled');
  clearInterval(ticker);
  t.diagnostic(`${symbols.length} symbols of ${process.execPath} read, indexed and sorted in ${(performance.now() - started).toFixed(0)} ms; longest event-loop block ${longest.toFixed(0)} ms`);
  assert.equal(symbols.length, atOnce.length);
  assert.deepEqual(symbols.slice(0, 50), atOnce.slice(0, 50));
  assert.equal(sliced.symbols(), symbols, 'kept for symbols() once whole');
  // Generous for a busy machine (the aim is well under 100 ms; a slice is 20 ms): one whole read would take 300+.
  assert.ok(longest < 250, `the event loop was held for ${longest.toFixed(0)} ms`);
});
