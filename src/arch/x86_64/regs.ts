// x86-64 registers: the kernel's struct user_regs_struct as raw bytes <-> named values, sub-register views, eflags text.
import { HotpatchError } from '../../errors.js';
import type { RegisterSet } from '../types.js';

/** Field order of `struct user_regs_struct` in <sys/user.h>; every field is a u64. */
const LAYOUT = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8',
  'rax', 'rcx', 'rdx', 'rsi', 'rdi', 'orig_rax', 'rip', 'cs', 'eflags', 'rsp',
  'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
] as const;

export type RegisterName = (typeof LAYOUT)[number];

/** Byte offset of each field, for code that patches a raw register block in place. */
export const REG_OFFSET: Readonly<Record<RegisterName, number>> = Object.freeze(
  Object.fromEntries(LAYOUT.map((name, i) => [name, i * 8])) as Record<RegisterName, number>,
);

export const USER_REGS_SIZE = LAYOUT.length * 8;

/** Display order: what a person reads first (general purpose), then control, then the rarely interesting. */
export const REGISTER_NAMES: readonly string[] = Object.freeze([
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
  'rip', 'eflags', 'orig_rax', 'fs_base', 'gs_base',
  'cs', 'ss', 'ds', 'es', 'fs', 'gs',
]);

const U64_MASK = (1n << 64n) - 1n;

/** A narrower view of a full register: `bits` wide, starting `shift` bits up (ah/bh/ch/dh sit at bit 8). */
interface View {
  full: RegisterName;
  bits: 32n | 16n | 8n;
  shift: 0n | 8n;
}

function buildViews(): Map<string, View> {
  const views = new Map<string, View>();
  for (const letter of ['a', 'b', 'c', 'd']) {
    const full = `r${letter}x` as RegisterName;
    views.set(`e${letter}x`, { full, bits: 32n, shift: 0n });
    views.set(`${letter}x`, { full, bits: 16n, shift: 0n });
    views.set(`${letter}l`, { full, bits: 8n, shift: 0n });
    views.set(`${letter}h`, { full, bits: 8n, shift: 8n });
  }
  for (const base of ['si', 'di', 'bp', 'sp']) {
    const full = `r${base}` as RegisterName;
    views.set(`e${base}`, { full, bits: 32n, shift: 0n });
    views.set(base, { full, bits: 16n, shift: 0n });
    views.set(`${base}l`, { full, bits: 8n, shift: 0n });
  }
  for (let n = 8; n <= 15; n++) {
    const full = `r${n}` as RegisterName;
    views.set(`r${n}d`, { full, bits: 32n, shift: 0n });
    views.set(`r${n}w`, { full, bits: 16n, shift: 0n });
    views.set(`r${n}b`, { full, bits: 8n, shift: 0n });
  }
  views.set('eip', { full: 'rip', bits: 32n, shift: 0n });
  return views;
}

const VIEWS = buildViews();

/** Other spellings people use for a full register. */
const ALIASES: Readonly<Record<string, RegisterName>> = { pc: 'rip', sp: 'rsp', rflags: 'eflags', flags: 'eflags' };

export function decodeRegs(buf: Buffer): RegisterSet {
  if (buf.length < USER_REGS_SIZE) {
    throw new HotpatchError('E_INTERNAL', `register block is ${buf.length} bytes, expected ${USER_REGS_SIZE}`);
  }
  const values: Record<string, bigint> = {};
  LAYOUT.forEach((name, i) => {
    values[name] = buf.readBigUInt64LE(i * 8);
  });
  return { values };
}

/**
 * Write the named registers into a raw block. Registers absent from `regs` keep the bytes already in `into`,
 * so a caller can change one register of a block it read; a name that is not a full register is refused rather
 * than silently dropped.
 */
export function encodeRegs(regs: RegisterSet, into: Buffer): void {
  if (into.length < USER_REGS_SIZE) {
    throw new HotpatchError('E_INTERNAL', `register block is ${into.length} bytes, expected ${USER_REGS_SIZE}`);
  }
  for (const [name, value] of Object.entries(regs.values)) {
    const offset = (REG_OFFSET as Record<string, number>)[name];
    if (offset === undefined) {
      throw new HotpatchError('E_BAD_REGISTER', `"${name}" is not a full x86-64 register`,
        `write one of ${LAYOUT.join(', ')}`);
    }
    into.writeBigUInt64LE(value & U64_MASK, offset);
  }
}

/** Value of a register as a user names it: full (rax), alias (pc, sp), or narrower view (eax, di, r8d, al, ah). */
export function readRegisterByName(regs: RegisterSet, name: string): bigint | undefined {
  const key = name.toLowerCase();
  const direct = regs.values[ALIASES[key] ?? key];
  if (direct !== undefined) return direct;
  const view = VIEWS.get(key);
  if (!view) return undefined;
  const full = regs.values[view.full];
  if (full === undefined) return undefined;
  return (full >> view.shift) & ((1n << view.bits) - 1n);
}

/** eflags bits worth naming, low bit first as gdb prints them. */
const EFLAGS_BITS: ReadonlyArray<readonly [number, string]> = [
  [0, 'CF'], [2, 'PF'], [4, 'AF'], [6, 'ZF'], [7, 'SF'], [8, 'TF'], [9, 'IF'], [10, 'DF'], [11, 'OF'],
  [16, 'RF'], [17, 'VM'], [18, 'AC'], [19, 'VIF'], [20, 'VIP'], [21, 'ID'],
];

/** The set flags of an eflags value, e.g. 0x246 → "PF ZF IF"; "" when none is set. */
export function formatEflags(value: bigint): string {
  return EFLAGS_BITS.filter(([bit]) => (value >> BigInt(bit)) & 1n).map(([, name]) => name).join(' ');
}
