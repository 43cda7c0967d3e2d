// What the patcher asks of decoded instructions on any architecture: the padding after a function, and branches
// that land inside the bytes a jump would overwrite.
import type { Instruction } from './types.js';

/**
 * Bytes of pure padding (nop, int3) that follow a function, from `endOfFunction` up to `nextSymbolAddr` at most.
 * `instrs` is a disassembly covering that gap. A function shorter than the jump the redirect writes can still be
 * patched when its padding makes up the difference; padding is counted only while it runs unbroken from the end.
 */
export function paddingAfter(instrs: readonly Instruction[], endOfFunction: bigint, nextSymbolAddr: bigint): number {
  const byAddress = new Map<bigint, Instruction>();
  for (const insn of instrs) byAddress.set(insn.address, insn);
  let at = endOfFunction;
  while (at < nextSymbolAddr) {
    const insn = byAddress.get(at);
    if (!insn || !insn.isPadding) break;
    at += BigInt(insn.size);
  }
  const reached = at < nextSymbolAddr ? at : nextSymbolAddr;
  return reached > endOfFunction ? Number(reached - endOfFunction) : 0;
}

/**
 * The instructions of a function (its full disassembly) outside [lo, hi) whose direct branch target lies strictly
 * inside (lo, hi). A redirect overwriting [lo, hi) must refuse when there are any: they would land in the middle
 * of the jump it writes. A branch to `lo` itself is fine: it reaches the redirect like a call would.
 */
export function branchesInto(instrs: readonly Instruction[], lo: bigint, hi: bigint): Instruction[] {
  return instrs.filter((insn) =>
    (insn.address < lo || insn.address >= hi) &&
    insn.target !== undefined && (insn.isBranch || insn.isCall) &&
    insn.target > lo && insn.target < hi);
}
