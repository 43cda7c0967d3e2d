// Code areas of ours near patched functions: trampolines and veneers live there, within ±2 GiB of the code they serve.
import { HotpatchError } from '../errors.js';
import type { PatchContext } from './context.js';
import type { Arch } from '../arch/types.js';
import { hex } from '../hex.js';
import { choosePlace, pagePlan, NO_PAGE, type PagePlan } from '../process/pages.js';
import { PROT } from '../process/steps.js';
import { loadRecord } from './record.js';

export const AREA_SIZE = 0x10000n;
/** 'HPAREA' + layout version, then the area's size: a later session finds an area a killed command left unlisted. */
export const AREA_MAGIC = Buffer.from('HPAREA\x00\x01', 'latin1');
const HEADER = 16;

/** The header an area starts with. */
export function areaHeader(size: bigint): Buffer {
  const head = Buffer.alloc(HEADER);
  AREA_MAGIC.copy(head, 0);
  head.writeBigUInt64LE(size, 8);
  return head;
}

/**
 * `size` bytes of executable memory within rel32 reach of `near`: room in one of our code areas, or a new area whose
 * mmap (read+exec, never writable: filled through /proc/PID/mem) goes at the head of the plan that writes the code.
 * A new area is listed in the record at once, so the record written in that plan names it; its header names it too,
 * for a command killed before the record was written.
 */
export function reserveCode(session: PatchContext, near: bigint, size: number): { address: bigint; page: PagePlan } {
  const record = loadRecord(session);
  const need = BigInt((size + 15) & ~15);
  for (const a of record.areas) {
    const at = a.start + a.used;
    if (a.used + need <= a.size && within(at, near, placementReach(session.arch)) && within(at + need, near, placementReach(session.arch))) {
      a.used += need;
      return { address: at, page: NO_PAGE };
    }
  }
  const start = choosePlace(session.requireTarget(), AREA_SIZE, [near], placementReach(session.arch));
  if (start === undefined) throw new HotpatchError('ENOMEM', `no free memory within ±2 GiB of ${hex(near)} for a trampoline`, 'the address space around the function is full');
  const area = { start, size: AREA_SIZE, used: BigInt(HEADER) + need };
  record.areas.push(area);
  const page = pagePlan({ what: 'code area', address: start, size: AREA_SIZE, prot: PROT.READ | PROT.EXEC, bytes: areaHeader(AREA_SIZE) }, () => {}, () => {
    record.areas = record.areas.filter((a) => a !== area);
  });
  return { address: start + BigInt(HEADER), page };
}

/**
 * How far from a function our code may be placed for the short jump to reach it: the jump's reach less 64 KiB, so
 * a jump from anywhere in the function to anywhere in the page reaches whatever its exact displacement base.
 */
export function placementReach(arch: Arch): bigint {
  return arch.shortJumpReach - 0x10000n;
}

function within(a: bigint, b: bigint, reach: bigint): boolean {
  const d = a > b ? a - b : b - a;
  return d < reach;
}
