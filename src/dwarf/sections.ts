// The DWARF sections of one ELF file, read when first asked for and inflated when compressed.
//
// Debian's debug files (libc6-dbg and the like) store .debug_* with SHF_COMPRESSED and zlib; old toolchains
// wrote .zdebug_* sections with a "ZLIB" header instead. Both come back here as plain bytes, so no parser
// sees compression. A section is read once and kept: the parsers hold offsets into it.
import { zlib } from '../builtins.js';
import { HotpatchError } from '../errors.js';
import type { ElfFile, ElfSection } from '../elf/types.js';
import { SHT_NOBITS } from '../elf/constants.js';
import { dwarfBad, type SectionData } from './cursor.js';

const SHF_COMPRESSED = 0x800n;
const ELFCOMPRESS_ZLIB = 1;
const ELFCOMPRESS_ZSTD = 2;
/** Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign. */
const CHDR64_SIZE = 24;

export interface SectionSet {
  readonly path: string;
  /** The section by name (".debug_info"), inflated; undefined when the file has none or it holds no bytes. */
  get(name: string): SectionData | undefined;
  /** Whether the file has the section, without reading it. */
  has(name: string): boolean;
}

type ZstdModule = { zstdDecompressSync?: (b: Buffer) => Buffer };

function inflate(path: string, name: string, compressed: Buffer, expectedSize: number, kind: number): Buffer {
  let out: Buffer;
  try {
    if (kind === ELFCOMPRESS_ZLIB) {
      out = zlib().inflateSync(compressed);
    } else {
      const zstd = (zlib as unknown as ZstdModule).zstdDecompressSync;
      if (!zstd) {
        throw new HotpatchError('E_DWARF_UNSUPPORTED', `${path}: ${name} is compressed with zstd, which this Node cannot inflate`,
          'decompress it once: objcopy --decompress-debug-sections FILE, or run on Node >= 22.15');
      }
      out = zstd(compressed);
    }
  } catch (err) {
    if (err instanceof HotpatchError) throw err;
    throw dwarfBad(path, name, 0, `the compressed data does not inflate (${(err as Error).message})`);
  }
  if (out.length !== expectedSize) {
    throw dwarfBad(path, name, 0, `inflates to ${out.length} bytes where its header says ${expectedSize}`);
  }
  return out;
}

function readPlain(elf: ElfFile, section: ElfSection): Buffer {
  const raw = elf.readSection(section);
  if ((section.flags & SHF_COMPRESSED) !== 0n) {
    if (raw.length < CHDR64_SIZE) throw dwarfBad(elf.path, section.name, 0, 'the compression header is truncated');
    const kind = raw.readUInt32LE(0);
    const size = raw.readBigUInt64LE(8);
    if (kind !== ELFCOMPRESS_ZLIB && kind !== ELFCOMPRESS_ZSTD) {
      throw dwarfBad(elf.path, section.name, 0, `compression type ${kind} is unknown`);
    }
    if (size > 1n << 32n) throw dwarfBad(elf.path, section.name, 0, `claims to inflate to ${size} bytes`);
    return inflate(elf.path, section.name, raw.subarray(CHDR64_SIZE), Number(size), kind);
  }
  if (section.name.startsWith('.zdebug') && raw.length >= 12 && raw.toString('latin1', 0, 4) === 'ZLIB') {
    const size = raw.readBigUInt64BE(4);
    if (size > 1n << 32n) throw dwarfBad(elf.path, section.name, 0, `claims to inflate to ${size} bytes`);
    return inflate(elf.path, section.name, raw.subarray(12), Number(size), ELFCOMPRESS_ZLIB);
  }
  return raw;
}

export function sectionSet(elf: ElfFile): SectionSet {
  const byName = new Map<string, ElfSection>();
  for (const s of elf.sections) if (s.name && !byName.has(s.name)) byName.set(s.name, s);
  const cache = new Map<string, SectionData | undefined>();
  const find = (name: string): ElfSection | undefined => {
    const section = byName.get(name) ?? (name.startsWith('.debug_') ? byName.get(`.z${name.slice(1)}`) : undefined);
    return section && section.type !== SHT_NOBITS && section.size > 0n ? section : undefined;
  };
  return {
    path: elf.path,
    has: (name) => find(name) !== undefined,
    get(name) {
      if (cache.has(name)) return cache.get(name);
      const section = find(name);
      const data = section && { bytes: readPlain(elf, section), name, path: elf.path, address: section.addr };
      cache.set(name, data);
      return data;
    },
  };
}
