// The shapes the ELF reader returns: plain data, addresses as bigint (file virtual addresses, no load bias).
import type { NameScreen } from './symtab.js';
import type { Sliced } from '../slices.js';

export type SymbolType = 'func' | 'object' | 'notype' | 'section' | 'file' | 'tls' | 'ifunc' | 'common' | 'other';
export type SymbolBind = 'local' | 'global' | 'weak' | 'unique' | 'other';

export interface ElfSymbol {
  name: string;
  /** st_value: a virtual address in the file (add the module's load bias for run time). */
  value: bigint;
  size: number;
  type: SymbolType;
  bind: SymbolBind;
  /** st_shndx; 0 (SHN_UNDEF) means an undefined (imported) symbol. */
  shndx: number;
  defined: boolean;
  /** For locals: the source file named by the nearest preceding STT_FILE entry of .symtab. */
  file?: string;
  /** Which table it came from; a symbol in both is reported once, as 'symtab'. */
  table: 'symtab' | 'dynsym';
  /** Symbol version from .gnu.version/.gnu.version_d/.gnu.version_r, e.g. "GLIBC_2.2.5", when known. */
  version?: string;
  /**
   * Set when the version is not the file's default for the name (`memcpy@GLIBC_2.2.5`, not `memcpy@@GLIBC_2.14`):
   * a reference without a version never binds to it.
   */
  versionHidden?: true;
  /** st_other's visibility when not the default one: a hidden or internal symbol is never bound from outside its file. */
  visibility?: 'internal' | 'hidden' | 'protected';
}

export interface ElfSegment {
  type: number;          // p_type (PT_LOAD = 1, PT_DYNAMIC = 2, PT_TLS = 7, PT_GNU_RELRO = 0x6474e552 …)
  flags: number;         // p_flags (PF_X = 1, PF_W = 2, PF_R = 4)
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

export interface ElfSection {
  name: string;
  type: number;          // sh_type
  flags: bigint;
  addr: bigint;
  offset: bigint;
  size: bigint;
  link: number;
  info: number;
  entsize: bigint;
  /** sh_addralign (notes are laid out at 4 or 8 bytes by it). */
  addralign?: bigint;
}

export interface ElfRelocation {
  /** r_offset: the place to patch (file virtual address). */
  offset: bigint;
  /** ELF64_R_TYPE, e.g. R_X86_64_RELATIVE = 8. */
  type: number;
  /** Index into .dynsym (0 = none). */
  symIndex: number;
  /** Name of the referenced symbol ('' when none). */
  symName: string;
  /** The referenced .dynsym entry itself, when symIndex != 0. */
  sym?: ElfSymbol;
  addend: bigint;
  /** Which table: '.rela.dyn' or '.rela.plt' (from DT_RELA / DT_JMPREL). */
  table: 'rela.dyn' | 'rela.plt';
}

export interface ElfDynamic {
  needed: string[];
  soname?: string;
  runpath?: string;
  flags: bigint;         // DT_FLAGS
  flags1: bigint;        // DT_FLAGS_1
  initArray?: { addr: bigint; size: bigint };
  init?: bigint;         // DT_INIT
  hasTextrel: boolean;
}

export interface ElfFile {
  path: string;
  /** e_type: 2 = ET_EXEC, 3 = ET_DYN. */
  type: number;
  /** e_machine: 62 = EM_X86_64, 183 = EM_AARCH64. */
  machine: number;
  entry: bigint;
  segments: ElfSegment[];
  sections: ElfSection[];
  /** GNU build-id as lowercase hex, when a PT_NOTE/.note.gnu.build-id holds one. */
  buildId?: string;
  /** .gnu_debuglink: the debug file's name and CRC32. */
  debugLink?: { file: string; crc: number };
  /** True when .symtab is present (not stripped), or merged in from a separate debug file. */
  hasSymtab: boolean;
  /** The separate debug file whose .symtab was merged in (see mergeDebugSymbols). */
  debugFile?: string;
  /** .symtab and .dynsym merged (each symbol once), STT_FILE locals labelled. Parsed on first call, cached. */
  symbols(): ElfSymbol[];
  /** The same in slices (see slices.ts), for the console; the result is kept for symbols() only once whole. */
  symbolsSliced?(): Sliced<ElfSymbol[]>;
  /**
   * Only the symbols whose names may pass `screen` (a superset: callers still test each name), made without
   * parsing the whole table; absent where that shortcut does not apply (debug-file merges). The last screen's result
   * is kept and handed out again: do not change it.
   */
  symbolsMatching?(screen: NameScreen): ElfSymbol[];
  /**
   * For each file address, the symbols that hold it (see symtab.ts symbolsHolding), from .symtab when there is one,
   * else .dynsym, without parsing the whole table.
   */
  symbolsHolding?(addresses: readonly bigint[]): ElfSymbol[][];
  /** Only .dynsym, in table order (index = dynsym index). */
  dynamicSymbols(): ElfSymbol[];
  dynamic(): ElfDynamic | undefined;
  /** Relocations of the dynamic tables (DT_RELA and DT_JMPREL). */
  relocations(): ElfRelocation[];
  /** Bytes at a file virtual address range, from the file (for disassembling what is not mapped, padding checks). */
  readVirtual(vaddr: bigint, size: number): Buffer | undefined;
  /**
   * A section's bytes as the file stores them (SHF_COMPRESSED ones still compressed; SHT_NOBITS: none), for readers
   * of sections this module does not parse (DWARF). May share memory with the image: do not write to it.
   */
  readSection(section: ElfSection): Buffer;
}
