// The page that holds the return stub of remote calls (see src/arch/x86_64/stub.ts): one per process, made in the same
// stop as the first remote function call, found again by its magic by any later session.
import { toHotpatchError } from '../errors.js';
import type { NativeOp, NativeOpResult } from '../native.js';
import type { Session } from '../session.js';
import { readMaps } from '../symbols/maps.js';
import { choosePlace, confirmPreludes, mmapErrno, pagePrelude, preludeOps, undoPreludes, NO_PRELUDE, type Prelude } from './pages.js';
import { heldStub as held, holdStub as hold, mmapFailure, PROT, type StubEntries } from './remote.js';

const EEXIST = 17;

/** 'HPSTUB' + layout version; at CODE_OFFSET a `syscall` instruction, then the stub's code. */
const MAGIC = Buffer.from('HPSTUB\x00\x02', 'latin1');
const CODE_OFFSET = 16;
export const STUB_PAGE_SIZE = 0x1000n;

export type ReturnPath = StubEntries;

/** What call ops get: the stub's fields, or nothing (they return to address 0, the old way). */
type PathFields = ReturnPath | Record<string, never>;

/**
 * The return path for calls about to run on `tid`: the stub page this session knows or finds, or a new one, made by
 * ops to put at the head of the calls' own plan (no stop of its own; `adopt` once they ran).
 */
function returnPathPrelude(session: Session, tid: number): { path: PathFields; prelude: Prelude } {
  const known = held(session);
  if (known) return { path: known.path ?? {}, prelude: NO_PRELUDE };
  const found = findStubPage(session);
  if (found !== undefined) {
    hold(session, pathAt(session, found));
    return { path: pathAt(session, found), prelude: NO_PRELUDE };
  }
  const at = freeStubAddress(session);
  if (at === undefined) return { path: {}, prelude: NO_PRELUDE };
  const path = pathAt(session, at);
  const page = { what: 'stub page', address: at, size: STUB_PAGE_SIZE, prot: PROT.READ | PROT.EXEC, bytes: pageBytes(session), unmapViaLibc: true };
  return { path, prelude: pagePrelude(session, tid, page, () => hold(session, path)) };
}

/** The entry points of a stub page at `page`: its `syscall`, the return stub after it, where the stub stops. */
function pathAt(session: Session, page: bigint): ReturnPath {
  const stub = session.arch.returnStub;
  const syscallEntry = page + BigInt(CODE_OFFSET);
  const code = syscallEntry + BigInt(session.arch.syscallInstruction.length);
  return { returnStub: code, stubDone: code + BigInt(stub.doneOffset), stubSignal: stub.signal, syscallEntry };
}

/**
 * Run remote calls on one thread, returning through the stub: a stub page still to be made, and the pages `extra`
 * makes, come first in the same stop, all placed from one view of the map. Each page is checked before it is used.
 * When the plan fails, every page it made is unmapped again. When it failed at one of those mmaps: a range taken
 * meanwhile (EEXIST) is chosen again once; a process that forbids mmap (seccomp) gets the calls alone, through a stub
 * page made earlier, or else returning to address 0 (a SIGKILL of hotpatch during such a call would leave the thread
 * to fault there). The results are the calls' own; `madePages` says whether the extra pages exist.
 */
export async function runCalls(session: Session, tid: number, ops: NativeOp[], extra: () => Prelude[] = () => [], retried = false): Promise<{ results: NativeOpResult[]; path: PathFields; madePages: boolean }> {
  const target = session.requireTarget();
  const { path, prelude } = returnPathPrelude(session, tid);
  const preludes = [prelude, ...extra()].filter((p) => p.ops.length > 0);
  const head = preludeOps(preludes);
  const planOps = [...head, ...viaStub(ops, path)];
  try {
    const res = await target.run({ stopAll: false, ops: planOps });
    await confirmPreludes(session, tid, preludes);
    return { results: res.results.slice(head.length), path, madePages: true };
  } catch (err) {
    const e = toHotpatchError(err);
    if (head.length === 0) throw e;
    await undoPreludes(session, tid, preludes, planOps, e);
    const atPrelude = e.plan !== undefined && e.plan.opIndex >= 0 && e.plan.opIndex < head.length;
    const errno = atPrelude ? mmapErrno(e) : undefined;
    if (errno === undefined) throw e; // the calls themselves failed; the pages made for them are gone again
    if (errno === EEXIST) {
      if (!retried) return runCalls(session, tid, ops, extra, true);
      throw mmapFailure(e, target.pid);
    }
    if (!held(session)) hold(session, undefined);
    const back = held(session)!.path ?? {};
    const res = await target.run({ stopAll: false, ops: viaStub(ops, back) });
    return { results: res.results, path: back, madePages: false };
  }
}

function viaStub(ops: NativeOp[], path: PathFields): NativeOp[] {
  return ops.map((op) => (op.kind === 'call' ? { ...op, ...path } : op));
}

/**
 * Before remote system calls: a stub page an earlier session left is found and used (its `syscall`), so a SIGKILL of
 * this session in the middle of one cannot leave the thread in libc with our registers. Makes no page.
 */
export function adoptStubPage(session: Session): void {
  if (held(session)) return;
  const found = findStubPage(session);
  if (found !== undefined) hold(session, pathAt(session, found));
}

/** The stub page in the target, if there is one (found by its magic when this session has not used it yet). */
export function stubPage(session: Session): bigint | undefined {
  const known = held(session)?.path;
  if (known) return known.syscallEntry - BigInt(CODE_OFFSET);
  return findStubPage(session);
}

/** After the stub page was unmapped: the next call makes a new one. */
export function forgetStubPage(session: Session): void {
  session.state.delete('returnStub');
}

/** How the call returns, in words for `explain`. */
export function stubWords(path: PathFields): string {
  if (!('returnStub' in path)) return 'a return address of 0 below the red zone: the return faults there and we catch it (no stub page could be mapped in this process).';
  return `a return address into our stub at 0x${path.returnStub.toString(16)}, with a signal frame of the saved state next to it: the stub raises SIGURG on its own thread, which stops it for us; were hotpatch killed meanwhile, nobody would see that signal and the stub would restore the thread itself with rt_sigreturn.`;
}

/** The page's first bytes: magic, the `syscall` instruction, the return stub. */
function pageBytes(session: Session): Buffer {
  return Buffer.concat([MAGIC, Buffer.alloc(CODE_OFFSET - MAGIC.length), Buffer.from(session.arch.syscallInstruction), Buffer.from(session.arch.returnStub.code)]);
}

/** The page at `start` is a stub page of ours (its whole head as we write it). */
export function isStubPage(session: Session, start: bigint): boolean {
  const want = pageBytes(session);
  try {
    return session.requireTarget().readMemory(start, want.length).equals(want);
  } catch {
    return false;
  }
}

function findStubPage(session: Session): bigint | undefined {
  const target = session.requireTarget();
  const want = pageBytes(session);
  for (const m of readMaps(target.pid)) {
    if (m.path !== '' || m.end - m.start !== STUB_PAGE_SIZE || m.perms !== 'r-xp') continue;
    try {
      if (target.readMemory(m.start, want.length).equals(want)) return m.start;
    } catch {
      // unreadable: not ours
    }
  }
  return undefined;
}

/** Read+exec from the start, never writable (MemoryDenyWriteExecute allows it); filled through /proc/PID/mem. */
function freeStubAddress(session: Session): bigint | undefined {
  const space = session.space();
  const near = space.main ? [space.main.start] : [0x555555554000n];
  return choosePlace(session, STUB_PAGE_SIZE, near, 1n << 46n);
}
