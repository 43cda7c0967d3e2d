// Where a redirect's jump goes at a function's entry: after an endbr64 kept for indirect callers, over the function's
// first bytes and its padding, and, when even the short jump does not fit, a 2-byte jump to a hop placed in padding
// within its reach that no code ever runs.
import { HotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import type { Instruction } from '../arch/types.js';
import { paddingAfter, branchesInto } from '../arch/instructions.js';
import type { RuntimeSymbol } from '../symbols/types.js';
import type { PatchContext } from './context.js';
import { loadRecord } from './record.js';

export interface EntryPlan {
  /** Where the jump is written: the entry, or just after its landing pad. */
  at: bigint;
  /** Bytes kept at the entry (an endbr64 that indirect calls must still land on), 0 when none. */
  landingPad: number;
  /** The bytes from `at` the trampoline is made from (the function's code and the padding after it). */
  code: Buffer;
  /** The function's bytes from `at`, and the padding after them. */
  size: number;
  padding: number;
  /** How many bytes from `at` may be overwritten. */
  available: number;
  /** The jump written at `at`: the short one, or the tiny one to `hop`. */
  jumpSize: number;
  /** Where the tiny jump goes: 5 bytes of padding no code runs, within its reach, and what they held. */
  hop?: { address: bigint; before: Buffer };
  /** What was looked at for the hop, in words (explain). */
  hopSearch?: string;
}

/** How many bytes around the entry are looked at for padding to put a hop in (the tiny jump reaches ±127). */
const HOP_WINDOW = 256n;

/** How many bytes at the entry may be overwritten, where the jump goes, and the checks that make it safe. */
export async function planEntry(session: PatchContext, from: bigint, sym: RuntimeSymbol | undefined, force: boolean): Promise<EntryPlan> {
  const arch = session.arch;
  const target = session.requireTarget();
  const name = sym?.name ?? 'the function';
  const size = sym?.size || 64;
  const code = target.readMemory(from, size + 64);
  if (code.length < Math.min(size, arch.tinyJumpSize)) throw new HotpatchError('EFAULT', `${hex(from)} is not mapped`);
  const pad = arch.landingPad;
  const landingPad = pad && size > pad.length && code.subarray(0, pad.length).equals(Buffer.from(pad)) ? pad.length : 0;
  const at = from + BigInt(landingPad);
  const body = size - landingPad;
  const rest = code.subarray(landingPad);
  let padding = 0;
  if (body < arch.shortJumpSize) {
    const next = nextSymbolAfter(session, from);
    const tail = await arch.decodeForPatch(rest.subarray(0, Math.min(rest.length, Number((next ?? at + 64n) - at))), at);
    padding = paddingAfter(tail, at + BigInt(body), next ?? at + BigInt(rest.length));
  }
  const available = Math.max(body, Math.min(body + padding, rest.length));
  let jumpSize = arch.shortJumpSize;
  if (available < arch.shortJumpSize) {
    if (available < arch.tinyJumpSize) {
      throw new HotpatchError('E_TOO_SHORT', `${name} is ${body} byte${body === 1 ? '' : 's'} long${landingPad ? ' after its endbr64' : ''} with no padding after it: not even a ${arch.tinyJumpSize}-byte jump fits`,
        'redirect its callers instead, or its GOT slots with --got');
    }
    jumpSize = arch.tinyJumpSize;
  }
  const body_ = await arch.decodeForPatch(rest.subarray(0, body), at);
  const inner = branchesInto(body_ as Instruction[], at, at + BigInt(jumpSize));
  if (inner.length && !force) {
    throw new HotpatchError('E_BRANCH_INTO', `${name} branches back into its first ${jumpSize} bytes (from ${hex(inner[0]!.address)}): the jump would break that loop`,
      'redirect a caller instead, or --force if you know it is safe');
  }
  const plan: EntryPlan = { at, landingPad, code: rest.subarray(0, available), size: body, padding: available - body, available, jumpSize };
  if (jumpSize === arch.tinyJumpSize) {
    const found = await findHop(session, at, available, name);
    plan.hop = found.hop;
    plan.hopSearch = found.searched;
  }
  return plan;
}

/**
 * Five bytes for a hop, within the tiny jump's reach from `at`: padding between two functions (after one's last
 * byte by its symbol size, up to the next symbol, all nop or int3), which nothing ever runs, and which no patch of
 * ours already uses. The nearest wins.
 */
async function findHop(session: PatchContext, at: bigint, available: number, name: string): Promise<{ hop: { address: bigint; before: Buffer }; searched: string }> {
  const arch = session.arch;
  const target = session.requireTarget();
  const space = session.space();
  const module = space.modules.find((m) => m.start <= at && at < m.end);
  const hopSize = BigInt(arch.shortJumpSize);
  const lo = at + BigInt(arch.tinyJumpSize) - arch.tinyJumpReach - 1n;
  const hi = at + BigInt(arch.tinyJumpSize) + arch.tinyJumpReach;
  const taken = takenRanges(session);
  taken.push([at, at + BigInt(available)]);
  const regions: [bigint, bigint][] = [];
  if (module) {
    const funcs = space.moduleIndex(module).all()
      .filter((s) => s.size > 0 && (s.type === 'func' || s.type === 'ifunc') && s.address + BigInt(s.size) >= at - HOP_WINDOW && s.address <= at + HOP_WINDOW);
    const starts = [...new Set(space.moduleIndex(module).all().map((s) => s.address))].sort((a, b) => (a < b ? -1 : 1));
    for (const f of funcs) {
      const end = f.address + BigInt(f.size);
      const next = starts.find((a) => a >= end);
      const gapEnd = next ?? end + 64n;
      if (gapEnd <= end) continue;
      const bytes = target.readMemory(end, Number(gapEnd - end));
      const decoded = await arch.decodeForPatch(bytes, end);
      const len = paddingAfter(decoded, end, end + BigInt(bytes.length));
      if (len >= Number(hopSize)) regions.push([end, end + BigInt(len)]);
    }
  }
  let best: bigint | undefined;
  for (const [start, end] of regions) {
    for (let h = start; h + hopSize <= end; h++) {
      if (h < lo || h > hi || taken.some(([a, b]) => h < b && a < h + hopSize)) continue;
      if (best === undefined || abs(h - at) < abs(best - at)) best = h;
    }
  }
  const searched = `padding between functions of ${module?.name ?? 'the module'} within ${hex(lo)}..${hex(hi + hopSize)} (${regions.length} stretch${regions.length === 1 ? '' : 'es'} of 5 bytes or more)`;
  if (best === undefined) {
    throw new HotpatchError('E_NO_HOP', `${name} has room for a ${arch.tinyJumpSize}-byte jump only, and nothing within its reach can hold the ${hopSize}-byte hop: searched ${searched}`,
      'redirect its callers instead, or its GOT slots with --got');
  }
  return { hop: { address: best, before: target.readExact(best, Number(hopSize)) }, searched };
}

/** The bytes patches of ours already overwrote (entry jumps and hops): no new hop goes there. */
function takenRanges(session: PatchContext): [bigint, bigint][] {
  const out: [bigint, bigint][] = [];
  for (const p of loadRecord(session).patches) {
    if (p.kind !== 'jump') continue;
    const at = p.at ?? p.from;
    out.push([at, at + BigInt(p.before.length / 2)]);
    if (p.hop) out.push([p.hop.address, p.hop.address + BigInt(p.hop.before.length / 2)]);
  }
  return out;
}

function nextSymbolAfter(session: PatchContext, address: bigint): bigint | undefined {
  const here = session.symbolize(address);
  let best: bigint | undefined;
  const space = session.space();
  const module = space.modules.find((m) => m.name === here.module && m.start <= address && address < m.end);
  if (!module) return undefined;
  for (const s of space.moduleIndex(module).all()) {
    if (s.address <= address) continue;
    if (best === undefined || s.address < best) best = s.address;
  }
  return best;
}

function abs(v: bigint): bigint {
  return v < 0n ? -v : v;
}
