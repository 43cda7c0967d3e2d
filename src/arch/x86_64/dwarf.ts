// x86-64 register numbers in DWARF (System V psABI, "DWARF Register Number Mapping"), for CFI and unwinding.
import type { DwarfRegisterTable } from '../types.js';

/**
 * DWARF numbers 0-16. The order is the psABI's, not the encoding's (rdx is 1, rbx is 3). Number 16 is the
 * return address column: the caller's rip. Higher numbers (xmm, st, segment registers) never carry a rule gcc
 * or glibc emits for unwinding, so they are left out.
 */
const NAMES = [
  'rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip',
] as const;

export const X86_64_DWARF_REGISTERS: DwarfRegisterTable = Object.freeze({
  names: NAMES,
  returnAddressColumn: 16,
  stackPointer: 7,
  pcName: 'rip',
  // The psABI's callee-saved set: a callee that does not save one (no CFI rule) left it as it was.
  calleeSaved: [3, 6, 12, 13, 14, 15],
  addressSize: 8,
  // rbp: `push rbp; mov rbp, rsp` leaves the caller's rbp at [rbp] and the return address at [rbp+8].
  framePointer: 6,
});
