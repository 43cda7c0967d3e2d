// Code areas of ours near patched functions: trampolines and veneers live there, within ±2 GiB of the code they serve.
import { HotpatchError } from '../errors.js';
import type { Session } from '../session.js';
import { findFreeRange } from './placement.js';
import { remoteMmapFixed, PROT } from './remote.js';
import { loadRecord, hexOf } from './record.js';

export const AREA_SIZE = 0x10000n;
const REACH = 0x7fff0000n;

/** `size` bytes of executable memory within rel32 reach of `near`; new areas are mapped read+exec (written via /proc/PID/mem). */
export async function allocateCode(session: Session, near: bigint, size: number): Promise<bigint> {
  const record = loadRecord(session);
  const need = BigInt((size + 15) & ~15);
  for (const a of record.areas) {
    const start = BigInt(a.start);
    const used = BigInt(a.used);
    const at = start + used;
    if (used + need <= BigInt(a.size) && within(at, near) && within(at + need, near)) {
      a.used = hexOf(used + need);
      return at;
    }
  }
  const space = session.space();
  const start = findFreeRange(space.maps, AREA_SIZE, [near], REACH);
  if (start === undefined) throw new HotpatchError('ENOMEM', `no free memory within ±2 GiB of 0x${near.toString(16)} for a trampoline`, 'the address space around the function is full');
  await remoteMmapFixed(session, start, AREA_SIZE, PROT.READ | PROT.EXEC);
  record.areas.push({ start: hexOf(start), size: hexOf(AREA_SIZE), used: hexOf(need) });
  return start;
}

function within(a: bigint, b: bigint): boolean {
  const d = a > b ? a - b : b - a;
  return d < REACH;
}
