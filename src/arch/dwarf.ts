// Picks the DWARF register table for an ELF file's machine (e_machine), without loading the rest of an arch module.
import { EM_X86_64 } from '../elf/constants.js';
import type { DwarfRegisterTable } from './types.js';
import { X86_64_DWARF_REGISTERS } from './x86_64/dwarf.js';

/** The table for `machine`, or undefined for a machine hotpatch cannot unwind yet (aarch64 comes here). */
export function dwarfRegistersForMachine(machine: number): DwarfRegisterTable | undefined {
  return machine === EM_X86_64 ? X86_64_DWARF_REGISTERS : undefined;
}
