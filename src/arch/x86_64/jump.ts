// x86-64 jump encodings the redirect writes (jmp rel32, jmp [rip+0] + address) and a reader for ones already written.

export const JMP_REL32_SIZE = 5;
export const JMP_REL8_SIZE = 2;
/** Largest distance (either way, measured from the end of the 2-byte jump) a jmp rel8 reaches. */
export const JMP_REL8_REACH = 127n;
/** endbr64: where an indirect branch may land when the CPU enforces IBT (a nop otherwise). */
export const ENDBR64 = Uint8Array.of(0xf3, 0x0f, 0x1e, 0xfa);
export const JMP_ABS14_SIZE = 14;

/** rel32 is measured from the end of the 5-byte jump; these are the displacements a signed 32-bit field holds. */
export const REL32_MIN = -(1n << 31n);
export const REL32_MAX = (1n << 31n) - 1n;

/** Largest distance (either way, measured from the end of the jump) a jmp rel32 reaches. */
export const JMP_REL32_REACH = REL32_MAX;

const U64_MASK = (1n << 64n) - 1n;

/** The rel32 displacement from a 5-byte jump at `from` to `to`, or undefined when it does not fit. */
export function rel32Between(from: bigint, to: bigint): bigint | undefined {
  const rel = to - (from + BigInt(JMP_REL32_SIZE));
  return rel >= REL32_MIN && rel <= REL32_MAX ? rel : undefined;
}

/** `e9 rel32` placed at `from` jumping to `to`, or undefined when `to` is over ±2 GiB away. */
export function encodeJmpRel32(from: bigint, to: bigint): Uint8Array | undefined {
  const rel = rel32Between(from, to);
  if (rel === undefined) return undefined;
  const bytes = new Uint8Array(JMP_REL32_SIZE);
  bytes[0] = 0xe9;
  new DataView(bytes.buffer).setInt32(1, Number(rel), true);
  return bytes;
}

/** `eb rel8` placed at `from` jumping to `to`, or undefined when `to` is out of its -128..+127 reach. */
export function encodeJmpRel8(from: bigint, to: bigint): Uint8Array | undefined {
  const rel = to - (from + BigInt(JMP_REL8_SIZE));
  if (rel < -128n || rel > 127n) return undefined;
  return Uint8Array.of(0xeb, Number(rel) & 0xff);
}

/**
 * `ff 25 00 00 00 00` (jmp [rip+0]) followed by the 8-byte target: reaches anywhere, reads its target from the
 * next 8 bytes, and touches no register, so it is safe at any function entry and position independent.
 */
export function encodeJmpAbs14(to: bigint): Uint8Array {
  if (to < 0n || to > U64_MASK) throw new RangeError(`jump target ${to} is not a 64-bit address`);
  const bytes = new Uint8Array(JMP_ABS14_SIZE);
  bytes.set([0xff, 0x25, 0, 0, 0, 0]);
  new DataView(bytes.buffer).setBigUint64(6, to, true);
  return bytes;
}

export interface DecodedJump {
  kind: 'rel32' | 'rel8' | 'abs14';
  /** Bytes the jump instruction occupies, counting the address slot of the absolute form. */
  size: number;
  target: bigint;
}

/**
 * The target of a jump written the way we write them, found at the start of `bytes` (which were read at address
 * `at`). Only the two forms the redirect produces are recognised (`e9 rel32`, and `ff 25 00000000` + address);
 * anything else, or too few bytes, gives undefined.
 */
export function jumpTargetOf(bytes: Uint8Array, at: bigint): DecodedJump | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= JMP_REL32_SIZE && bytes[0] === 0xe9) {
    const rel = BigInt(view.getInt32(1, true));
    return { kind: 'rel32', size: JMP_REL32_SIZE, target: (at + BigInt(JMP_REL32_SIZE) + rel) & U64_MASK };
  }
  if (bytes.length >= JMP_REL8_SIZE && bytes[0] === 0xeb) {
    return { kind: 'rel8', size: JMP_REL8_SIZE, target: (at + BigInt(JMP_REL8_SIZE) + BigInt(view.getInt8(1))) & U64_MASK };
  }
  if (bytes.length >= JMP_ABS14_SIZE && bytes[0] === 0xff && bytes[1] === 0x25 && view.getInt32(2, true) === 0) {
    return { kind: 'abs14', size: JMP_ABS14_SIZE, target: view.getBigUint64(6, true) };
  }
  return undefined;
}
