// The shapes the DWARF module returns: plain data, addresses as bigint file virtual addresses (no load bias).
import type { AddressRange } from './ranges.js';
import type { FrameRule } from './cfa.js';

export type { AddressRange } from './ranges.js';
export type { FrameRule, RegisterRule, CfaRule } from './cfa.js';

export interface SourcePosition {
  /** The full path as the compiler recorded it (directory joined). */
  file: string;
  line: number;
  /** 0 when the compiler did not say. */
  column: number;
}

/** A row of the line table. */
export interface SourceLine extends SourcePosition {
  /** Where the row starts (at or below the pc asked about). */
  address: bigint;
  isStmt: boolean;
}

/** One source-level frame at a pc: the out-of-line function, or a copy of a function inlined into it. */
export interface FunctionFrame {
  /** DW_AT_name, through abstract origins and specifications; "??" when there is none. */
  name: string;
  linkageName?: string;
  /** True for an inlined copy: its caller is the next frame of the list. */
  inlined: boolean;
  /**
   * Where this frame is in its source at the pc: the line of the pc for the innermost frame, the call site of
   * the frame inside it for the others (as gdb shows inlined frames).
   */
  location?: SourcePosition;
  /** For an inlined copy: where its caller called it (DW_AT_call_file/line/column). */
  callSite?: SourcePosition;
  /** The code of this frame (for an inlined copy, of that copy only). */
  ranges: AddressRange[];
  /** DW_AT_entry_pc, else the low_pc, else the start of the first range listed: where the frame's code begins. */
  entryPc?: bigint;
  /** The DIE in .debug_info, for follow-up questions; absent for a frame named from the symbol table. */
  dieOffset?: number;
}

/** One place a function was inlined. */
export interface InlinedCopy {
  function: string;
  /** The function whose body holds the copy (itself possibly an inlined copy). */
  caller: string;
  /** The out-of-line function whose machine code holds the copy: where a redirect's jump is not seen. */
  outerFunction: string;
  outerEntry?: bigint;
  callSite?: SourcePosition;
  ranges: AddressRange[];
  entryPc?: bigint;
  dieOffset: number;
  /** The compilation unit's DW_AT_name (tells apart static functions of one name in several files). */
  unit?: string;
}

/** Registers by name, as in RegisterSet.values ("rip", "rsp", "rbx", …). */
export type Registers = Record<string, bigint>;

/** Reads `length` bytes of the target at a run-time address; undefined (or a short buffer) when unreadable. */
export type ReadMemory = (address: bigint, length: number) => Buffer | undefined;

export interface UnwindOptions {
  /** Run-time address minus file address for this module (0 for a non-PIE executable). */
  loadBias?: bigint;
  /**
   * The pc is a return address (every frame but the innermost, unless the frame below was a signal frame):
   * its CFI is looked up at pc - 1, inside the call, since a call at a function's very end returns past it.
   */
  pcIsReturnAddress?: boolean;
}

export interface UnwoundFrame {
  /**
   * The caller's registers: the pc (the return address), the stack pointer (the CFA) and the callee-saved ones
   * the CFI restores or the callee kept; registers that cannot be known are absent.
   */
  registers: Registers;
  /** The CFA of the frame unwound from (run-time address): equal to the caller's stack pointer. */
  cfa: bigint;
  /** Pass on as UnwindOptions.pcIsReturnAddress for the next step (false after a signal frame). */
  pcIsReturnAddress: boolean;
  /** The rule used, for display and tests. */
  rule: FrameRule;
}
