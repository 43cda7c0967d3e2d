// Finding free address space within reach of a function, so a 5-byte jump or a relocated instruction reaches.
import type { MapEntry } from './maps.js';

const PAGE = 0x1000n;
/** Room left above [heap] so brk can still grow. */
const HEAP_CLEARANCE = 64n << 20n;
const LOWEST = 0x10000n;
const HIGHEST = 0x7ffffffff000n;

export function alignUp(v: bigint, a: bigint): bigint {
  return (v + a - 1n) & ~(a - 1n);
}

export function alignDown(v: bigint, a: bigint): bigint {
  return v & ~(a - 1n);
}

/**
 * A page-aligned free range of `size` bytes, every byte of which lies within `reach` of every address in `near`,
 * as close to them as possible. Undefined when none exists.
 */
export function findFreeRange(maps: readonly MapEntry[], size: bigint, near: bigint[], reach: bigint): bigint | undefined {
  size = alignUp(size, PAGE);
  const lo = near.reduce((m, a) => (a > m ? a : m), 0n) - reach + size;
  const hi = near.reduce((m, a) => (a < m ? a : m), HIGHEST) + reach - size;
  const windowLo = alignUp(lo > LOWEST ? lo : LOWEST, PAGE);
  const windowHi = alignDown(hi < HIGHEST ? hi : HIGHEST, PAGE);
  if (windowLo > windowHi) return undefined;
  const sorted = [...maps].sort((a, b) => (a.start < b.start ? -1 : 1));
  const gaps: [bigint, bigint][] = [];
  let prev = LOWEST;
  for (const m of sorted) {
    if (m.start > prev) gaps.push([prev, m.start]);
    const end = m.path === '[heap]' ? m.end + HEAP_CLEARANCE : m.end;
    if (end > prev) prev = end;
  }
  gaps.push([prev, HIGHEST]);
  const center = near[0];
  let best: bigint | undefined;
  const consider = (addr: bigint) => {
    if (addr < windowLo || addr > windowHi) return;
    if (best === undefined || abs(addr - center) < abs(best - center)) best = addr;
  };
  for (const [gs, ge] of gaps) {
    // Leave a guard page on each side so nothing grows into our pages unseen.
    const start = alignUp(gs + PAGE, PAGE);
    const end = alignDown(ge - PAGE, PAGE);
    if (end - start < size) continue;
    consider(start);
    consider(end - size);
    const clamped = center < start ? start : center > end - size ? end - size : alignDown(center, PAGE);
    consider(clamped);
    // Gaps that straddle the window.
    consider(windowLo >= start && windowLo + size <= end ? windowLo : -1n);
    consider(windowHi >= start && windowHi + size <= end ? windowHi : -1n);
  }
  return best;
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}
