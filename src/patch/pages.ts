// hotpatch's own pages in the target: where each goes (one view of the map per command, earlier choices included), the
// mmap that makes it at the head of a plan, the check before it is used, and the undo when that plan fails.
import { HotpatchError, toHotpatchError } from '../errors.js';
import type { NativeOp } from '../native.js';
import type { Session } from '../session.js';
import type { MapEntry } from '../symbols/types.js';
import { readMaps } from '../symbols/maps.js';
import { alignUp, findFreeRange } from './placement.js';
import { syscallOp, syscallFailed, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE } from './remote.js';

const PAGE = 0x1000n;

/**
 * A page of ours made at the head of another plan (mmap at a chosen address, then its first bytes), so it costs no
 * stop of its own. `adopt` notes the page once it exists and holds what it should; `abandon` forgets what was noted
 * for it in advance when it does not get made, or is taken out again.
 */
export interface Prelude {
  ops: NativeOp[];
  /** Where the page goes; absent for a prelude that only writes (the record, when its page exists). */
  address?: bigint;
  size?: bigint;
  /** What it is, for messages: 'stub page', 'record', 'code area', 'segment'. */
  what?: string;
  /** The bytes it must hold before anything uses it. */
  expect?: Buffer;
  /** Unmap it through libc's `syscall`: the stub page's own would take away the code it stands in. */
  unmapViaLibc?: boolean;
  adopt(): void;
  abandon?(): void;
}

export const NO_PRELUDE: Prelude = { ops: [], adopt() {} };

/**
 * A free page-aligned range of `size` bytes within `reach` of every address in `near`, as close as can be, in the
 * map as it is now plus what this command already chose; the range is held for this command at once.
 */
export function choosePlace(session: Session, size: bigint, near: bigint[], reach: bigint): bigint | undefined {
  const target = session.requireTarget();
  const held: MapEntry[] = target.reservedRanges().map((r) => ({ start: r.start, end: r.end, perms: '---p', offset: 0n, dev: '', inode: 0, path: '[hotpatch reserved]' }));
  const at = findFreeRange([...session.space().maps, ...held], size, near, reach);
  if (at !== undefined) target.reserveRange(at, alignUp(size, PAGE));
  return at;
}

export function pagePrelude(
  session: Session,
  tid: number,
  page: { what: string; address: bigint; size: bigint; prot: bigint; bytes?: Buffer; unmapViaLibc?: boolean },
  adopt: () => void,
  abandon?: () => void,
): Prelude {
  const mmap = syscallOp(session, tid, session.arch.syscalls.mmap, [page.address, page.size, page.prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, 0xffffffffffffffffn, 0n], page.address);
  return {
    ops: page.bytes ? [mmap, { kind: 'write', addr: page.address, data: page.bytes }] : [mmap],
    address: page.address,
    size: page.size,
    what: page.what,
    expect: page.bytes,
    unmapViaLibc: page.unmapViaLibc,
    adopt() {
      adopt();
      session.invalidateSpace();
    },
    abandon,
  };
}

/**
 * After the plan that ran the preludes went through: each page is checked to hold what was written before it is
 * noted as ours. One that does not (it cannot happen unless something else wrote there) is unmapped and forgotten,
 * never used; the pages that failed the check are returned.
 */
export async function confirmPreludes(session: Session, tid: number, preludes: readonly Prelude[]): Promise<Prelude[]> {
  const target = session.requireTarget();
  const holds = (p: Prelude) => {
    try {
      return target.readMemory(p.address!, p.expect!.length).equals(p.expect!);
    } catch {
      return false;
    }
  };
  const bad = preludes.filter((p) => p.address !== undefined && p.expect && !holds(p));
  for (const p of preludes) if (!bad.includes(p)) p.adopt();
  if (bad.length === 0) return [];
  await unmapPages(session, tid, bad).catch(() => undefined);
  for (const p of bad) p.abandon?.();
  return bad;
}

/**
 * After a plan with preludes failed part way: every page it made is unmapped again (the tracer put back the bytes the
 * plan wrote, so a page left behind would be zeros), and each prelude is forgotten. `planOps` is the failed plan's op
 * list, to tell from the error which mmaps went through; without that (the process died), the map tells.
 */
export async function undoPreludes(session: Session, tid: number, preludes: readonly Prelude[], planOps: readonly NativeOp[], err: unknown): Promise<Prelude[]> {
  const e = toHotpatchError(err);
  const pages = preludes.filter((p) => p.address !== undefined);
  let made: Prelude[];
  if (e.plan && e.plan.opIndex >= 0) {
    const done = e.plan.completed;
    made = pages.filter((p) => {
      const i = planOps.indexOf(p.ops[0]!);
      return i >= 0 && i < done.length && done[i] === p.address;
    });
  } else {
    let maps: MapEntry[];
    try {
      maps = readMaps(session.requireTarget().pid);
    } catch {
      maps = [];
    }
    made = pages.filter((p) => maps.some((m) => m.start === p.address && m.path === ''));
  }
  if (made.length) await unmapPages(session, tid, made).catch(() => undefined);
  for (const p of preludes) p.abandon?.();
  session.invalidateSpace();
  return made;
}

/** munmap of our own pages on one borrowed thread, in one stop. */
export async function unmapPages(session: Session, tid: number, pages: readonly Prelude[]): Promise<void> {
  const target = session.requireTarget();
  if (!target.attached) return;
  // The stub page last: the others may go through its `syscall`.
  const ordered = [...pages.filter((p) => !p.unmapViaLibc), ...pages.filter((p) => p.unmapViaLibc)];
  const ops = ordered.map((p) => syscallOp(session, tid, session.arch.syscalls.munmap, [p.address!, p.size!], undefined, { viaLibc: p.unmapViaLibc === true }));
  const res = await target.run({ stopAll: false, ops });
  session.invalidateSpace();
  const failed = res.results.find((r) => syscallFailed(r.value) !== undefined);
  if (failed) throw new HotpatchError('E_REMOTE_SYSCALL', `munmap of a page of ours failed in the target (errno ${syscallFailed(failed.value)})`);
}

/** The errno a plan's failed mmap returned, when that is how it failed. */
export function mmapErrno(err: unknown): number | undefined {
  const e = toHotpatchError(err);
  return e.code === 'E_REMOTE_RESULT' && e.plan?.value !== undefined ? syscallFailed(e.plan.value) : undefined;
}

/** The ops of one plan: each prelude's, in order. */
export function preludeOps(preludes: readonly Prelude[]): NativeOp[] {
  return preludes.flatMap((p) => p.ops);
}
