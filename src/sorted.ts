// Binary search over anything sorted, by a predicate: the one loop the symbol index, the ELF reader's name ranges
// and its address-holder scan each had a copy of.

/**
 * The first index in [0, length) where `before(index)` is false, `before` being true up to some point and false
 * after it (as "element < key" is along an ascending array): `length` when it is true throughout.
 */
export function partitionPoint(length: number, before: (index: number) => boolean): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
