// x86-64 disassembly for display (capstone-wasm, Intel syntax), branch targets, and padding detection.
import type { Instruction } from '../types.js';
import { importModule } from '../../builtins.js';

/** The part of capstone-wasm we use; its own typings are not reachable through the package's `exports`. */
interface CapstoneInsn {
  size: number;
  mnemonic: string;
  opStr: string;
}
interface CapstoneHandle {
  setOption(opt: number, value: unknown): number;
  disasm(data: Uint8Array, options?: { address?: number | bigint; count?: number }): CapstoneInsn[];
}

// Capstone's constants for x86 in 64-bit mode with Intel syntax (capstone.h: CS_ARCH_X86, CS_MODE_64, CS_OPT_*).
const CS_ARCH_X86 = 3;
const CS_MODE_64 = 1 << 3;
const CS_OPT_SYNTAX = 1;
const CS_OPT_SYNTAX_INTEL = 1;

/** Longest x86 instruction: a decode that stops closer than this to a window's end may just need more bytes. */
const MAX_INSN_BYTES = 15;
/** Bytes handed to capstone per call: it copies its input each time, so resuming after a bad byte stays cheap. */
const WINDOW_BYTES = 4096;
const U64_MASK = (1n << 64n) - 1n;

let capstone: Promise<CapstoneHandle> | undefined;

/** Capstone is wasm and costs tens of milliseconds to start, so it loads on first use and only once. */
function loadCapstone(): Promise<CapstoneHandle> {
  capstone ??= (async () => {
    // Through a variable so TypeScript does not look for typings the package's `exports` map hides.
    const specifier = 'capstone-wasm';
    const mod = (await importModule(specifier)) as {
      loadCapstone(): Promise<void>;
      Capstone: new (arch: number, mode: number) => CapstoneHandle;
    };
    await mod.loadCapstone();
    const handle = new mod.Capstone(CS_ARCH_X86, CS_MODE_64);
    handle.setOption(CS_OPT_SYNTAX, CS_OPT_SYNTAX_INTEL);
    return handle;
  })();
  // A failed load should not poison every later call with the same rejection.
  capstone.catch(() => { capstone = undefined; });
  return capstone;
}

const RETURNS = new Set(['ret', 'retf', 'retfq', 'iret', 'iretd', 'iretq']);
const CALLS = new Set(['call', 'lcall']);
const LOOPS = new Set(['loop', 'loope', 'loopne', 'jrcxz', 'jecxz', 'jcxz']);

/** The operation itself, without prefixes capstone folds into the mnemonic ("bnd jmp", "notrack call", "rep stosq"). */
function baseMnemonic(mnemonic: string): string {
  const words = mnemonic.trim().split(/\s+/);
  return words[words.length - 1] ?? '';
}

function parseTarget(opStr: string): bigint | undefined {
  const text = opStr.trim();
  if (/^0x[0-9a-f]+$/i.test(text) || /^\d+$/.test(text)) return BigInt(text) & U64_MASK;
  return undefined;
}

/** `[rip + 0x2db7]` in Intel syntax: relative to the end of the instruction, as the CPU computes it. */
const RIP_RELATIVE = /\[rip ([+-]) (0x[0-9a-f]+|\d+)\]/i;

function ripRelative(opStr: string, next: bigint): bigint | undefined {
  const m = RIP_RELATIVE.exec(opStr);
  if (!m) return undefined;
  const disp = BigInt(m[2]!);
  return (m[1] === '+' ? next + disp : next - disp) & U64_MASK;
}

function toInstruction(code: Uint8Array, offset: number, address: bigint, insn: CapstoneInsn): Instruction {
  const base = baseMnemonic(insn.mnemonic);
  const isCall = CALLS.has(base);
  const isReturn = RETURNS.has(base);
  const isBranch = base === 'jmp' || base === 'ljmp' || LOOPS.has(base) || (base.startsWith('j') && !isCall);
  // Multi-byte nops come out as "nop word ptr cs:[rax + rax]"; some builds spell the 66 prefixes as "data16".
  const isPadding = base === 'nop' || base === 'int3' || (insn.mnemonic.includes('data16') && insn.opStr.includes('nop'));
  const target = isCall || isBranch ? parseTarget(insn.opStr) : undefined;
  const dataAddress = ripRelative(insn.opStr, address + BigInt(insn.size));
  return {
    address,
    size: insn.size,
    bytes: code.slice(offset, offset + insn.size),
    mnemonic: insn.mnemonic,
    opStr: insn.opStr,
    ...(target !== undefined ? { target } : {}),
    ...(dataAddress !== undefined ? { dataAddress } : {}),
    isCall,
    isBranch,
    isReturn,
    isPadding,
  };
}

function badByte(code: Uint8Array, offset: number, address: bigint): Instruction {
  const byte = code[offset] ?? 0;
  return {
    address,
    size: 1,
    bytes: code.slice(offset, offset + 1),
    mnemonic: '(bad)',
    opStr: `.byte 0x${byte.toString(16).padStart(2, '0')}`,
    isCall: false,
    isBranch: false,
    isReturn: false,
    isPadding: false,
  };
}

/**
 * Disassemble `code` as if it sat at `address`. Bytes capstone cannot decode become one-byte `(bad)` entries and
 * decoding goes on after them, so garbage or data never makes this throw. `count` limits the number of entries.
 */
export async function disassemble(code: Uint8Array, address: bigint, count?: number): Promise<Instruction[]> {
  const cs = await loadCapstone();
  const limit = count ?? Infinity;
  const out: Instruction[] = [];
  let offset = 0;
  while (offset < code.length && out.length < limit) {
    const end = Math.min(code.length, offset + WINDOW_BYTES);
    const isLastWindow = end === code.length;
    const want = limit === Infinity ? 0 : limit - out.length;
    let decoded: CapstoneInsn[];
    try {
      // capstone reads addresses back as signed numbers, so addresses are computed here from offsets instead.
      decoded = cs.disasm(code.subarray(offset, end), { address: (address + BigInt(offset)) & U64_MASK, count: want });
    } catch {
      decoded = []; // capstone-wasm throws when not even the first instruction decodes
    }
    for (const insn of decoded) {
      out.push(toInstruction(code, offset, (address + BigInt(offset)) & U64_MASK, insn));
      offset += insn.size;
    }
    if (out.length >= limit) break;
    const stoppedShortOfWindow = isLastWindow || end - offset >= MAX_INSN_BYTES;
    if (stoppedShortOfWindow && offset < code.length) {
      out.push(badByte(code, offset, (address + BigInt(offset)) & U64_MASK));
      offset += 1;
    }
  }
  return out;
}
