// The file's identity for finding its debug file: the GNU build-id note and the .gnu_debuglink section.
import { NT_GNU_BUILD_ID, PT_NOTE, SHT_NOBITS, SHT_NOTE } from './constants.js';
import type { ElfSection, ElfSegment } from './types.js';
import { elfBad, type ByteSource } from './source.js';
import { sectionBytes } from './headers.js';

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** The descriptor of the first note of `type` owned by `owner`, walking a note area of the given alignment. */
function findNote(bytes: Buffer, alignment: number, owner: string, type: number, path: string): Buffer | undefined {
  let at = 0;
  while (at + 12 <= bytes.length) {
    const nameSize = bytes.readUInt32LE(at);
    const descSize = bytes.readUInt32LE(at + 4);
    const noteType = bytes.readUInt32LE(at + 8);
    const nameAt = at + 12;
    // Padding aligns the data and the next note within the area (12 + 4 = 16 needs none at 8-byte alignment).
    const descAt = alignUp(nameAt + nameSize, alignment);
    const end = alignUp(descAt + descSize, alignment);
    if (descAt + descSize > bytes.length) throw elfBad(path, `a note (${nameSize}-byte name, ${descSize}-byte data) runs past its area`);
    // The owner name is NUL-terminated inside nameSize.
    const name = bytes.toString('latin1', nameAt, nameAt + Math.max(0, nameSize - 1));
    if (noteType === type && name === owner) return bytes.subarray(descAt, descAt + descSize);
    at = end;
  }
  return undefined;
}

function noteAlignment(declared: bigint): number {
  return declared === 8n ? 8 : 4;
}

/**
 * The build-id as lowercase hex. Sections first: a debug-only file keeps .note.gnu.build-id while its
 * program headers still describe the original file's layout.
 */
export function readBuildId(source: ByteSource, segments: ElfSegment[], sections: ElfSection[]): string | undefined {
  const noteSections = sections.filter((s) => s.type === SHT_NOTE && s.size > 0n);
  for (const section of noteSections) {
    const desc = findNote(sectionBytes(source, section), noteAlignment(section.addralign ?? 4n), 'GNU', NT_GNU_BUILD_ID, source.path);
    if (desc) return desc.toString('hex');
  }
  if (sections.length > 0) return undefined;
  for (const segment of segments.filter((s) => s.type === PT_NOTE && s.filesz > 0n)) {
    const bytes = source.read(segment.offset, segment.filesz, 'PT_NOTE');
    const desc = findNote(bytes, noteAlignment(segment.align), 'GNU', NT_GNU_BUILD_ID, source.path);
    if (desc) return desc.toString('hex');
  }
  return undefined;
}

/** .gnu_debuglink: the debug file's name (NUL-terminated, padded to 4) and then its CRC32, little-endian. */
export function readDebugLink(source: ByteSource, sections: ElfSection[]): { file: string; crc: number } | undefined {
  const section = sections.find((s) => s.name === '.gnu_debuglink');
  if (!section || section.type === SHT_NOBITS) return undefined;
  const bytes = sectionBytes(source, section);
  const nameEnd = bytes.indexOf(0);
  if (nameEnd <= 0) throw elfBad(source.path, '.gnu_debuglink holds no file name');
  const crcAt = alignUp(nameEnd + 1, 4);
  if (crcAt + 4 > bytes.length) throw elfBad(source.path, '.gnu_debuglink is too short to hold its CRC');
  return { file: bytes.toString('utf8', 0, nameEnd), crc: bytes.readUInt32LE(crcAt) };
}
