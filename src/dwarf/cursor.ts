// A bounds-checked little-endian reader over one DWARF section: fixed integers, LEB128, offsets, strings.
//
// Every DWARF parser here reads through a Cursor, so a truncated or damaged section ends in one
// HotpatchError E_DWARF_BAD that names the file, the section and the offset, never in a RangeError from
// deep inside Buffer. Offsets are numbers (sections are far below 2^53 bytes); addresses are bigint like
// the ELF reader's. LEB128 values that do not fit a safe integer are refused where a number is asked for.
import { HotpatchError } from '../errors.js';

export function dwarfBad(path: string, section: string, offset: number, what: string): HotpatchError {
  return new HotpatchError('E_DWARF_BAD', `${path}: ${section} at 0x${offset.toString(16)}: ${what}`,
    'the debug information is damaged or of a kind hotpatch does not read; rebuild the program with gcc -g');
}

/** An unwind that cannot go on (no CFI for the pc, memory that cannot be read): not damage, the end of the road. */
export function unwindFailed(what: string): HotpatchError {
  return new HotpatchError('E_UNWIND', what, 'the frames above this one cannot be found from the call frame information');
}

/** A section's bytes with the names that go into error messages. */
export interface SectionData {
  readonly bytes: Buffer;
  /** ".debug_info", ".eh_frame", … */
  readonly name: string;
  /** The file the section came from. */
  readonly path: string;
  /** sh_addr: the section's virtual address (pc-relative pointers in .eh_frame count from it); 0 for .debug_*. */
  readonly address: bigint;
}

export class Cursor {
  pos: number;
  end: number;

  constructor(readonly data: SectionData, pos = 0, end = data.bytes.length) {
    if (pos < 0 || end > data.bytes.length || pos > end) {
      throw dwarfBad(data.path, data.name, pos, `a range up to 0x${end.toString(16)} lies outside the section (${data.bytes.length} bytes)`);
    }
    this.pos = pos;
    this.end = end;
  }

  /** A cursor over [pos, pos + length) of the same section, checked against this one's end. */
  sub(length: number): Cursor {
    this.need(length, 'a nested block');
    return new Cursor(this.data, this.pos, this.pos + length);
  }

  bad(what: string, at = this.pos): HotpatchError {
    return dwarfBad(this.data.path, this.data.name, at, what);
  }

  need(count: number, what: string): void {
    if (count < 0 || this.pos + count > this.end) {
      throw this.bad(`${what} (${count} bytes) runs past the end of its data at 0x${this.end.toString(16)}`);
    }
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw this.bad('a byte runs past the end of its data');
    return this.data.bytes[this.pos++];
  }

  u16(): number {
    this.need(2, 'a 2-byte value');
    const v = this.data.bytes.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3, 'a 3-byte value');
    const b = this.data.bytes;
    const v = b[this.pos] | (b[this.pos + 1] << 8) | (b[this.pos + 2] << 16);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4, 'a 4-byte value');
    const v = this.data.bytes.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i8(): number {
    const v = this.u8();
    return v >= 0x80 ? v - 0x100 : v;
  }

  i16(): number {
    this.need(2, 'a 2-byte value');
    const v = this.data.bytes.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  i32(): number {
    this.need(4, 'a 4-byte value');
    const v = this.data.bytes.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8, 'an 8-byte value');
    const v = this.data.bytes.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  i64(): bigint {
    this.need(8, 'an 8-byte value');
    const v = this.data.bytes.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** An 8-byte value that must be a safe number (a length or an offset in a 64-bit DWARF section). */
  u64Number(what: string): number {
    const at = this.pos;
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.bad(`${what} 0x${v.toString(16)} is too large`, at);
    return Number(v);
  }

  /** A section offset of the unit's size: 4 bytes in 32-bit DWARF, 8 in 64-bit DWARF. */
  offset(is64: boolean): number {
    return is64 ? this.u64Number('an offset') : this.u32();
  }

  /** A target address of `size` bytes (4 or 8; 2 and 1 are legal in old .debug_frame). */
  address(size: number): bigint {
    switch (size) {
      case 8: return this.u64();
      case 4: return BigInt(this.u32());
      case 2: return BigInt(this.u16());
      case 1: return BigInt(this.u8());
      default: throw this.bad(`address size ${size} is not supported`);
    }
  }

  /** ULEB128 as a number; refuses values past 2^53 (indexes, lengths and offsets never get there). */
  uleb(): number {
    const b = this.data.bytes;
    const start = this.pos;
    let result = 0;
    let scale = 1;
    // Seven bytes hold 49 bits, exact in a double; longer (or zero-padded) encodings take the bigint path.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    this.pos = start;
    const big = this.ulebBig();
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw this.bad('a LEB128 number is too large', start);
    return Number(big);
  }

  /** SLEB128 as a number (data alignment factors, line advances, CFA offsets). */
  sleb(): number {
    const b = this.data.bytes;
    const start = this.pos;
    let result = 0;
    let scale = 1;
    // As in uleb: up to seven bytes are exact in a double.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return byte & 0x40 ? result - scale : result;
    }
    this.pos = start;
    const v = this.slebBig();
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw this.bad('a LEB128 number is too large', start);
    return Number(v);
  }

  /** ULEB128 as a number when it fits one exactly, else as a bigint (attribute constants of any size). */
  ulebValue(): number | bigint {
    const start = this.pos;
    const b = this.data.bytes;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    this.pos = start;
    const v = this.ulebBig();
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  /** SLEB128 as a number when it fits one exactly, else as a bigint. */
  slebValue(): number | bigint {
    const start = this.pos;
    const b = this.data.bytes;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return byte & 0x40 ? result - scale : result;
    }
    this.pos = start;
    const v = this.slebBig();
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  ulebBig(): bigint {
    const b = this.data.bytes;
    let result = 0n;
    let shift = 0n;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) return result;
      if (shift > 640n) throw this.bad('a LEB128 number is implausibly long', start);
    }
  }

  slebBig(): bigint {
    const b = this.data.bytes;
    let result = 0n;
    let shift = 0n;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      const byte = b[this.pos++];
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) {
        if (byte & 0x40) result -= 1n << shift;
        return result;
      }
      if (shift > 640n) throw this.bad('a LEB128 number is implausibly long', start);
    }
  }

  /** Skips a LEB128 without decoding it. */
  skipLeb(): void {
    const b = this.data.bytes;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw this.bad('a LEB128 number runs past the end of its data', start);
      if ((b[this.pos++] & 0x80) === 0) return;
    }
  }

  /** A NUL-terminated string (UTF-8), the cursor left after the NUL. */
  cstring(): string {
    const b = this.data.bytes;
    const nul = b.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw this.bad('a string has no terminating NUL');
    const s = b.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  skipCstring(): void {
    const nul = this.data.bytes.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw this.bad('a string has no terminating NUL');
    this.pos = nul + 1;
  }

  bytes(count: number): Buffer {
    this.need(count, 'a block');
    const out = this.data.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return out;
  }

  skip(count: number): void {
    this.need(count, 'a block');
    this.pos += count;
  }

  /**
   * An initial length: 4 bytes, or 0xffffffff then 8 bytes for 64-bit DWARF. Returns the length, whether the
   * unit is 64-bit, and the offset where the unit ends (checked against this cursor's end).
   */
  initialLength(what: string): { length: number; is64: boolean; end: number } {
    const at = this.pos;
    let length = this.u32();
    let is64 = false;
    if (length === 0xffffffff) {
      length = this.u64Number(`the length of ${what}`);
      is64 = true;
    } else if (length >= 0xfffffff0) {
      throw this.bad(`${what} has a reserved length 0x${length.toString(16)}`, at);
    }
    const end = this.pos + length;
    if (end > this.end) throw this.bad(`${what} (${length} bytes) runs past the end of the section`, at);
    return { length, is64, end };
  }
}

/** A string from a string section (.debug_str, .debug_line_str) at `offset`. */
export function stringAt(data: SectionData, offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= data.bytes.length) {
    throw dwarfBad(data.path, data.name, offset, 'a string offset lies outside the section');
  }
  return new Cursor(data, offset).cstring();
}
