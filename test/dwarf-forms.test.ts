// src/dwarf on hand-made DWARF 5: the forms gcc does not emit outside split DWARF (strx1-4, addrx1-4, rnglistx, loclistx,
// data16, implicit_const, ref_udata), each unit base (str_offsets, addr, rnglists), and DW_AT_specification names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ElfFile, ElfSection } from '../src/elf/types.js';
import { openDwarf } from '../src/dwarf/index.js';

/** Little-endian bytes, LEB128 and offsets into a growing buffer. */
class Bytes {
  private parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  u8(...values: number[]): this {
    this.parts.push(...values.map((v) => v & 0xff));
    return this;
  }
  u16(v: number): this {
    return this.u8(v, v >> 8);
  }
  u24(v: number): this {
    return this.u8(v, v >> 8, v >> 16);
  }
  u32(v: number): this {
    return this.u8(v, v >> 8, v >> 16, v >>> 24);
  }
  u64(v: bigint): this {
    for (let i = 0n; i < 8n; i++) this.u8(Number((v >> (8n * i)) & 0xffn));
    return this;
  }
  uleb(v: number): this {
    do {
      const byte = v & 0x7f;
      v = Math.floor(v / 128);
      this.u8(v ? byte | 0x80 : byte);
    } while (v);
    return this;
  }
  sleb(v: number): this {
    for (;;) {
      const byte = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && !(byte & 0x40)) || (v === -1 && byte & 0x40);
      this.u8(done ? byte : byte | 0x80);
      if (done) return this;
    }
  }
  cstring(s: string): this {
    return this.u8(...Buffer.from(s, 'utf8'), 0);
  }
  patchU32(at: number, v: number): void {
    for (let i = 0; i < 4; i++) this.parts[at + i] = (v >>> (8 * i)) & 0xff;
  }
  buffer(): Buffer {
    return Buffer.from(this.parts);
  }
}

// Numbers from the DWARF 5 standard, written out here so the test does not lean on src/dwarf/constants.ts.
const TAG = { compile_unit: 0x11, subprogram: 0x2e, inlined_subroutine: 0x1d, lexical_block: 0x0b };
const AT = {
  name: 0x03, low_pc: 0x11, high_pc: 0x12, inline: 0x20, abstract_origin: 0x31, declaration: 0x3c, specification: 0x47,
  ranges: 0x55, call_file: 0x58, call_line: 0x59, entry_pc: 0x52, frame_base: 0x40, str_offsets_base: 0x72,
  addr_base: 0x73, rnglists_base: 0x74, loclists_base: 0x8c, vendor: 0x2101,
};
const FORM = {
  addr: 0x01, data2: 0x05, data4: 0x06, udata: 0x0f, ref4: 0x13, ref_udata: 0x15, sec_offset: 0x17, flag_present: 0x19,
  strx: 0x1a, addrx: 0x1b, data16: 0x1e, implicit_const: 0x21, loclistx: 0x22, rnglistx: 0x23,
  strx1: 0x25, strx2: 0x26, strx3: 0x27, strx4: 0x28, addrx1: 0x29, addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c,
};

type Spec = [number, number, number?];

function abbrevs(): Buffer {
  const b = new Bytes();
  const entry = (code: number, tag: number, children: boolean, specs: Spec[]) => {
    b.uleb(code).uleb(tag).u8(children ? 1 : 0);
    for (const [name, form, value] of specs) {
      b.uleb(name).uleb(form);
      if (form === FORM.implicit_const) b.sleb(value!);
    }
    b.u8(0, 0);
  };
  entry(1, TAG.compile_unit, true, [[AT.name, FORM.strx1], [AT.str_offsets_base, FORM.sec_offset], [AT.addr_base, FORM.sec_offset],
    [AT.rnglists_base, FORM.sec_offset], [AT.low_pc, FORM.addr], [AT.ranges, FORM.rnglistx], [AT.vendor, FORM.data16]]);
  // A declaration named with strx4, and the abstract instance that points at it: the name comes through the chain.
  entry(2, TAG.subprogram, false, [[AT.name, FORM.strx4], [AT.declaration, FORM.flag_present]]);
  entry(3, TAG.subprogram, false, [[AT.specification, FORM.ref_udata], [AT.inline, FORM.implicit_const, 3]]);
  entry(4, TAG.subprogram, true, [[AT.name, FORM.strx3], [AT.low_pc, FORM.addrx1], [AT.high_pc, FORM.data4], [AT.frame_base, FORM.loclistx]]);
  entry(5, TAG.inlined_subroutine, false, [[AT.abstract_origin, FORM.ref_udata], [AT.low_pc, FORM.addrx], [AT.high_pc, FORM.udata],
    [AT.call_file, FORM.implicit_const, 1], [AT.call_line, FORM.data2]]);
  entry(6, TAG.lexical_block, true, [[AT.ranges, FORM.sec_offset]]);
  entry(7, TAG.inlined_subroutine, false, [[AT.abstract_origin, FORM.ref4], [AT.ranges, FORM.rnglistx], [AT.entry_pc, FORM.addrx2],
    [AT.call_file, FORM.implicit_const, 1], [AT.call_line, FORM.udata], [AT.name, FORM.strx2]]);
  entry(8, TAG.subprogram, false, [[AT.name, FORM.strx], [AT.low_pc, FORM.addrx4], [AT.high_pc, FORM.data4]]);
  entry(9, TAG.subprogram, false, [[AT.name, FORM.strx1], [AT.low_pc, FORM.addrx3], [AT.high_pc, FORM.data4]]);
  b.u8(0);
  return b.buffer();
}

/** The sections of one unit: outer() at 0x1000 holds two copies of leaf(), one plain, one in two pieces in a block. */
function sections(): Record<string, Buffer> {
  const strings = ['unit.c', 'leaf', 'outer', 'other', 'fourth'];
  const str = new Bytes();
  const strOffsets = new Bytes().u32(4 + 4 * strings.length).u16(5).u16(0);
  for (const s of strings) {
    strOffsets.u32(str.length);
    str.cstring(s);
  }
  // Entries: 0 outer, 1 first copy, 2 second copy's entry, 3 unit base, 4 other, 5 fourth.
  const addresses = [0x1000n, 0x1010n, 0x1020n, 0x1000n, 0x2000n, 0x3000n];
  const addr = new Bytes().u32(4 + 8 * addresses.length).u16(5).u8(8, 0);
  for (const a of addresses) addr.u64(a);
  // Range lists: [0] the unit (offset pair from the unit base, then an absolute pair), [1] the second copy
  // (startx_length, and a base_addressx + offset_pair), [2] the lexical block (start_end, referenced by sec_offset).
  const lists = new Bytes();
  const offsets: number[] = [];
  offsets.push(lists.length);
  lists.u8(0x04).uleb(0).uleb(0x100).u8(0x06).u64(0x2000n).u64(0x3010n).u8(0x00);
  offsets.push(lists.length);
  lists.u8(0x03).uleb(2).uleb(4).u8(0x01).uleb(3).u8(0x04).uleb(0x30).uleb(0x38).u8(0x00);
  offsets.push(lists.length);
  lists.u8(0x06).u64(0x1018n).u64(0x1040n).u8(0x00);
  const rnglistsHeader = 12;
  const rnglists = new Bytes().u32(8 + 4 * offsets.length + lists.length).u16(5).u8(8, 0).u32(offsets.length);
  for (const o of offsets) rnglists.u32(4 * offsets.length + o);
  const listBytes = lists.buffer();
  rnglists.u8(...listBytes);

  const info = new Bytes().u32(0).u16(5).u8(0x01, 8).u32(0);
  const unitStart = 0;
  const at = () => info.length - unitStart;
  info.uleb(1).u8(0).u32(8).u32(8).u32(rnglistsHeader).u64(0x1000n).uleb(0).u8(...new Array(16).fill(0xab));
  const declaration = at();
  info.uleb(2).u32(1);
  const abstract = at();
  info.uleb(3).uleb(declaration);
  info.uleb(4).u24(2).u8(0).u32(0x100).uleb(0);
  info.uleb(5).uleb(abstract).uleb(1).uleb(8).u16(12);
  info.uleb(6).u32(rnglistsHeader + 4 * offsets.length + offsets[2]);
  info.uleb(7).u32(abstract).uleb(1).u16(2).uleb(34).u16(1);
  info.u8(0); // end of the block's children
  info.u8(0); // end of outer's children
  info.uleb(8).uleb(3).u32(4).u32(0x10);
  info.uleb(9).u8(4).u24(5).u32(0x10);
  info.u8(0); // end of the unit's children
  info.patchU32(0, info.length - 4);
  return {
    '.debug_info': info.buffer(), '.debug_abbrev': abbrevs(), '.debug_str': str.buffer(), '.debug_str_offsets': strOffsets.buffer(),
    '.debug_addr': addr.buffer(), '.debug_rnglists': rnglists.buffer(),
  };
}

/** An ElfFile with only the sections above: what openDwarf reads through readSection. */
function fakeElf(contents: Record<string, Buffer>): ElfFile {
  const sections: ElfSection[] = Object.entries(contents).map(([name, bytes]) => ({
    name, type: 1, flags: 0n, addr: 0n, offset: 0n, size: BigInt(bytes.length), link: 0, info: 0, entsize: 0n,
  }));
  return {
    path: '<hand-made>', type: 3, machine: 62, entry: 0n, segments: [], sections, hasSymtab: false,
    symbols: () => [], dynamicSymbols: () => [], dynamic: () => undefined, relocations: () => [],
    readVirtual: () => undefined, readSection: (s) => contents[s.name],
  };
}

const range = (r: { start: bigint; end: bigint }) => `0x${r.start.toString(16)}-0x${r.end.toString(16)}`;

test('hand-made DWARF 5: strx/addrx of every size, rnglistx and sec_offset range lists, implicit_const, data16, loclistx', () => {
  const dwarf = openDwarf(fakeElf(sections()), { debugFile: null });
  const cases: [bigint, string[]][] = [
    [0x1000n, ['outer']],
    [0x1010n, ['leaf', 'outer']],
    [0x1017n, ['leaf', 'outer']],
    [0x1020n, ['leaf', 'outer']],
    [0x1023n, ['leaf', 'outer']],
    [0x1024n, ['outer']],
    [0x1030n, ['leaf', 'outer']],
    [0x1038n, ['outer']],
    [0x2005n, ['other']],
    [0x3008n, ['fourth']],
    [0x3010n, []],
    [0x4000n, []],
  ];
  for (const [pc, names] of cases) {
    assert.deepEqual(dwarf.functionAt(pc).map((f) => f.name), names, `0x${pc.toString(16)}`);
  }
  const copies = dwarf.inlinedCopies('leaf');
  assert.deepEqual(copies.map((c) => [c.caller, c.outerFunction, c.callSite?.line, c.ranges.map(range), c.entryPc]), [
    ['outer', 'outer', 12, ['0x1010-0x1018'], 0x1010n],
    ['outer', 'outer', 34, ['0x1020-0x1024', '0x1030-0x1038'], 0x1020n],
  ]);
  assert.equal(copies[0].unit, 'unit.c');
  assert.deepEqual(dwarf.inlinedCopies(0x1000n), [], 'outer itself is never inlined');
  assert.equal(dwarf.functionAt(0x1000n)[0].entryPc, 0x1000n);
  // No line table: no lines, and no error.
  assert.equal(dwarf.lineFor(0x1010n), undefined);
  assert.deepEqual(dwarf.addressesFor('unit.c', 1), []);
});
