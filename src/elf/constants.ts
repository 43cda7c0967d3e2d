// Named numbers from the ELF64 and x86-64 psABI specifications that the reader and its users need.

export const ELF_HEADER_SIZE = 64;
export const PROGRAM_HEADER_MIN_SIZE = 56;
export const SECTION_HEADER_MIN_SIZE = 64;
export const SYMBOL_ENTRY_SIZE = 24;
export const RELA_ENTRY_SIZE = 24;
export const DYNAMIC_ENTRY_SIZE = 16;

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;

export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** e_phnum/e_shnum/e_shstrndx overflow markers: the real value lives in section header 0. */
export const PN_XNUM = 0xffff;
export const SHN_LORESERVE = 0xff00;
export const SHN_XINDEX = 0xffff;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const PT_GNU_STACK = 0x6474e551;
export const PT_GNU_RELRO = 0x6474e552;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_HASH = 5;
export const SHT_DYNAMIC = 6;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHT_GNU_HASH = 0x6ffffff6;
export const SHT_GNU_VERDEF = 0x6ffffffd;
export const SHT_GNU_VERNEED = 0x6ffffffe;
export const SHT_GNU_VERSYM = 0x6fffffff;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STT_COMMON = 5;
export const STT_TLS = 6;
export const STT_GNU_IFUNC = 10;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STB_GNU_UNIQUE = 10;

export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_PLTRELSZ = 2;
export const DT_HASH = 4;
export const DT_STRTAB = 5;
export const DT_SYMTAB = 6;
export const DT_RELA = 7;
export const DT_RELASZ = 8;
export const DT_RELAENT = 9;
export const DT_STRSZ = 10;
export const DT_SYMENT = 11;
export const DT_INIT = 12;
export const DT_SONAME = 14;
export const DT_RPATH = 15;
export const DT_REL = 17;
export const DT_PLTREL = 20;
export const DT_TEXTREL = 22;
export const DT_JMPREL = 23;
export const DT_INIT_ARRAY = 25;
export const DT_INIT_ARRAYSZ = 27;
export const DT_RUNPATH = 29;
export const DT_FLAGS = 30;
export const DT_RELRSZ = 35;
export const DT_RELR = 36;
export const DT_RELRENT = 37;
export const DT_GNU_HASH = 0x6ffffef5;
export const DT_VERSYM = 0x6ffffff0;
export const DT_FLAGS_1 = 0x6ffffffb;
export const DT_VERDEF = 0x6ffffffc;
export const DT_VERDEFNUM = 0x6ffffffd;
export const DT_VERNEED = 0x6ffffffe;
export const DT_VERNEEDNUM = 0x6fffffff;

/** DT_FLAGS bit that means the same as a DT_TEXTREL entry. */
export const DF_TEXTREL = 0x4;

export const NT_GNU_BUILD_ID = 3;

/** Version index bit that hides a non-default version (foo@VER rather than foo@@VER). */
export const VERSYM_HIDDEN = 0x8000;
export const VER_FLG_BASE = 0x1;

/**
 * The relative relocation type of each machine (EM_X86_64: R_X86_64_RELATIVE = 8, EM_AARCH64: R_AARCH64_RELATIVE =
 * 1027): what an entry of a DT_RELR table stands for. The other types are the architecture's (src/arch).
 */
export const RELATIVE_TYPE_BY_MACHINE: Readonly<Record<number, number>> = { 62: 8, 183: 1027 };
