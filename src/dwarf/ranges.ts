// Range lists: .debug_ranges (DWARF 2-4) and .debug_rnglists (DWARF 5), read into [start, end) address pairs.
//
// A DIE whose code is not one block (a function split into hot and cold parts, an inlined copy spread
// through its caller) lists its pieces here. Empty pieces (start == end, which gcc emits for code it
// optimised away) are dropped: no pc is in them.
import { Cursor, type SectionData } from './cursor.js';
import * as C from './constants.js';

export interface AddressRange {
  start: bigint;
  /** Exclusive. */
  end: bigint;
}

export function rangesContain(ranges: readonly AddressRange[], pc: bigint): boolean {
  for (const r of ranges) if (pc >= r.start && pc < r.end) return true;
  return false;
}

/**
 * The list at `offset`: `base` is the unit's base address (its root's low_pc), `resolveIndex` reads entry i of
 * the unit's .debug_addr (DW_RLE_*x entries).
 */
export function readRangeList(
  data: SectionData, offset: number, version: number, addressSize: number, base: bigint,
  resolveIndex: (index: number) => bigint,
): AddressRange[] {
  const cur = new Cursor(data, offset);
  const out: AddressRange[] = [];
  const push = (start: bigint, end: bigint) => {
    if (end > start) out.push({ start, end });
  };
  if (version < 5) {
    const max = addressSize === 8 ? 0xffffffffffffffffn : 0xffffffffn;
    for (;;) {
      const start = cur.address(addressSize);
      const end = cur.address(addressSize);
      if (start === 0n && end === 0n) return out;
      if (start === max) base = end;
      else push(base + start, base + end);
    }
  }
  for (;;) {
    const at = cur.pos;
    const kind = cur.u8();
    switch (kind) {
      case C.DW_RLE_end_of_list:
        return out;
      case C.DW_RLE_base_addressx:
        base = resolveIndex(cur.uleb());
        break;
      case C.DW_RLE_startx_endx: {
        const start = resolveIndex(cur.uleb());
        push(start, resolveIndex(cur.uleb()));
        break;
      }
      case C.DW_RLE_startx_length: {
        const start = resolveIndex(cur.uleb());
        push(start, start + cur.ulebBig());
        break;
      }
      case C.DW_RLE_offset_pair: {
        const start = cur.ulebBig();
        push(base + start, base + cur.ulebBig());
        break;
      }
      case C.DW_RLE_base_address:
        base = cur.address(addressSize);
        break;
      case C.DW_RLE_start_end: {
        const start = cur.address(addressSize);
        push(start, cur.address(addressSize));
        break;
      }
      case C.DW_RLE_start_length: {
        const start = cur.address(addressSize);
        push(start, start + cur.ulebBig());
        break;
      }
      default:
        throw cur.bad(`unknown range list entry kind ${kind}`, at);
    }
  }
}
