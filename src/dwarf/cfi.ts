// Call frame information: CIEs and FDEs of .eh_frame and .debug_frame, their pointer encodings, and finding the FDE of a pc.
//
// The two sections share a layout with small differences: .eh_frame's CIE id is 0 and an FDE's CIE pointer
// counts back from itself, its pointers are encoded as the CIE's 'R' augmentation says (pc-relative sdata4 in
// practice); .debug_frame's CIE id is all ones, its CIE pointer is a section offset and its pointers are plain
// addresses. A pc is found through .eh_frame_hdr's sorted table when there is one (a binary search over the
// table in place, no FDE parsed but the one asked for), otherwise every FDE's range is read once and sorted.
import { Cursor, dwarfBad, type SectionData } from './cursor.js';
import * as C from './constants.js';

export type FrameSectionKind = '.eh_frame' | '.debug_frame';

export interface Cie {
  offset: number;
  version: number;
  augmentation: string;
  codeAlign: number;
  dataAlign: number;
  returnAddressRegister: number;
  addressSize: number;
  /** How FDE addresses are encoded ('R'; absptr otherwise). */
  fdeEncoding: number;
  lsdaEncoding: number;
  /** 'S': frames of this CIE are signal frames, whose pc is exact rather than a return address. */
  signalFrame: boolean;
  /** The initial instructions: [start, end) in the section. */
  instructions: [number, number];
}

export interface Fde {
  offset: number;
  cie: Cie;
  start: bigint;
  /** Exclusive. */
  end: bigint;
  instructions: [number, number];
  /** The language-specific data area, when the CIE has 'L' and the FDE names one. */
  lsda?: bigint;
}

/** The bases of pointer encodings other than pc-relative. */
export interface PointerBases {
  /** DW_EH_PE_textrel: the start of .text. */
  text?: bigint;
  /** DW_EH_PE_datarel: the start of .got (in .eh_frame_hdr: the header itself). */
  data?: bigint;
}

/** Reads a pointer in `encoding`; undefined for DW_EH_PE_omit or an indirect pointer it cannot follow. */
export function readEncodedPointer(
  cur: Cursor, encoding: number, addressSize: number, bases: PointerBases, funcBase?: bigint,
): bigint | undefined {
  if (encoding === C.DW_EH_PE_omit) return undefined;
  const fieldAddress = cur.data.address + BigInt(cur.pos);
  const application = encoding & 0x70;
  if (application === C.DW_EH_PE_aligned) {
    const misalign = Number(fieldAddress % BigInt(addressSize));
    if (misalign) cur.skip(addressSize - misalign);
    return cur.address(addressSize);
  }
  let value = readEncodedValue(cur, encoding & 0x0f, addressSize);
  switch (application) {
    case C.DW_EH_PE_absptr: break;
    case C.DW_EH_PE_pcrel: value += fieldAddress; break;
    case C.DW_EH_PE_textrel:
      if (bases.text === undefined) throw cur.bad('a text-relative pointer, and no .text to count from');
      value += bases.text;
      break;
    case C.DW_EH_PE_datarel:
      if (bases.data === undefined) throw cur.bad('a data-relative pointer, and no data base to count from');
      value += bases.data;
      break;
    case C.DW_EH_PE_funcrel:
      if (funcBase === undefined) throw cur.bad('a function-relative pointer outside an FDE');
      value += funcBase;
      break;
    default:
      throw cur.bad(`pointer encoding 0x${encoding.toString(16)} is unknown`);
  }
  const mask = addressSize === 8 ? 0xffffffffffffffffn : 0xffffffffn;
  value &= mask;
  // An indirect pointer names the place that holds the pointer (the personality routine's GOT entry): the caller
  // gets the place, which is what it needs to read the value at run time.
  return value;
}

/** The value of a pointer encoding's format (its low four bits), sign-extended for the sdata forms. */
function readEncodedValue(cur: Cursor, format: number, addressSize: number): bigint {
  switch (format) {
    case C.DW_EH_PE_absptr: return cur.address(addressSize);
    case C.DW_EH_PE_uleb128: return cur.ulebBig();
    case C.DW_EH_PE_udata2: return BigInt(cur.u16());
    case C.DW_EH_PE_udata4: return BigInt(cur.u32());
    case C.DW_EH_PE_udata8: return cur.u64();
    case C.DW_EH_PE_sleb128: return cur.slebBig();
    case C.DW_EH_PE_sdata2: return BigInt(cur.i16());
    case C.DW_EH_PE_sdata4: return BigInt(cur.i32());
    case C.DW_EH_PE_sdata8: return cur.i64();
    default: throw cur.bad(`pointer format 0x${format.toString(16)} is unknown`);
  }
}

interface FdeSpan {
  start: bigint;
  end: bigint;
  offset: number;
}

/** One frame section: its CIEs (parsed once each) and the lookup of a pc's FDE. */
export class FrameSection {
  private readonly cies = new Map<number, Cie>();
  private spans?: FdeSpan[];

  constructor(
    readonly data: SectionData,
    readonly kind: FrameSectionKind,
    readonly addressSize: number,
    readonly bases: PointerBases,
    private readonly header?: SectionData,
  ) {}

  /** The FDE whose range holds `pc`, or undefined. */
  fdeFor(pc: bigint): Fde | undefined {
    const viaHeader = this.header && this.searchHeader(this.header, pc);
    if (viaHeader !== undefined) return viaHeader === null ? undefined : viaHeader;
    const spans = this.allSpans();
    let lo = 0;
    let hi = spans.length - 1;
    let found: FdeSpan | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].start <= pc) {
        found = spans[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // Overlapping FDEs do not happen in linked output; the one that starts nearest below pc is the candidate.
    if (!found || pc >= found.end) return undefined;
    return this.entryAt(found.offset) as Fde;
  }

  /**
   * The binary search in .eh_frame_hdr: an FDE, null when the table says no FDE covers pc, undefined when the
   * header cannot be used (then the section is scanned instead).
   */
  private searchHeader(header: SectionData, pc: bigint): Fde | null | undefined {
    const cur = new Cursor(header);
    if (cur.end < 4 || cur.u8() !== 1) return undefined;
    const framePtrEncoding = cur.u8();
    const countEncoding = cur.u8();
    const tableEncoding = cur.u8();
    const headerBases: PointerBases = { ...this.bases, data: header.address };
    const framePtr = readEncodedPointer(cur, framePtrEncoding, this.addressSize, headerBases);
    if (framePtr !== this.data.address) return undefined;
    const count = readEncodedPointer(cur, countEncoding, this.addressSize, headerBases);
    // Only the table layout every linker writes: pairs of data-relative signed 4-byte values.
    if (count === undefined || tableEncoding !== (C.DW_EH_PE_datarel | C.DW_EH_PE_sdata4)) return undefined;
    const entries = Number(count);
    const tableStart = cur.pos;
    if (tableStart + entries * 8 > header.bytes.length) return undefined;
    const bytes = header.bytes;
    const locAt = (i: number) => header.address + BigInt(bytes.readInt32LE(tableStart + i * 8));
    let lo = 0;
    let hi = entries - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (locAt(mid) <= pc) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return null;
    const fdeAddress = header.address + BigInt(bytes.readInt32LE(tableStart + found * 8 + 4));
    const offset = Number(fdeAddress - this.data.address);
    if (offset < 0 || offset >= this.data.bytes.length) {
      throw dwarfBad(header.path, header.name, tableStart + found * 8, 'the search table points outside .eh_frame');
    }
    const fde = this.entryAt(offset);
    if (!fde || !('cie' in fde)) throw dwarfBad(header.path, header.name, tableStart + found * 8, 'the search table points at something that is no FDE');
    return pc >= fde.start && pc < fde.end ? fde : null;
  }

  /** Every FDE's range, sorted by start (FDEs for discarded code, at address 0, are left out). */
  allSpans(): FdeSpan[] {
    if (this.spans) return this.spans;
    const spans: FdeSpan[] = [];
    const cur = new Cursor(this.data);
    while (cur.end - cur.pos >= 4) {
      const offset = cur.pos;
      const { length, end } = cur.initialLength(`the frame entry at 0x${offset.toString(16)}`);
      // A zero length ends .eh_frame (the terminator crtend.o adds).
      if (length === 0) {
        if (this.kind === '.eh_frame') break;
        continue;
      }
      const entry = this.entryAt(offset);
      if (entry && 'cie' in entry && entry.start !== 0n) spans.push({ start: entry.start, end: entry.end, offset });
      cur.pos = end;
    }
    spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.spans = spans;
    return spans;
  }

  /** The CIE or FDE at `offset`; undefined for a zero terminator. */
  entryAt(offset: number): Cie | Fde | undefined {
    const cur = new Cursor(this.data, offset);
    const { length, is64, end } = cur.initialLength(`the frame entry at 0x${offset.toString(16)}`);
    if (length === 0) return undefined;
    const idPos = cur.pos;
    const id = is64 ? cur.u64() : BigInt(cur.u32());
    const isCie = this.kind === '.eh_frame' ? id === 0n : id === (is64 ? 0xffffffffffffffffn : 0xffffffffn);
    if (isCie) return this.cieAt(offset);
    const cieOffset = this.kind === '.eh_frame' ? idPos - Number(id) : Number(id);
    if (cieOffset < 0 || cieOffset >= this.data.bytes.length || cieOffset === offset) {
      throw cur.bad(`the FDE's CIE pointer leads to 0x${cieOffset.toString(16)}, outside the section`, offset);
    }
    const cie = this.cieAt(cieOffset);
    const body = new Cursor(this.data, cur.pos, end);
    const start = readEncodedPointer(body, cie.fdeEncoding, cie.addressSize, this.bases);
    if (start === undefined) throw body.bad('the FDE has no start address', offset);
    const range = readEncodedValue(body, cie.fdeEncoding & 0x0f, cie.addressSize);
    let lsda: bigint | undefined;
    if (cie.augmentation.startsWith('z')) {
      const augLength = body.uleb();
      const augEnd = body.pos + augLength;
      if (augEnd > end) throw body.bad('the FDE augmentation data runs past the entry', offset);
      if (cie.lsdaEncoding !== C.DW_EH_PE_omit && augLength > 0) lsda = readEncodedPointer(body, cie.lsdaEncoding, cie.addressSize, this.bases, start);
      body.pos = augEnd;
    }
    const fde: Fde = { offset, cie, start, end: start + range, instructions: [body.pos, end] };
    if (lsda !== undefined) fde.lsda = lsda;
    return fde;
  }

  cieAt(offset: number): Cie {
    const cached = this.cies.get(offset);
    if (cached) return cached;
    const cur = new Cursor(this.data, offset);
    const { is64, end } = cur.initialLength(`the CIE at 0x${offset.toString(16)}`);
    const id = is64 ? cur.u64() : BigInt(cur.u32());
    const expected = this.kind === '.eh_frame' ? 0n : is64 ? 0xffffffffffffffffn : 0xffffffffn;
    if (id !== expected) throw cur.bad('an FDE points at an entry that is not a CIE', offset);
    const body = new Cursor(this.data, cur.pos, end);
    const version = body.u8();
    if (version !== 1 && version !== 3 && version !== 4) throw body.bad(`CIE version ${version} is not 1, 3 or 4`, offset);
    const augmentation = body.cstring();
    let addressSize = this.addressSize;
    // Old gcc's "eh" augmentation carries one pointer-sized word (the exception table) right here.
    if (augmentation.includes('eh')) body.skip(addressSize);
    if (version >= 4) {
      addressSize = body.u8();
      body.u8();
    }
    const codeAlign = body.uleb();
    const dataAlign = body.sleb();
    const returnAddressRegister = version === 1 ? body.u8() : body.uleb();
    const cie: Cie = {
      offset, version, augmentation, codeAlign, dataAlign, returnAddressRegister, addressSize,
      fdeEncoding: C.DW_EH_PE_absptr, lsdaEncoding: C.DW_EH_PE_omit, signalFrame: false, instructions: [0, 0],
    };
    if (augmentation.startsWith('z')) {
      const augLength = body.uleb();
      const augEnd = body.pos + augLength;
      if (augEnd > end) throw body.bad('the CIE augmentation data runs past the entry', offset);
      for (const letter of augmentation.slice(1)) {
        if (letter === 'L') cie.lsdaEncoding = body.u8();
        else if (letter === 'R') cie.fdeEncoding = body.u8();
        else if (letter === 'P') readEncodedPointer(body, body.u8(), addressSize, this.bases);
        else if (letter === 'S') cie.signalFrame = true;
        // 'B' (aarch64 BTI) and 'G' (MTE tagged frames) carry no data; anything else: its data is skipped whole below.
        else if (letter !== 'B' && letter !== 'G') break;
      }
      body.pos = augEnd;
    } else if (augmentation !== '' && augmentation !== 'eh') {
      throw body.bad(`CIE augmentation "${augmentation}" is unknown, so its FDEs cannot be read`, offset);
    }
    cie.instructions = [body.pos, end];
    this.cies.set(offset, cie);
    return cie;
  }
}
