// Attribute forms: how many bytes each takes, how to read its raw value, how to skip it (DWARF 2 to 5, GNU).
//
// A raw value is what the bytes say, before any section is consulted: an index for strx/addrx/rnglistx,
// an offset for strp/line_strp/sec_offset, a unit-relative offset for ref1..ref_udata. units.ts turns raw
// values into strings, addresses and DIE offsets when someone asks, so walking past a DIE costs no lookups.
import * as F from './constants.js';
import type { Cursor } from './cursor.js';

/** The sizes a form's length depends on, fixed for one unit. */
export interface FormContext {
  version: number;
  addressSize: number;
  is64: boolean;
}

/** number for most forms; bigint for addresses and 8-byte data; Buffer for blocks; string for DW_FORM_string. */
export type RawValue = number | bigint | Buffer | string;

/** Size in bytes when the form's size does not depend on its data, else -1. */
export function fixedFormSize(form: number, ctx: FormContext): number {
  switch (form) {
    case F.DW_FORM_flag_present:
    case F.DW_FORM_implicit_const:
      return 0;
    case F.DW_FORM_data1: case F.DW_FORM_ref1: case F.DW_FORM_flag: case F.DW_FORM_strx1: case F.DW_FORM_addrx1:
      return 1;
    case F.DW_FORM_data2: case F.DW_FORM_ref2: case F.DW_FORM_strx2: case F.DW_FORM_addrx2:
      return 2;
    case F.DW_FORM_strx3: case F.DW_FORM_addrx3:
      return 3;
    case F.DW_FORM_data4: case F.DW_FORM_ref4: case F.DW_FORM_strx4: case F.DW_FORM_addrx4: case F.DW_FORM_ref_sup4:
      return 4;
    case F.DW_FORM_data8: case F.DW_FORM_ref8: case F.DW_FORM_ref_sig8: case F.DW_FORM_ref_sup8:
      return 8;
    case F.DW_FORM_data16:
      return 16;
    case F.DW_FORM_addr:
      return ctx.addressSize;
    case F.DW_FORM_ref_addr:
      // DWARF 2 made ref_addr address-sized; 3 and later made it offset-sized.
      return ctx.version <= 2 ? ctx.addressSize : ctx.is64 ? 8 : 4;
    case F.DW_FORM_strp: case F.DW_FORM_line_strp: case F.DW_FORM_sec_offset: case F.DW_FORM_strp_sup:
    case F.DW_FORM_GNU_ref_alt: case F.DW_FORM_GNU_strp_alt:
      return ctx.is64 ? 8 : 4;
    default:
      return -1;
  }
}

/** Whether `form` is one this reader knows (an unknown one cannot be skipped, so its unit cannot be read). */
export function isKnownForm(form: number): boolean {
  return (form >= F.DW_FORM_addr && form <= F.DW_FORM_addrx4 && form !== 0x02)
    || form === F.DW_FORM_GNU_addr_index || form === F.DW_FORM_GNU_str_index
    || form === F.DW_FORM_GNU_ref_alt || form === F.DW_FORM_GNU_strp_alt;
}

function unsignedOfSize(cur: Cursor, size: number): number | bigint {
  switch (size) {
    case 1: return cur.u8();
    case 2: return cur.u16();
    case 4: return cur.u32();
    default: return cur.u64();
  }
}

/** Reads one attribute value; `implicitConst` is the abbreviation's value for DW_FORM_implicit_const. */
export function readForm(cur: Cursor, form: number, ctx: FormContext, implicitConst: bigint | undefined): RawValue {
  switch (form) {
    case F.DW_FORM_addr: return cur.address(ctx.addressSize);
    case F.DW_FORM_data1: case F.DW_FORM_ref1: case F.DW_FORM_flag: case F.DW_FORM_strx1: case F.DW_FORM_addrx1:
      return cur.u8();
    case F.DW_FORM_data2: case F.DW_FORM_ref2: case F.DW_FORM_strx2: case F.DW_FORM_addrx2:
      return cur.u16();
    case F.DW_FORM_strx3: case F.DW_FORM_addrx3:
      return cur.u24();
    case F.DW_FORM_data4: case F.DW_FORM_ref4: case F.DW_FORM_strx4: case F.DW_FORM_addrx4: case F.DW_FORM_ref_sup4:
      return cur.u32();
    case F.DW_FORM_data8: case F.DW_FORM_ref_sig8: case F.DW_FORM_ref_sup8:
      return cur.u64();
    case F.DW_FORM_ref8:
      return cur.u64Number('a DIE reference');
    case F.DW_FORM_data16:
      return cur.bytes(16);
    case F.DW_FORM_sdata: return cur.slebValue();
    case F.DW_FORM_udata: return cur.ulebValue();
    case F.DW_FORM_ref_udata: case F.DW_FORM_strx: case F.DW_FORM_addrx: case F.DW_FORM_loclistx: case F.DW_FORM_rnglistx:
    case F.DW_FORM_GNU_addr_index: case F.DW_FORM_GNU_str_index:
      return cur.uleb();
    case F.DW_FORM_string:
      return cur.cstring();
    case F.DW_FORM_strp: case F.DW_FORM_line_strp: case F.DW_FORM_sec_offset: case F.DW_FORM_strp_sup:
    case F.DW_FORM_GNU_ref_alt: case F.DW_FORM_GNU_strp_alt:
      return cur.offset(ctx.is64);
    case F.DW_FORM_ref_addr: {
      const v = unsignedOfSize(cur, fixedFormSize(form, ctx));
      return typeof v === 'bigint' ? Number(v) : v;
    }
    case F.DW_FORM_block1: return cur.bytes(cur.u8());
    case F.DW_FORM_block2: return cur.bytes(cur.u16());
    case F.DW_FORM_block4: return cur.bytes(cur.u32());
    case F.DW_FORM_block: case F.DW_FORM_exprloc: return cur.bytes(cur.uleb());
    case F.DW_FORM_flag_present: return 1;
    case F.DW_FORM_implicit_const: {
      const v = implicitConst ?? 0n;
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case F.DW_FORM_indirect: {
      const actual = cur.uleb();
      if (actual === F.DW_FORM_indirect || actual === F.DW_FORM_implicit_const) throw cur.bad(`DW_FORM_indirect names form 0x${actual.toString(16)}`);
      return readForm(cur, actual, ctx, implicitConst);
    }
    default:
      throw cur.bad(`unknown attribute form 0x${form.toString(16)}`);
  }
}

/** Moves past one attribute value without decoding it. */
export function skipForm(cur: Cursor, form: number, ctx: FormContext): void {
  const size = fixedFormSize(form, ctx);
  if (size >= 0) {
    cur.skip(size);
    return;
  }
  switch (form) {
    case F.DW_FORM_sdata: case F.DW_FORM_udata: case F.DW_FORM_ref_udata: case F.DW_FORM_strx: case F.DW_FORM_addrx:
    case F.DW_FORM_loclistx: case F.DW_FORM_rnglistx: case F.DW_FORM_GNU_addr_index: case F.DW_FORM_GNU_str_index:
      cur.skipLeb();
      return;
    case F.DW_FORM_string: cur.skipCstring(); return;
    case F.DW_FORM_block1: cur.skip(cur.u8()); return;
    case F.DW_FORM_block2: cur.skip(cur.u16()); return;
    case F.DW_FORM_block4: cur.skip(cur.u32()); return;
    case F.DW_FORM_block: case F.DW_FORM_exprloc: cur.skip(cur.uleb()); return;
    case F.DW_FORM_indirect: {
      const actual = cur.uleb();
      if (actual === F.DW_FORM_indirect || actual === F.DW_FORM_implicit_const) throw cur.bad(`DW_FORM_indirect names form 0x${actual.toString(16)}`);
      skipForm(cur, actual, ctx);
      return;
    }
    default:
      throw cur.bad(`unknown attribute form 0x${form.toString(16)}`);
  }
}
