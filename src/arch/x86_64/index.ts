// The x86-64 implementation of the architecture seam: registers, jumps, disassembly and relocation in one object.
import type { Arch } from '../types.js';
import { decodeRegs, encodeRegs, REGISTER_NAMES, USER_REGS_SIZE } from './regs.js';
import { encodeJmpAbs14, encodeJmpRel32, encodeJmpRel8, ENDBR64, JMP_REL32_REACH, JMP_REL32_SIZE, JMP_REL8_REACH, JMP_REL8_SIZE } from './jump.js';
import { disassemble } from './disasm.js';
import { relocate, decodeForPatch } from './relocate.js';
import { pltSlot } from './plt.js';
import { relocationTypeName } from './relocations.js';
import { RETURN_STUB, STUB_DONE_OFFSET, STUB_SIGNAL } from './stub.js';
import { executableThreadPointerOffset } from './tls.js';
import { X86_64_DWARF_REGISTERS } from './dwarf.js';

export const x86_64: Arch = {
  name: 'x86_64',
  elfMachine: 62,
  regsSize: USER_REGS_SIZE,
  decodeRegs,
  encodeRegs,
  pcName: 'rip',
  spName: 'rsp',
  registerNames: [...REGISTER_NAMES],
  shortJumpSize: JMP_REL32_SIZE,
  encodeShortJump: encodeJmpRel32,
  // The absolute form is position independent, so where it is placed does not matter.
  encodeAbsoluteJump: (_from, to) => encodeJmpAbs14(to),
  shortJumpReach: JMP_REL32_REACH,
  tinyJumpSize: JMP_REL8_SIZE,
  encodeTinyJump: encodeJmpRel8,
  tinyJumpReach: JMP_REL8_REACH,
  landingPad: ENDBR64,
  syscallInstruction: Uint8Array.of(0x0f, 0x05),
  returnStub: { code: RETURN_STUB, doneOffset: STUB_DONE_OFFSET, signal: STUB_SIGNAL },
  syscalls: { mmap: 9n, mprotect: 10n, munmap: 11n, getpid: 39n },
  relocTypes: { none: 0, abs64: 1, pc32: 2, globDat: 6, jumpSlot: 7, relative: 8, dtpMod: 16, dtpOff: 17, tpOff: 18, irelative: 37, tlsDesc: 36 },
  relocationName: relocationTypeName,
  pltSlot,
  executableThreadPointerOffset,
  threadPointerName: 'fs_base',
  disassemble,
  relocate,
  decodeForPatch,
  dwarfRegisters: X86_64_DWARF_REGISTERS,
};

export { decodeRegs, encodeRegs, readRegisterByName, formatEflags, REG_OFFSET, REGISTER_NAMES, USER_REGS_SIZE } from './regs.js';
export {
  encodeJmpRel32, encodeJmpRel8, encodeJmpAbs14, jumpTargetOf, ENDBR64, rel32Between, JMP_REL32_SIZE, JMP_ABS14_SIZE, JMP_REL32_REACH,
  REL32_MIN, REL32_MAX, type DecodedJump,
} from './jump.js';
export { disassemble } from './disasm.js';
export { paddingAfter, branchesInto } from '../instructions.js';
export { relocate, decodeForPatch, type Relocated } from './relocate.js';
export { RETURN_STUB, STUB_DONE_OFFSET, STUB_SIGNAL } from './stub.js';
export { executableTlsBlockOffset, executableThreadPointerOffset, type TlsSegment } from './tls.js';
export { X86_64_DWARF_REGISTERS } from './dwarf.js';
