// partitionPoint: the binary search the symbol index and the ELF reader share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { partitionPoint } from '../src/sorted.js';

test('partitionPoint: lower and upper bounds over sorted numbers and strings, at both ends and among equal elements', () => {
  const xs = [1, 3, 3, 3, 7, 9];
  const lower = (k: number) => partitionPoint(xs.length, (i) => xs[i]! < k);
  const upper = (k: number) => partitionPoint(xs.length, (i) => xs[i]! <= k);
  assert.deepEqual([0, 1, 2, 3, 4, 8, 9, 10].map(lower), [0, 0, 1, 1, 4, 5, 5, 6]);
  assert.deepEqual([0, 1, 3, 8, 9, 10].map(upper), [0, 1, 4, 5, 6, 6]);
  assert.equal(partitionPoint(0, () => true), 0, 'empty');
  const names = ['abc', 'abd', 'b', 'ba'];
  assert.equal(partitionPoint(names.length, (i) => names[i]! < 'abd'), 1);
  assert.equal(partitionPoint(names.length, (i) => names[i]! < 'c'), 4);
  // Against a linear scan over random sorted arrays.
  for (let round = 0; round < 200; round++) {
    const a = Array.from({ length: round % 17 }, () => Math.floor(Math.random() * 10)).sort((p, q) => p - q);
    const k = Math.floor(Math.random() * 12) - 1;
    const linear = a.findIndex((v) => v >= k);
    assert.equal(partitionPoint(a.length, (i) => a[i]! < k), linear < 0 ? a.length : linear, `${a} ${k}`);
  }
});
