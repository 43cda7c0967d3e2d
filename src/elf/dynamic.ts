// The dynamic section: its entries, the ElfDynamic summary, and finding .dynsym and its versions from it.
import {
  DF_TEXTREL, DT_FLAGS, DT_FLAGS_1, DT_GNU_HASH, DT_HASH, DT_INIT, DT_INIT_ARRAY, DT_INIT_ARRAYSZ,
  DT_NEEDED, DT_NULL, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB, DT_SYMTAB, DT_TEXTREL, DT_VERDEF,
  DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM, DT_VERSYM, DYNAMIC_ENTRY_SIZE, PT_DYNAMIC, SHT_DYNAMIC,
  SHT_DYNSYM, SHT_GNU_VERSYM, SYMBOL_ENTRY_SIZE,
} from './constants.js';
import type { ElfDynamic, ElfSection, ElfSegment } from './types.js';
import { elfBad, type ByteSource } from './source.js';
import { sectionBytes } from './headers.js';
import type { VirtualImage } from './image.js';
import { lazyTableInput, StringTable, type SymbolTableInput } from './symtab.js';
import { readSymbolVersions } from './versions.js';

/** The entries of the dynamic section, looked up by tag; DT_* addresses are file virtual addresses. */
export class DynamicTable {
  private strings: StringTable | undefined;

  constructor(
    private readonly entries: Array<[number, bigint]>,
    private readonly image: VirtualImage,
    private readonly stringsFromSections: () => Buffer | undefined,
  ) {}

  value(tag: number): bigint | undefined {
    return this.entries.find(([t]) => t === tag)?.[1];
  }

  values(tag: number): bigint[] {
    return this.entries.filter(([t]) => t === tag).map(([, v]) => v);
  }

  /** DT_STRTAB through the segments; the section the dynamic section links to when that fails. */
  stringTable(): StringTable {
    if (this.strings) return this.strings;
    const addr = this.value(DT_STRTAB);
    const size = this.value(DT_STRSZ);
    let bytes: Buffer | undefined;
    if (addr !== undefined && size !== undefined && size <= BigInt(Number.MAX_SAFE_INTEGER)) {
      bytes = this.image.tryRead(addr, Number(size), 'dynamic string table');
    }
    bytes ??= this.stringsFromSections();
    if (!bytes) throw elfBad(this.image.path, 'the dynamic string table (DT_STRTAB) is not in the file');
    this.strings = new StringTable(bytes, this.image.path, 'the dynamic string table');
    return this.strings;
  }

  describe(): ElfDynamic {
    const text = (offset: bigint) => this.stringTable().name(Number(offset));
    const soname = this.value(DT_SONAME);
    const runpath = this.value(DT_RUNPATH);
    const init = this.value(DT_INIT);
    const initArray = this.value(DT_INIT_ARRAY);
    const flags = this.value(DT_FLAGS) ?? 0n;
    const dynamic: ElfDynamic = {
      needed: this.values(DT_NEEDED).map(text),
      flags,
      flags1: this.value(DT_FLAGS_1) ?? 0n,
      hasTextrel: this.value(DT_TEXTREL) !== undefined || (flags & BigInt(DF_TEXTREL)) !== 0n,
    };
    if (soname !== undefined) dynamic.soname = text(soname);
    if (runpath !== undefined) dynamic.runpath = text(runpath);
    if (init !== undefined) dynamic.init = init;
    if (initArray !== undefined) dynamic.initArray = { addr: initArray, size: this.value(DT_INIT_ARRAYSZ) ?? 0n };
    return dynamic;
  }
}

function parseEntries(bytes: Buffer): Array<[number, bigint]> {
  const entries: Array<[number, bigint]> = [];
  for (let at = 0; at + DYNAMIC_ENTRY_SIZE <= bytes.length; at += DYNAMIC_ENTRY_SIZE) {
    // Tags we know all fit in 32 bits; a larger one is kept as -1 so it matches nothing.
    const tag = bytes.readUInt32LE(at + 4) === 0 ? bytes.readUInt32LE(at) : -1;
    if (tag === DT_NULL) break;
    entries.push([tag, bytes.readBigUInt64LE(at + 8)]);
  }
  return entries;
}

/**
 * The dynamic entries, from the .dynamic section when section headers exist (a debug-only file keeps
 * it as NOBITS, and its PT_DYNAMIC then points at unrelated bytes), else from PT_DYNAMIC.
 */
export function readDynamicTable(source: ByteSource, segments: ElfSegment[], sections: ElfSection[],
  image: VirtualImage): DynamicTable | undefined {
  const section = sections.find((s) => s.type === SHT_DYNAMIC || s.name === '.dynamic');
  let bytes: Buffer | undefined;
  if (section) {
    bytes = sectionBytes(source, section);
  } else {
    const segment = segments.find((s) => s.type === PT_DYNAMIC);
    if (segment) bytes = source.read(segment.offset, segment.filesz, 'PT_DYNAMIC');
  }
  if (!bytes || bytes.length === 0) return undefined;
  const linkedStrings = () => {
    const link = section ? sections[section.link] : undefined;
    return link ? sectionBytes(source, link) : undefined;
  };
  return new DynamicTable(parseEntries(bytes), image, linkedStrings);
}

/** The number of .dynsym entries from DT_GNU_HASH: one past the last symbol any hash chain reaches. */
function countFromGnuHash(image: VirtualImage, addr: bigint, symbolLimit: number): number {
  const header = image.read(addr, 16, 'DT_GNU_HASH header');
  const bucketCount = header.readUInt32LE(0);
  const firstHashed = header.readUInt32LE(4);
  const bloomWords = header.readUInt32LE(8);
  const bucketsAddr = addr + 16n + BigInt(bloomWords) * 8n;
  const buckets = image.read(bucketsAddr, bucketCount * 4, 'DT_GNU_HASH buckets');
  let last = 0;
  for (let i = 0; i < bucketCount; i++) last = Math.max(last, buckets.readUInt32LE(i * 4));
  if (last < firstHashed) return firstHashed;
  const chainAddr = bucketsAddr + BigInt(bucketCount) * 4n;
  // A chain ends at the entry with bit 0 set; a damaged one must not walk forever.
  for (let index = last; index < symbolLimit; index++) {
    const word = image.read(chainAddr + BigInt(index - firstHashed) * 4n, 4, 'DT_GNU_HASH chain');
    if (word.readUInt32LE(0) & 1) return index + 1;
  }
  throw elfBad(image.path, 'DT_GNU_HASH chain runs past the symbol table');
}

function dynsymCount(image: VirtualImage, dynamic: DynamicTable, symtabAddr: bigint, symbolLimit: number): number {
  const hash = dynamic.value(DT_HASH);
  if (hash !== undefined) return image.read(hash + 4n, 4, 'DT_HASH nchain').readUInt32LE(0);
  const gnuHash = dynamic.value(DT_GNU_HASH);
  if (gnuHash !== undefined) return countFromGnuHash(image, gnuHash, symbolLimit);
  // No hash table: linkers put .dynstr right after .dynsym.
  const strtab = dynamic.value(DT_STRTAB);
  if (strtab !== undefined && strtab > symtabAddr) return Number((strtab - symtabAddr) / BigInt(SYMBOL_ENTRY_SIZE));
  return 0;
}

function dynsymFromSections(source: ByteSource, sections: ElfSection[]): SymbolTableInput | undefined {
  const table = sections.find((s) => s.type === SHT_DYNSYM);
  if (!table) return undefined;
  const strings = sections[table.link];
  if (!strings) throw elfBad(source.path, `.dynsym links to section ${table.link}, which does not exist`);
  // Read on first use: a screen with the addon maps them from the file instead (node's are 7 MB).
  const index = sections.indexOf(table);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM && s.link === index);
  return lazyTableInput(source, table, strings, 'dynsym', strings.name || 'the dynamic string table', versym);
}

function dynsymFromDynamic(image: VirtualImage, dynamic: DynamicTable, fileSize: number): SymbolTableInput | undefined {
  const addr = dynamic.value(DT_SYMTAB);
  if (addr === undefined) return undefined;
  const count = dynsymCount(image, dynamic, addr, Math.floor(fileSize / SYMBOL_ENTRY_SIZE));
  if (count * SYMBOL_ENTRY_SIZE > fileSize) throw elfBad(image.path, `.dynsym of ${count} entries cannot fit in the file`);
  return { entries: image.read(addr, count * SYMBOL_ENTRY_SIZE, '.dynsym (DT_SYMTAB)'), names: dynamic.stringTable(), table: 'dynsym' };
}

/** .dynsym as a parse input: from the section headers, or from DT_SYMTAB and a hash table when they are gone. */
export function locateDynsym(source: ByteSource, sections: ElfSection[], dynamic: DynamicTable | undefined,
  image: VirtualImage): SymbolTableInput | undefined {
  // (Changed in place, not spread into a new object: that would read a lazy table's entries and names, which a screen
  // never needs.)
  const input = dynsymFromSections(source, sections) ?? (dynamic && dynsymFromDynamic(image, dynamic, source.sizeBytes));
  if (!input) return undefined;
  const entryBytes = input.onDisk?.entries.size ?? input.entries.length;
  if (dynamic && entryBytes > 0 && dynamic.value(DT_VERSYM) !== undefined) {
    // Read when a symbol first asks: a screen whose .dynsym twins the addon dropped may ask for none (node's
    // .gnu.version is 150 KB).
    let versions: ReturnType<typeof readSymbolVersions> | null | undefined;
    const read = () => {
      if (versions === undefined) {
        versions = readSymbolVersions(image, input.sparseNames?.() ?? input.names, {
          versymAddr: dynamic.value(DT_VERSYM),
          verdefAddr: dynamic.value(DT_VERDEF),
          verdefCount: Number(dynamic.value(DT_VERDEFNUM) ?? 0n),
          verneedAddr: dynamic.value(DT_VERNEED),
          verneedCount: Number(dynamic.value(DT_VERNEEDNUM) ?? 0n),
        }, Math.floor(entryBytes / SYMBOL_ENTRY_SIZE)) ?? null;
      }
      return versions ?? undefined;
    };
    input.versionOf = (index) => read()?.nameOf(index);
    input.versionHidden = (index) => read()?.isHidden(index) ?? false;
  }
  return input;
}
