// Pages of ours in the process: where each goes (one view of the map per command, earlier choices included), the
// mmap that makes it at the head of a plan, the check before it is used, and the undo when that plan fails.
import { HotpatchError, toHotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import type { Target } from './target.js';
import { readMaps, type MapEntry } from './maps.js';
import { alignUp, findFreeRange } from './placement.js';
import { mmapStep, munmapStep, syscallFailed, type Step } from './steps.js';

const PAGE = 0x1000n;

/**
 * A page of ours made at the head of another plan (mmap at a chosen address, then its first bytes), so it costs no
 * stop of its own; or, without `address`, steps that only write (the record, when its page exists). `adopt` notes the
 * page once it exists and holds what it should; `abandon` forgets what was noted for it in advance when it does not
 * get made, or is taken out again.
 */
export interface PagePlan {
  steps: Step[];
  address?: bigint;
  size?: bigint;
  /** What it is, for messages: 'stub page', 'patch record', 'code area', 'segment'. */
  what?: string;
  /** The bytes it must hold before anything uses it. */
  expect?: Buffer;
  /** Unmap it through libc's `syscall`: the stub page's own would take away the code it stands in. */
  unmapViaLibc?: boolean;
  adopt(): void;
  abandon?(): void;
}

export const NO_PAGE: PagePlan = { steps: [], adopt() {} };

/**
 * A free page-aligned range of `size` bytes within `reach` of every address in `near`, as close as can be, in the
 * map as it is now plus what this command already chose; the range is held for this command at once.
 */
export function choosePlace(target: Target, size: bigint, near: bigint[], reach: bigint): bigint | undefined {
  const held: MapEntry[] = target.reservedRanges().map((r) => ({ start: r.start, end: r.end, perms: '---p', offset: 0n, dev: '', inode: 0, path: '[hotpatch reserved]' }));
  const at = findFreeRange([...target.maps(), ...held], size, near, reach);
  if (at !== undefined) target.reserveRange(at, alignUp(size, PAGE));
  return at;
}

/** The lowest address of the executable's image: where our own pages aim (near it, below it). */
export function executableStart(target: Target): bigint | undefined {
  const own = target.maps().filter((m) => m.path === target.exe);
  return own.length ? own.reduce((lo, m) => (m.start < lo ? m.start : lo), own[0]!.start) : undefined;
}

export function pagePlan(page: { what: string; address: bigint; size: bigint; prot: bigint; bytes?: Buffer; unmapViaLibc?: boolean }, adopt: () => void, abandon?: () => void): PagePlan {
  const steps: Step[] = [mmapStep(page.address, page.size, page.prot)];
  if (page.bytes) steps.push({ kind: 'write', address: page.address, bytes: page.bytes });
  return { steps, address: page.address, size: page.size, what: page.what, expect: page.bytes, unmapViaLibc: page.unmapViaLibc, adopt, abandon };
}

/**
 * After the plan that ran the pages' steps went through: each page is checked to hold what was written before it is
 * noted as ours. One that does not (it cannot happen unless something else wrote there) is unmapped and forgotten,
 * never used; the pages that failed the check are returned.
 */
export async function confirmPages(target: Target, tid: number, pages: readonly PagePlan[]): Promise<PagePlan[]> {
  const holds = (p: PagePlan) => {
    try {
      return target.readMemory(p.address!, p.expect!.length).equals(p.expect!);
    } catch {
      return false;
    }
  };
  const bad = pages.filter((p) => p.address !== undefined && p.expect && !holds(p));
  for (const p of pages) if (!bad.includes(p)) p.adopt();
  if (bad.length === 0) return [];
  await unmapPages(target, tid, bad).catch(() => undefined);
  for (const p of bad) p.abandon?.();
  return bad;
}

/**
 * After a plan with pages failed part way: every page it made is unmapped again (the tracer put back the bytes the
 * plan wrote, so a page left behind would be zeros), and each is forgotten. `planSteps` is the failed plan's step
 * list, to tell from the error which mmaps went through; without that (the process died), the map tells.
 */
export async function undoPages(target: Target, tid: number, pages: readonly PagePlan[], planSteps: readonly Step[], err: unknown): Promise<PagePlan[]> {
  const e = toHotpatchError(err);
  const mapped = pages.filter((p) => p.address !== undefined);
  let made: PagePlan[];
  if (e.plan && e.plan.opIndex >= 0) {
    const done = e.plan.completed;
    made = mapped.filter((p) => {
      const i = planSteps.indexOf(p.steps[0]!);
      return i >= 0 && i < done.length && done[i] === p.address;
    });
  } else {
    let maps: MapEntry[];
    try {
      maps = readMaps(target.pid);
    } catch {
      maps = [];
    }
    made = mapped.filter((p) => maps.some((m) => m.start === p.address && m.path === ''));
  }
  if (made.length) await unmapPages(target, tid, made).catch(() => undefined);
  for (const p of pages) p.abandon?.();
  return made;
}

/** munmap of our own pages on one borrowed thread, in one stop; the stub page last (the others may use its `syscall`). */
export async function unmapPages(target: Target, tid: number, pages: readonly { address?: bigint; size?: bigint; unmapViaLibc?: boolean; what?: string }[]): Promise<void> {
  if (!target.attached || pages.length === 0) return;
  const ordered = [...pages.filter((p) => !p.unmapViaLibc), ...pages.filter((p) => p.unmapViaLibc)];
  const results = await target.runSteps(tid, ordered.map((p) => munmapStep(p.address!, p.size!, p.unmapViaLibc === true)));
  const failed = results.findIndex((r) => syscallFailed(r.value) !== undefined);
  if (failed >= 0) {
    const p = ordered[failed]!;
    throw new HotpatchError('E_REMOTE_SYSCALL', `munmap of the ${p.what ?? 'page'} at ${hex(p.address!)} failed in the target (errno ${syscallFailed(results[failed]!.value)})`);
  }
}

/** The errno a plan's failed mmap returned, when that is how it failed. */
export function mmapErrno(err: unknown): number | undefined {
  const e = toHotpatchError(err);
  return e.code === 'E_REMOTE_RESULT' && e.plan?.value !== undefined ? syscallFailed(e.plan.value) : undefined;
}

/** The steps of several page plans, in order. */
export function pageSteps(pages: readonly PagePlan[]): Step[] {
  return pages.flatMap((p) => p.steps);
}
