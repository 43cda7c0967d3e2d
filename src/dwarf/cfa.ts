// The call frame program: runs a CIE's initial instructions and an FDE's instructions into rows of rules.
//
// A row says, for the addresses from its `start` to the next row, how to find the CFA (the caller's stack
// pointer before the call) and where the caller's registers are kept. Registers are DWARF numbers; which
// machine register a number is, is the arch table's business (src/arch/*/dwarf.ts). Offsets are already
// multiplied by the CIE's data alignment factor.
import { Cursor } from './cursor.js';
import * as C from './constants.js';
import { readEncodedPointer, type Cie, type Fde, type FrameSection, type FrameSectionKind } from './cfi.js';

export type RegisterRule =
  | { kind: 'undefined' }
  | { kind: 'sameValue' }
  /** Saved at CFA + offset. */
  | { kind: 'offset'; offset: number }
  /** The value is CFA + offset. */
  | { kind: 'valOffset'; offset: number }
  /** Kept in another register. */
  | { kind: 'register'; register: number }
  /** Saved at the address the expression computes (the CFA pushed first). */
  | { kind: 'expression'; expression: Buffer }
  /** The value is what the expression computes (the CFA pushed first). */
  | { kind: 'valExpression'; expression: Buffer };

export type CfaRule =
  | { kind: 'register'; register: number; offset: number }
  | { kind: 'expression'; expression: Buffer };

/** The unwind rules that hold at one pc: one row of the CFA table, with where it came from. */
export interface FrameRule {
  /** The addresses [start, end) this row covers. */
  start: bigint;
  end: bigint;
  cfa: CfaRule;
  /** Rules by DWARF register number; a register absent here has no rule (the arch table decides what that means). */
  registers: Map<number, RegisterRule>;
  returnAddressRegister: number;
  /** The CIE has 'S': the frame is a signal handler's, its pc exact rather than a return address. */
  signalFrame: boolean;
  fde: { section: FrameSectionKind; offset: number; start: bigint; end: bigint; cieOffset: number };
}

interface RowState {
  cfa: CfaRule;
  registers: Map<number, RegisterRule>;
}

/** Instructions run per FDE at most: a damaged one cannot keep us busy (real FDEs have a few dozen). */
const MAX_INSTRUCTIONS = 1_000_000;

function copyState(state: RowState): RowState {
  return { cfa: state.cfa, registers: new Map(state.registers) };
}

/**
 * Every row of the FDE's table, in address order: the first starts at the FDE's start, the last ends at its end.
 * With `stopAt`, rows after the one holding that pc are not made.
 */
export function frameRows(section: FrameSection, fde: Fde, stopAt?: bigint): FrameRule[] {
  const cie = fde.cie;
  const initial: RowState = { cfa: { kind: 'register', register: 0, offset: 0 }, registers: new Map() };
  run(section, cie, cie.instructions, initial, undefined, fde);
  const initialRegisters = new Map(initial.registers);
  const rows: FrameRule[] = [];
  const state = copyState(initial);
  let loc = fde.start;
  const emit = (end: bigint) => {
    if (end > loc || rows.length === 0) {
      rows.push({
        start: loc, end, cfa: state.cfa, registers: new Map(state.registers), returnAddressRegister: cie.returnAddressRegister,
        signalFrame: cie.signalFrame,
        fde: { section: section.kind, offset: fde.offset, start: fde.start, end: fde.end, cieOffset: cie.offset },
      });
    }
  };
  const finished = run(section, cie, fde.instructions, state, (newLoc) => {
    // A row ends where the next begins; a location that goes backwards is damage, not a new row.
    if (newLoc < loc) return false;
    emit(newLoc > fde.end ? fde.end : newLoc);
    loc = newLoc;
    return !(stopAt !== undefined && stopAt < newLoc) && newLoc < fde.end;
  }, fde, initialRegisters);
  if (finished) emit(fde.end);
  return rows;
}

/** The row of the FDE's table that holds `pc`. */
export function frameRuleAt(section: FrameSection, fde: Fde, pc: bigint): FrameRule | undefined {
  const rows = frameRows(section, fde, pc);
  for (let i = rows.length - 1; i >= 0; i--) if (rows[i].start <= pc) return pc < rows[i].end ? rows[i] : undefined;
  return undefined;
}

/**
 * Runs instructions [start, end) over `state` (changed in place). `advance` is called before the location
 * moves and answers whether to go on; run returns false when it stopped early, true when the instructions ran
 * out. `initialRegisters` are the CIE's rules, which DW_CFA_restore puts back.
 */
function run(
  section: FrameSection, cie: Cie, range: [number, number], state: RowState,
  advance: ((newLoc: bigint) => boolean) | undefined, fde: Fde,
  initialRegisters?: Map<number, RegisterRule>,
): boolean {
  const cur = new Cursor(section.data, range[0], range[1]);
  const stack: RowState[] = [];
  let loc = fde.start;
  let count = 0;
  const moveTo = (newLoc: bigint): boolean => {
    // In a CIE's initial instructions a location change means nothing; there is no row to end.
    if (!advance) return true;
    const goOn = advance(newLoc);
    loc = newLoc;
    return goOn;
  };
  const restoreRule = (reg: number) => {
    const rule = initialRegisters?.get(reg);
    if (rule) state.registers.set(reg, rule);
    else state.registers.delete(reg);
  };
  const dataAlign = cie.dataAlign;
  while (!cur.atEnd) {
    if (++count > MAX_INSTRUCTIONS) throw cur.bad('the call frame program does not end');
    const at = cur.pos;
    const op = cur.u8();
    const high = op & 0xc0;
    const low = op & 0x3f;
    if (high === C.DW_CFA_advance_loc) {
      if (!moveTo(loc + BigInt(low * cie.codeAlign))) return false;
      continue;
    }
    if (high === C.DW_CFA_offset) {
      state.registers.set(low, { kind: 'offset', offset: cur.uleb() * dataAlign });
      continue;
    }
    if (high === C.DW_CFA_restore) {
      restoreRule(low);
      continue;
    }
    switch (op) {
      case C.DW_CFA_nop:
        break;
      case C.DW_CFA_set_loc: {
        const target = readEncodedPointer(cur, cie.fdeEncoding, cie.addressSize, section.bases, fde.start);
        if (target === undefined) throw cur.bad('DW_CFA_set_loc has no address', at);
        if (!moveTo(target)) return false;
        break;
      }
      case C.DW_CFA_advance_loc1:
        if (!moveTo(loc + BigInt(cur.u8() * cie.codeAlign))) return false;
        break;
      case C.DW_CFA_advance_loc2:
        if (!moveTo(loc + BigInt(cur.u16() * cie.codeAlign))) return false;
        break;
      case C.DW_CFA_advance_loc4:
        if (!moveTo(loc + BigInt(cur.u32() * cie.codeAlign))) return false;
        break;
      case C.DW_CFA_MIPS_advance_loc8:
        if (!moveTo(loc + cur.u64() * BigInt(cie.codeAlign))) return false;
        break;
      case C.DW_CFA_offset_extended: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'offset', offset: cur.uleb() * dataAlign });
        break;
      }
      case C.DW_CFA_offset_extended_sf: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'offset', offset: cur.sleb() * dataAlign });
        break;
      }
      case C.DW_CFA_GNU_negative_offset_extended: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'offset', offset: -cur.uleb() * dataAlign });
        break;
      }
      case C.DW_CFA_restore_extended:
        restoreRule(cur.uleb());
        break;
      case C.DW_CFA_undefined:
        state.registers.set(cur.uleb(), { kind: 'undefined' });
        break;
      case C.DW_CFA_same_value:
        state.registers.set(cur.uleb(), { kind: 'sameValue' });
        break;
      case C.DW_CFA_register: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'register', register: cur.uleb() });
        break;
      }
      case C.DW_CFA_remember_state:
        if (stack.length > 1000) throw cur.bad('DW_CFA_remember_state nests too deep', at);
        stack.push(copyState(state));
        break;
      case C.DW_CFA_restore_state: {
        const saved = stack.pop();
        if (!saved) throw cur.bad('DW_CFA_restore_state without a remembered state', at);
        // The CFA rule is part of the remembered row (DWARF 5 6.4.2.4), so both come back.
        state.cfa = saved.cfa;
        state.registers = saved.registers;
        break;
      }
      case C.DW_CFA_def_cfa: {
        const register = cur.uleb();
        state.cfa = { kind: 'register', register, offset: cur.uleb() };
        break;
      }
      case C.DW_CFA_def_cfa_sf: {
        const register = cur.uleb();
        state.cfa = { kind: 'register', register, offset: cur.sleb() * dataAlign };
        break;
      }
      case C.DW_CFA_def_cfa_register: {
        const register = cur.uleb();
        const offset = state.cfa.kind === 'register' ? state.cfa.offset : 0;
        state.cfa = { kind: 'register', register, offset };
        break;
      }
      case C.DW_CFA_def_cfa_offset: {
        const offset = cur.uleb();
        if (state.cfa.kind !== 'register') throw cur.bad('DW_CFA_def_cfa_offset while the CFA is an expression', at);
        state.cfa = { kind: 'register', register: state.cfa.register, offset };
        break;
      }
      case C.DW_CFA_def_cfa_offset_sf: {
        const offset = cur.sleb() * dataAlign;
        if (state.cfa.kind !== 'register') throw cur.bad('DW_CFA_def_cfa_offset_sf while the CFA is an expression', at);
        state.cfa = { kind: 'register', register: state.cfa.register, offset };
        break;
      }
      case C.DW_CFA_def_cfa_expression:
        state.cfa = { kind: 'expression', expression: Buffer.from(cur.bytes(cur.uleb())) };
        break;
      case C.DW_CFA_expression: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'expression', expression: Buffer.from(cur.bytes(cur.uleb())) });
        break;
      }
      case C.DW_CFA_val_expression: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'valExpression', expression: Buffer.from(cur.bytes(cur.uleb())) });
        break;
      }
      case C.DW_CFA_val_offset: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'valOffset', offset: cur.uleb() * dataAlign });
        break;
      }
      case C.DW_CFA_val_offset_sf: {
        const reg = cur.uleb();
        state.registers.set(reg, { kind: 'valOffset', offset: cur.sleb() * dataAlign });
        break;
      }
      case C.DW_CFA_GNU_args_size:
        // The bytes of outgoing arguments on the stack: exception handling needs it, unwinding does not.
        cur.skipLeb();
        break;
      case C.DW_CFA_GNU_window_save:
        // SPARC register windows, and on aarch64 the return address signing state (not handled yet).
        break;
      default:
        throw cur.bad(`unknown call frame instruction 0x${op.toString(16)}`, at);
    }
  }
  return true;
}
