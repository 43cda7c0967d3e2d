// The ELF64 file header, program headers and section headers, checked against the file's size.
import { HotpatchError } from '../errors.js';
import {
  ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELF_HEADER_SIZE, PN_XNUM, PROGRAM_HEADER_MIN_SIZE,
  PT_LOAD, SECTION_HEADER_MIN_SIZE, SHN_XINDEX, SHT_NOBITS,
} from './constants.js';
import type { ElfSection, ElfSegment } from './types.js';
import { elfBad, type ByteSource } from './source.js';

export interface ElfHeader {
  type: number;
  machine: number;
  entry: bigint;
  programHeaderOffset: bigint;
  programHeaderSize: number;
  programHeaderCount: number;
  sectionHeaderOffset: bigint;
  sectionHeaderSize: number;
  sectionHeaderCount: number;
  sectionNamesIndex: number;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const NOT_ELF_HINT = 'give the path of an executable or a shared library';

function checkIdentity(source: ByteSource): void {
  const path = source.path;
  if (source.sizeBytes < 16) {
    throw new HotpatchError('E_NOT_ELF', `${path}: not an ELF file (only ${source.sizeBytes} bytes)`, NOT_ELF_HINT);
  }
  const ident = source.read(0, 16, 'ELF identification');
  if (!ident.subarray(0, 4).equals(ELF_MAGIC)) {
    throw new HotpatchError('E_NOT_ELF', `${path}: not an ELF file (no \\x7fELF magic)`, NOT_ELF_HINT);
  }
  const elfClass = ident[4];
  if (elfClass === ELFCLASS32) {
    throw new HotpatchError('E_ELF_CLASS', `${path}: a 32-bit ELF (ELFCLASS32); hotpatch reads 64-bit ELF only`,
      'hotpatch works on x86-64 programs');
  }
  if (elfClass !== ELFCLASS64) throw elfBad(path, `unknown ELF class ${elfClass}`);
  if (ident[5] !== ELFDATA2LSB) throw elfBad(path, `not a little-endian ELF (EI_DATA ${ident[5]})`);
}

function readHeader(source: ByteSource): ElfHeader {
  const bytes = source.read(0, ELF_HEADER_SIZE, 'ELF header');
  return {
    type: bytes.readUInt16LE(16),
    machine: bytes.readUInt16LE(18),
    entry: bytes.readBigUInt64LE(24),
    programHeaderOffset: bytes.readBigUInt64LE(32),
    sectionHeaderOffset: bytes.readBigUInt64LE(40),
    programHeaderSize: bytes.readUInt16LE(54),
    programHeaderCount: bytes.readUInt16LE(56),
    sectionHeaderSize: bytes.readUInt16LE(58),
    sectionHeaderCount: bytes.readUInt16LE(60),
    sectionNamesIndex: bytes.readUInt16LE(62),
  };
}

/**
 * Files with very many sections or segments keep the real counts in section header 0
 * (sh_size for e_shnum, sh_link for e_shstrndx, sh_info for e_phnum).
 */
function applyExtendedCounts(source: ByteSource, header: ElfHeader): void {
  const needsFirstSection = header.sectionHeaderOffset !== 0n
    && (header.sectionHeaderCount === 0 || header.sectionNamesIndex === SHN_XINDEX || header.programHeaderCount === PN_XNUM);
  if (!needsFirstSection) return;
  const first = source.read(header.sectionHeaderOffset, SECTION_HEADER_MIN_SIZE, 'section header 0');
  if (header.sectionHeaderCount === 0) {
    const count = first.readBigUInt64LE(32);
    if (count > BigInt(source.sizeBytes)) throw elfBad(source.path, `section count ${count} is impossible`);
    header.sectionHeaderCount = Number(count);
  }
  if (header.sectionNamesIndex === SHN_XINDEX) header.sectionNamesIndex = first.readUInt32LE(40);
  if (header.programHeaderCount === PN_XNUM) header.programHeaderCount = first.readUInt32LE(44);
}

interface HeaderTable {
  bytes: Buffer;
  entrySize: number;
  count: number;
}

function readTable(source: ByteSource, offset: bigint, entrySize: number, count: number, minEntrySize: number, what: string): HeaderTable {
  if (count === 0) return { bytes: Buffer.alloc(0), entrySize, count };
  if (entrySize < minEntrySize) throw elfBad(source.path, `${what} entries of ${entrySize} bytes (need at least ${minEntrySize})`);
  return { bytes: source.read(offset, BigInt(entrySize) * BigInt(count), what), entrySize, count };
}

function parseSegments({ bytes, entrySize, count }: HeaderTable): ElfSegment[] {
  const segments: ElfSegment[] = [];
  for (let at = 0; at < count * entrySize; at += entrySize) {
    segments.push({
      type: bytes.readUInt32LE(at),
      flags: bytes.readUInt32LE(at + 4),
      offset: bytes.readBigUInt64LE(at + 8),
      vaddr: bytes.readBigUInt64LE(at + 16),
      filesz: bytes.readBigUInt64LE(at + 32),
      memsz: bytes.readBigUInt64LE(at + 40),
      align: bytes.readBigUInt64LE(at + 48),
    });
  }
  return segments;
}

interface RawSection extends ElfSection {
  nameOffset: number;
}

function parseSections({ bytes, entrySize, count }: HeaderTable): RawSection[] {
  const sections: RawSection[] = [];
  for (let at = 0; at < count * entrySize; at += entrySize) {
    sections.push({
      name: '',
      nameOffset: bytes.readUInt32LE(at),
      type: bytes.readUInt32LE(at + 4),
      flags: bytes.readBigUInt64LE(at + 8),
      addr: bytes.readBigUInt64LE(at + 16),
      offset: bytes.readBigUInt64LE(at + 24),
      size: bytes.readBigUInt64LE(at + 32),
      link: bytes.readUInt32LE(at + 40),
      info: bytes.readUInt32LE(at + 44),
      addralign: bytes.readBigUInt64LE(at + 48),
      entsize: bytes.readBigUInt64LE(at + 56),
    });
  }
  return sections;
}

function nameSections(source: ByteSource, sections: RawSection[], namesIndex: number): ElfSection[] {
  if (sections.length === 0) return [];
  if (namesIndex >= sections.length) {
    throw elfBad(source.path, `section name table index ${namesIndex} is out of range (${sections.length} sections)`);
  }
  // Index 0 (SHN_UNDEF) means the file keeps no section names.
  const namesSection = sections[namesIndex];
  const names = namesIndex === 0 || namesSection.type === SHT_NOBITS
    ? Buffer.alloc(0)
    : source.read(namesSection.offset, namesSection.size, 'section name table');
  return sections.map(({ nameOffset, ...section }) => ({ ...section, name: cString(names, nameOffset) }));
}

/** A NUL-terminated string at `offset` ('' when the offset is past the table). */
export function cString(table: Buffer, offset: number): string {
  if (offset >= table.length) return '';
  let end = table.indexOf(0, offset);
  if (end < 0) end = table.length;
  return table.toString('utf8', offset, end);
}

export interface ElfLayout {
  header: ElfHeader;
  segments: ElfSegment[];
  sections: ElfSection[];
}

export function readLayout(source: ByteSource): ElfLayout {
  checkIdentity(source);
  if (source.sizeBytes < ELF_HEADER_SIZE) throw elfBad(source.path, `only ${source.sizeBytes} bytes, shorter than an ELF64 header`);
  const header = readHeader(source);
  applyExtendedCounts(source, header);
  const programTable = readTable(source, header.programHeaderOffset, header.programHeaderSize,
    header.programHeaderCount, PROGRAM_HEADER_MIN_SIZE, 'program headers');
  const sectionCount = header.sectionHeaderOffset === 0n ? 0 : header.sectionHeaderCount;
  const sectionTable = readTable(source, header.sectionHeaderOffset, header.sectionHeaderSize,
    sectionCount, SECTION_HEADER_MIN_SIZE, 'section headers');
  const segments = parseSegments(programTable);
  const sections = nameSections(source, parseSections(sectionTable), header.sectionNamesIndex);
  return { header, segments, sections };
}

/** The file offset of [vaddr, vaddr + size) when one PT_LOAD holds all of it in the file, else undefined. */
export function fileOffsetOf(segments: ElfSegment[], vaddr: bigint, size: bigint): bigint | undefined {
  for (const segment of segments) {
    if (segment.type !== PT_LOAD) continue;
    if (vaddr >= segment.vaddr && vaddr + size <= segment.vaddr + segment.filesz) {
      return segment.offset + (vaddr - segment.vaddr);
    }
  }
  return undefined;
}

/** The PT_LOAD whose memory image holds vaddr (including the zero-filled tail past filesz). */
export function loadSegmentAt(segments: ElfSegment[], vaddr: bigint): ElfSegment | undefined {
  return segments.find((s) => s.type === PT_LOAD && vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz);
}

/** The section's bytes in the file; NOBITS sections (.bss, stripped parts of debug files) have none. */
export function sectionBytes(source: ByteSource, section: ElfSection): Buffer {
  if (section.type === SHT_NOBITS) return Buffer.alloc(0);
  return source.read(section.offset, section.size, `section ${section.name || '#?'}`);
}
