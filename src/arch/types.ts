// The architecture seam: everything that changes between x86-64 and aarch64 is behind this interface.

export interface Instruction {
  address: bigint;
  size: number;
  bytes: Uint8Array;
  mnemonic: string;
  opStr: string;
  /** Direct branch/call target, when the instruction has one. */
  target?: bigint;
  /** The address a pc-relative memory operand names (`[rip + 0x2db7]`): data, a GOT slot, a jump table. */
  dataAddress?: bigint;
  isCall: boolean;
  isBranch: boolean;
  isReturn: boolean;
  /** nop, int3 or other filler used for alignment. */
  isPadding: boolean;
}

export interface RegisterSet {
  /** Register name -> value, names as users type them after '$' ("rip", "rsp", "rax", "eflags", "fs_base"…). */
  values: Record<string, bigint>;
}

/** How DWARF numbers this machine's registers: what call frame information and DWARF expressions refer to. */
export interface DwarfRegisterTable {
  /** Register names (as in RegisterSet.values) by DWARF number; numbers past the end are not tracked. */
  names: readonly string[];
  /** The CFI column that holds the return address: the caller's pc. */
  returnAddressColumn: number;
  /** The stack pointer's number; the caller's stack pointer is the CFA unless a rule says otherwise. */
  stackPointer: number;
  /** The name of the pc in RegisterSet.values ("rip"). */
  pcName: string;
  /** Registers a callee must preserve: with no CFI rule, the caller's value is the callee's. */
  calleeSaved: readonly number[];
  addressSize: number;
  /**
   * The frame pointer's number, for code without call frame information (JIT code): a frame that keeps one holds
   * the caller's frame pointer at [fp] and the return address right above it, and the caller's stack starts above that.
   */
  framePointer?: number;
}

export interface Arch {
  name: 'x86_64' | 'aarch64';
  /** e_machine of this machine's ELF files (EM_X86_64 = 62). */
  elfMachine: number;
  /** Size in bytes of the native register block the kernel returns (PTRACE_GETREGS / GETREGSET NT_PRSTATUS). */
  regsSize: number;
  decodeRegs(buf: Buffer): RegisterSet;
  encodeRegs(regs: RegisterSet, into: Buffer): void;
  pcName: string;
  spName: string;
  registerNames: string[];
  /** Smallest direct jump the redirect writes at a function entry. */
  shortJumpSize: number;
  /** Bytes of a direct jump from `from` to `to`, or undefined when out of reach. */
  encodeShortJump(from: bigint, to: bigint): Uint8Array | undefined;
  /** Bytes of a register-free absolute jump placed at `from` (used in veneers). */
  encodeAbsoluteJump(from: bigint, to: bigint): Uint8Array;
  /** Largest distance the short jump reaches either way. */
  shortJumpReach: bigint;
  /** The smallest jump there is (jmp rel8: 2 bytes), for an entry too short for the short jump: it goes to a hop. */
  tinyJumpSize: number;
  /** Bytes of a tiny jump from `from` to `to`, or undefined when out of its reach. */
  encodeTinyJump(from: bigint, to: bigint): Uint8Array | undefined;
  tinyJumpReach: bigint;
  /**
   * The instruction an indirect branch must land on under control-flow enforcement (endbr64), when the machine has
   * one: kept at a function's entry, and put at the start of code reached through a pointer (trampolines).
   */
  landingPad?: Uint8Array;
  /** The system call instruction's bytes (found in libc text to run remote system calls). */
  syscallInstruction: Uint8Array;
  /**
   * Where remote calls return: code that stops for the tracer at `doneOffset` by raising `signal` on its own
   * thread, and restores the thread from the signal frame left on its stack when no tracer is there any more.
   */
  returnStub: { code: Uint8Array; doneOffset: number; signal: number };
  /** System call numbers the loader and patcher use. */
  syscalls: { mmap: bigint; mprotect: bigint; munmap: bigint; getpid: bigint };
  /**
   * Relocation types of this machine, by role: the ones the map loader applies (none, relative, abs64, globDat,
   * jumpSlot, pc32; dtpMod, dtpOff, tpOff: the thread-local ones) and ones it refuses by name (irelative, tlsDesc).
   */
  relocTypes: { none: number; relative: number; abs64: number; pc32: number; globDat: number; jumpSlot: number; dtpMod: number; dtpOff: number; tpOff: number; irelative: number; tlsDesc: number };
  /** A relocation type's name (R_X86_64_PC32), for messages. */
  relocationName(type: number): string;
  /** The GOT slot a PLT entry at `address` jumps through, so its stub can be named `func@plt`. */
  pltSlot(entry: Uint8Array, address: bigint): bigint | undefined;
  /**
   * Thread-local storage of the executable (its PT_TLS): what a thread-pointer relocation (tpOff) holds for a
   * variable at `offsetInBlock` of the executable's TLS block, i.e. its address minus the thread pointer.
   */
  executableThreadPointerOffset(segment: { vaddr: bigint; memsz: bigint; align: bigint }, offsetInBlock: bigint): bigint;
  /** The register that holds the thread pointer (for telling a user where a thread's variable lies). */
  threadPointerName: string;
  /** For showing code (disasm): every field filled, mnemonic and operands as text. */
  disassemble(code: Uint8Array, address: bigint, count?: number): Promise<Instruction[]>;
  /**
   * For patching: lengths, branch targets and padding from the same decoder `relocate` moves code with, so the two
   * can never disagree on where an instruction ends (mnemonic and operands left empty).
   */
  decodeForPatch(code: Uint8Array, address: bigint): Promise<Instruction[]>;
  /**
   * Re-encode whole instructions taken from `from` so they run at `to`, then append a jump back to
   * `from + bytes consumed`. Throws HotpatchError E_RELOCATE when something cannot be moved.
   */
  relocate(code: Uint8Array, from: bigint, minBytes: number, to: bigint): Promise<{ bytes: Uint8Array; consumed: number; instructions: number }>;
  /** DWARF register numbering, for unwinding with call frame information. */
  dwarfRegisters: DwarfRegisterTable;
}
