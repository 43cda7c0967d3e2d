// The page that holds the return stub of remote calls (see src/arch/x86_64/stub.ts): one per process, made on the
// first remote function call, found again by its magic by any later session.
import { native, type NativeOp } from '../native.js';
import type { Session } from '../session.js';
import { readMaps } from '../symbols/maps.js';
import { findFreeRange } from './placement.js';
import { remoteMmapFixed, PROT } from './remote.js';

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
  if (page !== undefined) {
    const code = page + BigInt(CODE_OFFSET);
    fresh.path = { returnStub: code, stubDone: code + BigInt(stub.doneOffset), stubSignal: stub.signal };
  }
  session.state.set('returnStub', fresh);
  return fresh.path ?? {};
}

/** Add the return path to call ops (the others are left as they are). */
export function viaStub(ops: NativeOp[], path: ReturnPath | Record<string, never>): NativeOp[] {
  return ops.map((op) => (op.kind === 'call' ? { ...op, ...path } : op));
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
  const space = session.space();
  const near = space.main ? [space.main.start] : [0x555555554000n];
  const at = findFreeRange(space.maps, STUB_PAGE_SIZE, near, 1n << 46n);
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
