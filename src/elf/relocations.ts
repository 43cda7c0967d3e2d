// Dynamic relocations: DT_RELA and DT_JMPREL entries, and DT_RELR packed relative relocations expanded.
import {
  DT_JMPREL, DT_PLTREL, DT_PLTRELSZ, DT_RELA, DT_RELASZ, DT_RELAENT, DT_RELR, DT_RELRSZ, DT_REL,
  RELA_ENTRY_SIZE, RELATIVE_TYPE_BY_MACHINE,
} from './constants.js';
import type { ElfRelocation, ElfSymbol } from './types.js';
import type { DynamicTable } from './dynamic.js';
import type { VirtualImage } from './image.js';
import { elfBad, hex } from './source.js';

interface TableRange {
  addr: bigint;
  size: bigint;
}

function rangeOf(dynamic: DynamicTable, addrTag: number, sizeTag: number): TableRange | undefined {
  const addr = dynamic.value(addrTag);
  const size = dynamic.value(sizeTag);
  if (addr === undefined || size === undefined || size === 0n) return undefined;
  return { addr, size };
}

function tableBytes(image: VirtualImage, range: TableRange, what: string): Buffer {
  if (range.size > BigInt(Number.MAX_SAFE_INTEGER)) throw elfBad(image.path, `${what} size ${range.size} is impossible`);
  return image.read(range.addr, Number(range.size), what);
}

function parseRela(bytes: Buffer, table: ElfRelocation['table'], dynsym: ElfSymbol[], path: string): ElfRelocation[] {
  const relocations: ElfRelocation[] = [];
  for (let at = 0; at + RELA_ENTRY_SIZE <= bytes.length; at += RELA_ENTRY_SIZE) {
    const symIndex = bytes.readUInt32LE(at + 12);
    const sym = symIndex === 0 ? undefined : dynsym[symIndex];
    if (symIndex !== 0 && !sym) throw elfBad(path, `${table} entry refers to symbol ${symIndex}; .dynsym has ${dynsym.length}`);
    const relocation: ElfRelocation = {
      offset: bytes.readBigUInt64LE(at),
      type: bytes.readUInt32LE(at + 8),
      symIndex,
      symName: sym?.name ?? '',
      addend: bytes.readBigInt64LE(at + 16),
      table,
    };
    if (sym) relocation.sym = sym;
    relocations.push(relocation);
  }
  return relocations;
}

/**
 * RELR packs relative relocations as an address word (even) followed by bitmap words (odd), each
 * bitmap covering the next 63 words. The addend is the word already at the place.
 */
function expandRelr(image: VirtualImage, bytes: Buffer, maxPlaces: number, relativeType: number): ElfRelocation[] {
  const relocations: ElfRelocation[] = [];
  const place = (offset: bigint) => {
    if (relocations.length >= maxPlaces) throw elfBad(image.path, `DT_RELR names more places than the segments have words (${maxPlaces})`);
    relocations.push({
      offset, type: relativeType, symIndex: 0, symName: '',
      addend: image.readWordOrZero(offset, 'DT_RELR place'), table: 'rela.dyn',
    });
  };
  let next: bigint | undefined;
  for (let at = 0; at + 8 <= bytes.length; at += 8) {
    const word = bytes.readBigUInt64LE(at);
    if ((word & 1n) === 0n) {
      place(word);
      next = word + 8n;
      continue;
    }
    if (next === undefined) throw elfBad(image.path, `DT_RELR bitmap ${hex(word)} comes before any address`);
    for (let bit = 1n; bit < 64n; bit++) {
      if ((word >> bit) & 1n) place(next + (bit - 1n) * 8n);
    }
    next += 63n * 8n;
  }
  return relocations;
}

/** .rela.dyn without the .rela.plt part that some linkers count inside DT_RELASZ. */
function withoutPltPart(rela: TableRange, plt: TableRange | undefined): TableRange {
  if (!plt || plt.addr < rela.addr || plt.addr + plt.size !== rela.addr + rela.size) return rela;
  return { addr: rela.addr, size: plt.addr - rela.addr };
}

export function readRelocations(dynamic: DynamicTable, image: VirtualImage, dynsym: () => ElfSymbol[], machine: number): ElfRelocation[] {
  const entrySize = dynamic.value(DT_RELAENT);
  if (entrySize !== undefined && entrySize !== BigInt(RELA_ENTRY_SIZE)) {
    throw elfBad(image.path, `DT_RELAENT is ${entrySize}, not ${RELA_ENTRY_SIZE}`);
  }
  // x86-64 uses RELA only; a DT_REL table would be another architecture's file.
  if (dynamic.value(DT_REL) !== undefined || dynamic.value(DT_PLTREL) === BigInt(DT_REL)) {
    throw elfBad(image.path, 'REL (not RELA) relocations: not an x86-64 file');
  }
  const plt = rangeOf(dynamic, DT_JMPREL, DT_PLTRELSZ);
  const rela = rangeOf(dynamic, DT_RELA, DT_RELASZ);
  const relr = rangeOf(dynamic, DT_RELR, DT_RELRSZ);
  // concat, not push(...): a big library has more relocations than a call may take arguments.
  let relocations: ElfRelocation[] = [];
  if (rela) {
    const bytes = tableBytes(image, withoutPltPart(rela, plt), 'DT_RELA');
    relocations = relocations.concat(parseRela(bytes, 'rela.dyn', dynsym(), image.path));
  }
  if (relr) relocations = relocations.concat(expandRelr(image, tableBytes(image, relr, 'DT_RELR'), image.loadedWords(), RELATIVE_TYPE_BY_MACHINE[machine] ?? 0));
  if (plt) relocations = relocations.concat(parseRela(tableBytes(image, plt, 'DT_JMPREL'), 'rela.plt', dynsym(), image.path));
  return relocations;
}
