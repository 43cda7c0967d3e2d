// The page that holds the return stub of remote calls (see src/arch/x86_64/stub.ts): one per process, made in the same
// stop as the first remote function call, found again by its magic by any later session.
import { toHotpatchError } from '../errors.js';
import type { NativeOp, NativeOpResult } from '../native.js';
import type { Session } from '../session.js';
import { readMaps } from '../symbols/maps.js';
import { findFreeRange } from './placement.js';
import { pagePrelude, settlePreludes, heldStub as held, holdStub as hold, NO_PRELUDE, PROT, type Prelude, type StubEntries } from './remote.js';

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
  return { path, prelude: pagePrelude(session, tid, at, STUB_PAGE_SIZE, PROT.READ | PROT.EXEC, pageBytes(session), () => hold(session, path)) };
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
 * makes, come first in the same stop. Should one of those mmaps fail (a seccomp filter forbidding mmap), the calls run
 * again alone, through a stub page that did get made, or else returning to address 0: a SIGKILL of hotpatch during
 * such a call would leave the thread to fault there. The results are the calls' own.
 */
export async function runCalls(session: Session, tid: number, ops: NativeOp[], extra: Prelude[] = []): Promise<{ results: NativeOpResult[]; path: PathFields }> {
  const target = session.requireTarget();
  const { path, prelude } = returnPathPrelude(session, tid);
  const preludes = [prelude, ...extra].filter((p) => p.ops.length > 0);
  const head = preludes.flatMap((p) => p.ops);
  try {
    const res = await target.run({ stopAll: false, ops: [...head, ...viaStub(ops, path)] });
    for (const p of preludes) p.adopt();
    return { results: res.results.slice(head.length), path };
  } catch (err) {
    const e = toHotpatchError(err);
    if (head.length === 0) throw e;
    settlePreludes(session, preludes);
    if (e.code !== 'E_REMOTE_RESULT') throw e; // only the preludes' mmaps expect a result
    if (!held(session)) hold(session, undefined);
    const back = held(session)!.path ?? {};
    const res = await target.run({ stopAll: false, ops: viaStub(ops, back) });
    return { results: res.results, path: back };
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
  return findFreeRange(space.maps, STUB_PAGE_SIZE, near, 1n << 46n);
}
