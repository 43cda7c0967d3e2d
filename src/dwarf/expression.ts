// DWARF expressions as CFI uses them: a stack machine over 64-bit values, registers and target memory.
//
// DW_CFA_def_cfa_expression, DW_CFA_expression and DW_CFA_val_expression compute addresses from registers
// and memory; the common one is the PLT's (CFA = rsp + 8, plus 8 more past the push in the second half of
// each 16-byte entry). Only operations that compute values are here (no DW_OP_reg*/piece locations, no
// TLS or entry values), with a step limit so a branch loop in damaged data ends in an error.
import { Cursor, unwindFailed, type SectionData } from './cursor.js';
import * as C from './constants.js';

export interface ExpressionContext {
  addressSize: number;
  /** A register's value by DWARF number; undefined when it is not known in this frame. */
  register(dwarfNumber: number): bigint | undefined;
  /** `size` bytes at `address` as an unsigned little-endian value; undefined when unreadable. */
  memory(address: bigint, size: number): bigint | undefined;
}

const MAX_STEPS = 10_000;

/** Evaluates `expression` with `initial` pushed first and returns the top of the stack. Throws E_DWARF_BAD or E_UNWIND. */
export function evaluateExpression(
  expression: Buffer, context: ExpressionContext, initial: bigint[], where: { path: string; section: string },
): bigint {
  const data: SectionData = { bytes: expression, name: `${where.section} expression`, path: where.path, address: 0n };
  const cur = new Cursor(data);
  const bits = BigInt(context.addressSize * 8);
  const mask = (1n << bits) - 1n;
  const signBit = 1n << (bits - 1n);
  const signed = (v: bigint) => (v & signBit ? v - (1n << bits) : v);
  const stack: bigint[] = initial.map((v) => v & mask);
  const pop = (): bigint => {
    const v = stack.pop();
    if (v === undefined) throw cur.bad('the expression pops an empty stack');
    return v;
  };
  const push = (v: bigint) => {
    if (stack.length > 1000) throw cur.bad('the expression stack grows past 1000 entries');
    stack.push(v & mask);
  };
  const readRegister = (reg: number): bigint => {
    const v = context.register(reg);
    if (v === undefined) throw unwindFailed(`the expression reads DWARF register ${reg}, which is not known in this frame`);
    return v;
  };
  const readMemory = (address: bigint, size: number): bigint => {
    const v = context.memory(address & mask, size);
    if (v === undefined) throw unwindFailed(`the expression reads memory at 0x${(address & mask).toString(16)}, which cannot be read`);
    return v;
  };
  let steps = 0;
  while (!cur.atEnd) {
    if (++steps > MAX_STEPS) throw cur.bad('the expression does not end (a branch loop?)');
    const at = cur.pos;
    const op = cur.u8();
    if (op >= C.DW_OP_lit0 && op <= C.DW_OP_lit31) {
      push(BigInt(op - C.DW_OP_lit0));
      continue;
    }
    if (op >= C.DW_OP_breg0 && op <= C.DW_OP_breg31) {
      push(readRegister(op - C.DW_OP_breg0) + cur.slebBig());
      continue;
    }
    switch (op) {
      case C.DW_OP_addr: push(cur.address(context.addressSize)); break;
      case C.DW_OP_const1u: push(BigInt(cur.u8())); break;
      case C.DW_OP_const1s: push(BigInt(cur.i8())); break;
      case C.DW_OP_const2u: push(BigInt(cur.u16())); break;
      case C.DW_OP_const2s: push(BigInt(cur.i16())); break;
      case C.DW_OP_const4u: push(BigInt(cur.u32())); break;
      case C.DW_OP_const4s: push(BigInt(cur.i32())); break;
      case C.DW_OP_const8u: push(cur.u64()); break;
      case C.DW_OP_const8s: push(cur.i64()); break;
      case C.DW_OP_constu: push(cur.ulebBig()); break;
      case C.DW_OP_consts: push(cur.slebBig()); break;
      case C.DW_OP_bregx: {
        const reg = cur.uleb();
        push(readRegister(reg) + cur.slebBig());
        break;
      }
      case C.DW_OP_dup: { const v = pop(); push(v); push(v); break; }
      case C.DW_OP_drop: pop(); break;
      case C.DW_OP_over: {
        if (stack.length < 2) throw cur.bad('DW_OP_over needs two values', at);
        push(stack[stack.length - 2]);
        break;
      }
      case C.DW_OP_pick: {
        const index = cur.u8();
        if (index >= stack.length) throw cur.bad(`DW_OP_pick ${index} reaches below the stack`, at);
        push(stack[stack.length - 1 - index]);
        break;
      }
      case C.DW_OP_swap: { const a = pop(); const b = pop(); push(a); push(b); break; }
      case C.DW_OP_rot: { const a = pop(); const b = pop(); const c = pop(); push(a); push(c); push(b); break; }
      case C.DW_OP_deref: push(readMemory(pop(), context.addressSize)); break;
      case C.DW_OP_deref_size: {
        const size = cur.u8();
        if (size < 1 || size > context.addressSize) throw cur.bad(`DW_OP_deref_size ${size}`, at);
        push(readMemory(pop(), size));
        break;
      }
      case C.DW_OP_abs: { const v = signed(pop()); push(v < 0n ? -v : v); break; }
      case C.DW_OP_neg: push(-signed(pop())); break;
      case C.DW_OP_not: push(~pop()); break;
      case C.DW_OP_plus_uconst: push(pop() + cur.ulebBig()); break;
      case C.DW_OP_and: case C.DW_OP_or: case C.DW_OP_xor: case C.DW_OP_plus: case C.DW_OP_minus: case C.DW_OP_mul:
      case C.DW_OP_div: case C.DW_OP_mod: case C.DW_OP_shl: case C.DW_OP_shr: case C.DW_OP_shra:
      case C.DW_OP_eq: case C.DW_OP_ne: case C.DW_OP_lt: case C.DW_OP_gt: case C.DW_OP_le: case C.DW_OP_ge: {
        const b = pop();
        const a = pop();
        push(binary(op, a, b, signed, cur, at));
        break;
      }
      case C.DW_OP_skip: {
        const offset = cur.i16();
        jump(cur, cur.pos + offset, at);
        break;
      }
      case C.DW_OP_bra: {
        const offset = cur.i16();
        if (pop() !== 0n) jump(cur, cur.pos + offset, at);
        break;
      }
      case C.DW_OP_nop: break;
      default:
        throw cur.bad(`DWARF operation 0x${op.toString(16)} is not supported in call frame expressions`, at);
    }
  }
  const top = stack.pop();
  if (top === undefined) throw cur.bad('the expression leaves nothing on the stack');
  return top;
}

function jump(cur: Cursor, target: number, at: number): void {
  if (target < 0 || target > cur.end) throw cur.bad('a branch leaves the expression', at);
  cur.pos = target;
}

function binary(op: number, a: bigint, b: bigint, signed: (v: bigint) => bigint, cur: Cursor, at: number): bigint {
  const flag = (c: boolean) => (c ? 1n : 0n);
  switch (op) {
    case C.DW_OP_and: return a & b;
    case C.DW_OP_or: return a | b;
    case C.DW_OP_xor: return a ^ b;
    case C.DW_OP_plus: return a + b;
    case C.DW_OP_minus: return a - b;
    case C.DW_OP_mul: return a * b;
    case C.DW_OP_div:
      if (b === 0n) throw cur.bad('division by zero', at);
      return signed(a) / signed(b);
    case C.DW_OP_mod:
      if (b === 0n) throw cur.bad('division by zero', at);
      return a % b;
    case C.DW_OP_shl: return b >= 64n ? 0n : a << b;
    case C.DW_OP_shr: return b >= 64n ? 0n : a >> b;
    case C.DW_OP_shra: return signed(a) >> (b >= 64n ? 63n : b);
    // Comparisons are signed (DWARF 5 2.5.1.4).
    case C.DW_OP_eq: return flag(signed(a) === signed(b));
    case C.DW_OP_ne: return flag(signed(a) !== signed(b));
    case C.DW_OP_lt: return flag(signed(a) < signed(b));
    case C.DW_OP_gt: return flag(signed(a) > signed(b));
    case C.DW_OP_le: return flag(signed(a) <= signed(b));
    default: return flag(signed(a) >= signed(b));
  }
}
