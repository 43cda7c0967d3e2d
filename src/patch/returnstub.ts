// The page that holds the return stub of remote calls (see src/arch/x86_64/stub.ts): one per process, made on the
// first remote function call, found again by its magic by any later session.
import { native, type NativeOp, type NativeOpResult } from '../native.js';
import { toHotpatchError } from '../errors.js';
import type { Session } from '../session.js';
import { readMaps } from '../symbols/maps.js';
import { findFreeRange } from './placement.js';
import { remoteMmapFixed, pagePrelude, settlePreludes, NO_PRELUDE, PROT, type Prelude } from './remote.js';

/** 'HPSTUB' + layout version; the stub's code follows at CODE_OFFSET. */
const MAGIC = Buffer.from('HPSTUB\x00\x01', 'latin1');
const CODE_OFFSET = 16;
export const STUB_PAGE_SIZE = 0x1000n;

export interface ReturnPath {
  returnStub: bigint;
  stubDone: bigint;
  stubSignal: number;
}

interface Held {
  pid: number;
  startTime: bigint;
  path?: ReturnPath;
}

/**
 * The fields a remote call op needs to return through the stub, or nothing when no stub can exist in this process
 * (a seccomp filter that forbids mmap): such calls return to address 0 as before, and a SIGKILL of hotpatch during
 * one would leave the thread to fault there.
 */
export async function returnPath(session: Session): Promise<ReturnPath | Record<string, never>> {
  const target = session.requireTarget();
  const held = session.state.get('returnStub') as Held | undefined;
  if (held && held.pid === target.pid && held.startTime === target.startTime) return held.path ?? {};
  const fresh: Held = { pid: target.pid, startTime: target.startTime };
  const stub = session.arch.returnStub;
  const page = findStubPage(session, stub.code) ?? (await makeStubPage(session, stub.code));
  if (page !== undefined) fresh.path = pathAt(page, stub);
  session.state.set('returnStub', fresh);
  return fresh.path ?? {};
}

/**
 * The return path for a plan that runs anyway (a load): an existing stub page, or a new one made at the head of that
 * plan (no stop of its own). Should the page's mmap fail (seccomp), run the plan again with `returnPath`.
 */
export function returnPathPrelude(session: Session, tid: number): { path: ReturnPath | Record<string, never>; prelude: Prelude } {
  const target = session.requireTarget();
  const held = session.state.get('returnStub') as Held | undefined;
  if (held && held.pid === target.pid && held.startTime === target.startTime) return { path: held.path ?? {}, prelude: NO_PRELUDE };
  const stub = session.arch.returnStub;
  const found = findStubPage(session, stub.code);
  const at = found ?? freeStubAddress(session);
  if (at === undefined) return { path: {}, prelude: NO_PRELUDE };
  const path = pathAt(at, stub);
  const adopt = () => session.state.set('returnStub', { pid: target.pid, startTime: target.startTime, path } satisfies Held);
  if (found !== undefined) {
    adopt();
    return { path, prelude: NO_PRELUDE };
  }
  return { path, prelude: pagePrelude(session, tid, at, STUB_PAGE_SIZE, PROT.READ | PROT.EXEC, pageBytes(stub.code), adopt) };
}

function pathAt(page: bigint, stub: { doneOffset: number; signal: number }): ReturnPath {
  const code = page + BigInt(CODE_OFFSET);
  return { returnStub: code, stubDone: code + BigInt(stub.doneOffset), stubSignal: stub.signal };
}

function freeStubAddress(session: Session): bigint | undefined {
  const space = session.space();
  const near = space.main ? [space.main.start] : [0x555555554000n];
  return findFreeRange(space.maps, STUB_PAGE_SIZE, near, 1n << 46n);
}

/**
 * Run remote calls on one thread, returning through the stub: a stub page still to be made, and the pages `extra`
 * makes, come first in the same stop. Should one of those mmaps fail (a seccomp filter forbidding mmap), the calls
 * run again alone, as `returnPath` allows. The results are the calls' own.
 */
export async function runCalls(session: Session, tid: number, ops: NativeOp[], extra: Prelude[] = []): Promise<{ results: NativeOpResult[]; path: ReturnPath | Record<string, never> }> {
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
    const back = await returnPath(session);
    const res = await target.run({ stopAll: false, ops: viaStub(ops, back) });
    return { results: res.results, path: back };
  }
}

/** Add the return path to call ops (the others are left as they are). */
export function viaStub(ops: NativeOp[], path: ReturnPath | Record<string, never>): NativeOp[] {
  return ops.map((op) => (op.kind === 'call' ? { ...op, ...path } : op));
}

/** The stub page in the target, if there is one (found by its magic when this session has not used it yet). */
export function stubPage(session: Session): bigint | undefined {
  const target = session.requireTarget();
  const held = session.state.get('returnStub') as Held | undefined;
  if (held && held.pid === target.pid && held.startTime === target.startTime && held.path) return held.path.returnStub - BigInt(CODE_OFFSET);
  return findStubPage(session, session.arch.returnStub.code);
}

/** After the stub page was unmapped: the next call makes a new one. */
export function forgetStubPage(session: Session): void {
  session.state.delete('returnStub');
}

/** How the call returns, in words for `explain`. */
export function stubWords(path: ReturnPath | Record<string, never>): string {
  if (!('returnStub' in path)) return 'a return address of 0 below the red zone: the return faults there and we catch it (no stub page could be mapped in this process).';
  return `a return address into our stub at 0x${path.returnStub.toString(16)}, with a signal frame of the saved state next to it: the stub raises SIGURG on its own thread, which stops it for us; were hotpatch killed meanwhile, nobody would see that signal and the stub would restore the thread itself with rt_sigreturn.`;
}

function pageBytes(code: Uint8Array): Buffer {
  const bytes = Buffer.alloc(CODE_OFFSET + code.length);
  MAGIC.copy(bytes, 0);
  Buffer.from(code).copy(bytes, CODE_OFFSET);
  return bytes;
}

function findStubPage(session: Session, code: Uint8Array): bigint | undefined {
  const target = session.requireTarget();
  const want = pageBytes(code);
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

/** Map one read+exec page (never writable: MemoryDenyWriteExecute allows it) and write the stub through /proc/PID/mem. */
async function makeStubPage(session: Session, code: Uint8Array): Promise<bigint | undefined> {
  const target = session.requireTarget();
  const at = freeStubAddress(session);
  if (at === undefined) return undefined;
  let page: bigint;
  try {
    page = await remoteMmapFixed(session, at, STUB_PAGE_SIZE, PROT.READ | PROT.EXEC);
  } catch {
    return undefined; // seccomp or no memory: calls fall back to returning to address 0
  }
  native().writeMemory(target.pid, page, pageBytes(code));
  return page;
}
