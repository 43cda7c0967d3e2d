// x86-64 relocation types (System V psABI, AMD64 supplement, table 4.9) and their names.
export const R_X86_64_NONE = 0;
export const R_X86_64_64 = 1;
export const R_X86_64_PC32 = 2;
export const R_X86_64_GOT32 = 3;
export const R_X86_64_PLT32 = 4;
export const R_X86_64_COPY = 5;
export const R_X86_64_GLOB_DAT = 6;
export const R_X86_64_JUMP_SLOT = 7;
export const R_X86_64_RELATIVE = 8;
export const R_X86_64_GOTPCREL = 9;
export const R_X86_64_32 = 10;
export const R_X86_64_32S = 11;
export const R_X86_64_DTPMOD64 = 16;
export const R_X86_64_DTPOFF64 = 17;
export const R_X86_64_TPOFF64 = 18;
export const R_X86_64_TLSDESC = 36;
export const R_X86_64_IRELATIVE = 37;

const RELOCATION_TYPE_NAMES: Record<number, string> = {
  [R_X86_64_NONE]: 'R_X86_64_NONE',
  [R_X86_64_64]: 'R_X86_64_64',
  [R_X86_64_PC32]: 'R_X86_64_PC32',
  [R_X86_64_GOT32]: 'R_X86_64_GOT32',
  [R_X86_64_PLT32]: 'R_X86_64_PLT32',
  [R_X86_64_COPY]: 'R_X86_64_COPY',
  [R_X86_64_GLOB_DAT]: 'R_X86_64_GLOB_DAT',
  [R_X86_64_JUMP_SLOT]: 'R_X86_64_JUMP_SLOT',
  [R_X86_64_RELATIVE]: 'R_X86_64_RELATIVE',
  [R_X86_64_GOTPCREL]: 'R_X86_64_GOTPCREL',
  [R_X86_64_32]: 'R_X86_64_32',
  [R_X86_64_32S]: 'R_X86_64_32S',
  [R_X86_64_DTPMOD64]: 'R_X86_64_DTPMOD64',
  [R_X86_64_DTPOFF64]: 'R_X86_64_DTPOFF64',
  [R_X86_64_TPOFF64]: 'R_X86_64_TPOFF64',
  [R_X86_64_TLSDESC]: 'R_X86_64_TLSDESC',
  [R_X86_64_IRELATIVE]: 'R_X86_64_IRELATIVE',
};

/** The psABI name of an x86-64 relocation type, or `R_X86_64_<n>` for one we have no name for. */
export function relocationTypeName(type: number): string {
  return RELOCATION_TYPE_NAMES[type] ?? `R_X86_64_${type}`;
}
