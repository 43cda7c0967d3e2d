// One unwind step: from a frame's registers and its CFI row, the caller's registers (no frame pointer assumed).
//
// Architecture-neutral: registers are named through the arch's DWARF table (src/arch/*/dwarf.ts), which says
// which number is the stack pointer, which column holds the return address, and which registers a callee
// preserves. The caller's stack pointer is the CFA; a register with no rule keeps its value when it is
// callee-saved and is unknown otherwise; an undefined return address (glibc's _start, clone's thread start)
// or a zero one ends the stack.
import type { DwarfRegisterTable } from '../arch/types.js';
import { unwindFailed } from './cursor.js';
import { evaluateExpression, type ExpressionContext } from './expression.js';
import type { FrameRule } from './cfa.js';
import type { ReadMemory, Registers, UnwoundFrame } from './types.js';

function readUnsigned(readMemory: ReadMemory, address: bigint, size: number): bigint | undefined {
  let bytes: Buffer | undefined;
  try {
    bytes = readMemory(address, size);
  } catch {
    return undefined;
  }
  if (!bytes || bytes.length < size) return undefined;
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

/**
 * Applies `rule` (the CFI row that holds this frame's pc) to the frame's registers. Returns undefined at the
 * outermost frame; throws E_UNWIND when a value the rule needs cannot be had (memory that cannot be read, a
 * register the frame does not know).
 */
export function applyFrameRule(
  rule: FrameRule, table: DwarfRegisterTable, registers: Registers, readMemory: ReadMemory, where: { path: string },
): UnwoundFrame | undefined {
  const size = table.addressSize;
  const mask = size === 8 ? 0xffffffffffffffffn : 0xffffffffn;
  const valueOf = (dwarfNumber: number): bigint | undefined => {
    const name = table.names[dwarfNumber];
    return name === undefined ? undefined : registers[name];
  };
  const context: ExpressionContext = {
    addressSize: size,
    register: valueOf,
    memory: (address, bytes) => readUnsigned(readMemory, address, bytes),
  };
  const section = { path: where.path, section: rule.fde.section };
  const load = (address: bigint, what: string): bigint => {
    const v = readUnsigned(readMemory, address, size);
    if (v === undefined) throw unwindFailed(`cannot read ${what} at 0x${address.toString(16)}`);
    return v;
  };

  let cfa: bigint;
  if (rule.cfa.kind === 'register') {
    const base = valueOf(rule.cfa.register);
    if (base === undefined) {
      throw unwindFailed(`the CFA is computed from DWARF register ${rule.cfa.register} (${table.names[rule.cfa.register] ?? '?'}), which is not known in this frame`);
    }
    cfa = (base + BigInt(rule.cfa.offset)) & mask;
  } else {
    cfa = evaluateExpression(rule.cfa.expression, context, [], section) & mask;
  }

  const recover = (dwarfNumber: number, what: string): bigint | undefined => {
    const r = rule.registers.get(dwarfNumber);
    if (!r) {
      if (dwarfNumber === table.stackPointer) return cfa;
      return table.calleeSaved.includes(dwarfNumber) ? valueOf(dwarfNumber) : undefined;
    }
    switch (r.kind) {
      case 'undefined': return undefined;
      case 'sameValue': return valueOf(dwarfNumber);
      case 'offset': return load((cfa + BigInt(r.offset)) & mask, `the saved ${what}`);
      case 'valOffset': return (cfa + BigInt(r.offset)) & mask;
      case 'register': return valueOf(r.register);
      case 'expression': return load(evaluateExpression(r.expression, context, [cfa], section) & mask, `the saved ${what}`);
      case 'valExpression': return evaluateExpression(r.expression, context, [cfa], section) & mask;
    }
  };

  const raRule = rule.registers.get(rule.returnAddressRegister);
  if (!raRule || raRule.kind === 'undefined') return undefined;
  const returnAddress = recover(rule.returnAddressRegister, 'return address');
  if (returnAddress === undefined || returnAddress === 0n) return undefined;

  const caller: Registers = {};
  for (let n = 0; n < table.names.length; n++) {
    if (n === rule.returnAddressRegister) continue;
    const value = recover(n, table.names[n]);
    if (value !== undefined) caller[table.names[n]] = value;
  }
  caller[table.pcName] = returnAddress;
  return { registers: caller, cfa, pcIsReturnAddress: !rule.signalFrame, rule };
}
