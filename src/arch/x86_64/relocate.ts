// The trampoline builder: moves the instructions a redirect overwrites to a new address (iced-x86) and jumps back.
import { HotpatchError } from '../../errors.js';
import { hex } from '../../hex.js';
import type { Instruction } from '../types.js';
import { encodeJmpAbs14, rel32Between } from './jump.js';
import { importModule } from '../../builtins.js';

type Iced = typeof import('iced-x86');
type IcedInstruction = import('iced-x86').Instruction;

let iced: Promise<Iced> | undefined;

/** iced-x86 instantiates its wasm when imported (tens of milliseconds), so only a redirect pays for it. */
export function loadIced(): Promise<Iced> {
  iced ??= importModule('iced-x86').then((mod) => ((mod as { default?: Iced }).default ?? mod) as Iced);
  iced.catch(() => { iced = undefined; });
  return iced;
}

/**
 * Room assumed for the relocated instructions when choosing the jump back: a widened branch grows to at most
 * ~16 bytes plus an 8-byte slot, and a trampoline covers a handful of instructions.
 */
const TRAMPOLINE_SLACK_BYTES = 256n;
/** Conservative reach of a rel32 displacement between the trampoline start and a rip-relative target. */
const REL32_SPAN = (1n << 31n) - TRAMPOLINE_SLACK_BYTES;

export interface Relocated {
  bytes: Uint8Array;
  /** Bytes taken from the original code (whole instructions, at least the minimum asked for). */
  consumed: number;
  /** Number of original instructions moved. */
  instructions: number;
}



function refuse(message: string, hint?: string): never {
  throw new HotpatchError('E_RELOCATE', message, hint);
}

/**
 * Re-encode the whole instructions covering the first `minBytes` of `code` (which sits at `from`) so they run at
 * `to`, and append a jump back to `from + consumed`.
 *
 * iced's BlockEncoder recomputes rip-relative operands and rel8/rel32 branches for the new address, widens a
 * short branch that no longer reaches (a far conditional branch becomes `jcc` over `jmp [rip+slot]`), and keeps
 * branches between moved instructions pointing at the moved copies.
 *
 * Choices:
 * - No jump back is appended when the last moved instruction that is not padding never falls through (ret, jmp,
 *   ud2): control cannot reach the end, and a function of `lea; ret` followed by nops needs nothing more.
 * - The jump back is a direct jmp when the trampoline is in rel32 reach of the function, otherwise the 14-byte
 *   `jmp [rip+0]` + address. Both are added to the block rather than after it, because iced places the slots of
 *   widened branches after the last instruction and a moved `call` must return onto the jump back, not a slot.
 * - Refused (E_RELOCATE): bytes that do not decode or end mid-instruction; a direct branch into the middle of a
 *   moved instruction (it would land in the jump we write); a rip-relative memory access to the bytes being
 *   overwritten (a 64-bit `lea` of such an address is only arithmetic: it becomes `mov reg, imm64` of the same
 *   address, because iced would point it at the moved copy); any instruction iced cannot
 *   re-encode, notably a rip-relative operand more than ±2 GiB from `to`.
 */
export async function relocate(code: Uint8Array, from: bigint, minBytes: number, to: bigint): Promise<Relocated> {
  const x86 = await loadIced();
  const decoder = new x86.Decoder(64, code, x86.DecoderOptions.None);
  const moved: IcedInstruction[] = [];
  const owned: Array<{ free(): void }> = [decoder];
  try {
    decoder.ip = from;
    let consumed = 0;
    while (consumed < minBytes) {
      if (!decoder.canDecode) {
        refuse(`only ${code.length} bytes at ${hex(from)} to relocate, but the instruction at ${hex(from + BigInt(consumed))} ` +
          `needs more to reach the ${minBytes} bytes to overwrite`);
      }
      const insn = decoder.decode();
      owned.push(insn);
      if (insn.isInvalid) {
        const why = decoder.lastError === x86.DecoderError.NoMoreBytes ? 'is cut off' : 'does not decode';
        refuse(`the instruction at ${hex(insn.ip)} ${why}, so the first ${minBytes} bytes at ${hex(from)} cannot be moved`,
          'check that the address is the start of a function in an executable mapping');
      }
      moved.push(insn);
      consumed += insn.length;
    }
    const end = from + BigInt(consumed);
    checkMovable(x86, moved, from, end);

    const encoder = new x86.BlockEncoder(64, x86.BlockEncoderOptions.None);
    owned.push(encoder);
    for (const insn of moved) {
      const replacement = pinSelfAddress(x86, insn, from, end);
      if (replacement) owned.push(replacement);
      encoder.add(replacement ?? insn);
    }
    if (fallsThroughAtEnd(x86, moved)) {
      const back = jumpBack(x86, to, end);
      owned.push(back);
      encoder.add(back);
    }
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(to);
    } catch (err) {
      throw encodeFailure(moved, to, err);
    }
    return { bytes, consumed, instructions: moved.length };
  } finally {
    for (const obj of owned) obj.free();
  }
}

/** Never falls through: the next address after it is reached only by a jump from elsewhere. */
function endsFlow(x86: Iced, insn: IcedInstruction): boolean {
  const fc = insn.flowControl;
  return fc === x86.FlowControl.Return || fc === x86.FlowControl.UnconditionalBranch ||
    fc === x86.FlowControl.IndirectBranch || fc === x86.FlowControl.Exception;
}

function isPadding(x86: Iced, insn: IcedInstruction): boolean {
  return insn.mnemonic === x86.Mnemonic.Nop || insn.mnemonic === x86.Mnemonic.Int3;
}

function fallsThroughAtEnd(x86: Iced, moved: readonly IcedInstruction[]): boolean {
  for (let i = moved.length - 1; i >= 0; i--) {
    const insn = moved[i]!;
    if (!isPadding(x86, insn)) return !endsFlow(x86, insn);
  }
  return true;
}

function jumpBack(x86: Iced, to: bigint, back: bigint): IcedInstruction {
  const reachable = rel32Between(to, back) !== undefined && rel32Between(to + TRAMPOLINE_SLACK_BYTES, back) !== undefined;
  if (reachable) {
    // Its own ip must not be `back`: the encoder would read that as a branch to itself inside the block.
    return x86.Instruction.createBranch(x86.Code.Jmp_rel32_64, back);
  }
  return x86.Instruction.createDeclareByte(encodeJmpAbs14(back));
}

/**
 * iced points a rip-relative operand that names a moved instruction at the moved copy. For `lea` of the function's
 * own bytes (taking its own address) that would hand out the trampoline instead, so the lea becomes a `mov` of the
 * original address, which computes the same value and, like lea, leaves the flags alone.
 */
function pinSelfAddress(x86: Iced, insn: IcedInstruction, from: bigint, end: bigint): IcedInstruction | undefined {
  if (insn.mnemonic !== x86.Mnemonic.Lea || !insn.isIpRelMemoryOperand) return undefined;
  const address = insn.ipRelMemoryAddress;
  if (address < from || address >= end) return undefined;
  if (insn.code !== x86.Code.Lea_r64_m) {
    refuse(`${insn.toString()} at ${hex(insn.ip)} takes an address inside the bytes the jump overwrites with a ` +
      'narrower than 64-bit result');
  }
  return x86.Instruction.createRegU64(x86.Code.Mov_r64_imm64, insn.op0Register, address);
}

function checkMovable(x86: Iced, moved: readonly IcedInstruction[], from: bigint, end: bigint): void {
  const starts = new Set(moved.map((insn) => insn.ip));
  for (const insn of moved) {
    if (insn.op0Kind === x86.OpKind.NearBranch64) {
      const target = insn.nearBranchTarget;
      if (target > from && target < end && !starts.has(target)) {
        refuse(`${insn.toString()} at ${hex(insn.ip)} branches to ${hex(target)}, inside an instruction that gets overwritten`);
      }
    }
    if (insn.isIpRelMemoryOperand && insn.mnemonic !== x86.Mnemonic.Lea) {
      const address = insn.ipRelMemoryAddress;
      if (address >= from && address < end) {
        refuse(`${insn.toString()} at ${hex(insn.ip)} accesses ${hex(address)}, one of the bytes the jump overwrites`);
      }
    }
  }
}

function encodeFailure(moved: readonly IcedInstruction[], to: bigint, err: unknown): HotpatchError {
  const detail = err instanceof Error ? err.message : String(err);
  // iced names no instruction when a rip-relative operand is out of reach, so find the first one that is.
  const far = moved.find((insn) => insn.isIpRelMemoryOperand &&
    (insn.ipRelMemoryAddress - to > REL32_SPAN || to - insn.ipRelMemoryAddress > REL32_SPAN));
  if (far) {
    return new HotpatchError('E_RELOCATE',
      `${far.toString()} at ${hex(far.ip)} reads ${hex(far.ipRelMemoryAddress)} rip-relative, which is over ±2 GiB ` +
      `from the trampoline at ${hex(to)}`,
      'place the trampoline within ±2 GiB of the function (map it next to the module)');
  }
  return new HotpatchError('E_RELOCATE', `cannot re-encode the instructions at ${hex(moved[0]?.ip ?? 0n)} for ` +
    `${hex(to)}: ${detail}`, 'place the trampoline within ±2 GiB of the function');
}

/**
 * The instructions at `address` as the patcher sees them, decoded by iced-x86: the same decoder that moves them into
 * the trampoline decides their lengths, their branch targets and which are padding (capstone only shows code).
 */
export async function decodeForPatch(code: Uint8Array, address: bigint): Promise<Instruction[]> {
  const x86 = await loadIced();
  const decoder = new x86.Decoder(64, code, x86.DecoderOptions.None);
  decoder.ip = address;
  const out: Instruction[] = [];
  try {
    while (decoder.canDecode) {
      const insn = decoder.decode();
      try {
        if (insn.isInvalid) break;
        const at = Number(insn.ip - address);
        const fc = insn.flowControl;
        const direct = fc === x86.FlowControl.UnconditionalBranch || fc === x86.FlowControl.ConditionalBranch || fc === x86.FlowControl.Call;
        const padding = insn.mnemonic === x86.Mnemonic.Nop || insn.mnemonic === x86.Mnemonic.Int3;
        out.push({
          address: insn.ip,
          size: insn.length,
          bytes: code.subarray(at, at + insn.length),
          mnemonic: padding ? (insn.mnemonic === x86.Mnemonic.Nop ? 'nop' : 'int3') : '',
          opStr: '',
          target: direct ? insn.nearBranchTarget : undefined,
          isCall: fc === x86.FlowControl.Call || fc === x86.FlowControl.IndirectCall,
          isBranch: fc === x86.FlowControl.UnconditionalBranch || fc === x86.FlowControl.ConditionalBranch || fc === x86.FlowControl.IndirectBranch,
          isReturn: fc === x86.FlowControl.Return,
          isPadding: padding,
        });
      } finally {
        insn.free();
      }
    }
  } finally {
    decoder.free();
  }
  return out;
}
