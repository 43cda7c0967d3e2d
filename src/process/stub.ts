// The page that holds the return stub of remote calls (see src/arch/x86_64/stub.ts): one per process, made in the same
// stop as the first remote call, found again by its magic by any later session. Remote calls and system calls run
// here: the page first when it is still to be made, then the steps, on one borrowed thread.
import { toHotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import type { Target, StubEntries } from './target.js';
import { choosePlace, confirmPages, executableStart, mmapErrno, pagePlan, pageSteps, undoPages, NO_PAGE, type PagePlan } from './pages.js';
import { mmapFailure, PROT, type Step, type StepResult } from './steps.js';

const EEXIST = 17;

/** 'HPSTUB' + layout version; at CODE_OFFSET a `syscall` instruction, then the stub's code. */
const MAGIC = Buffer.from('HPSTUB\x00\x02', 'latin1');
const CODE_OFFSET = 16;
export const STUB_PAGE_SIZE = 0x1000n;

/** How the calls of one plan return: through these entry points, or to address 0 (undefined). */
export type ReturnPath = StubEntries | undefined;

/**
 * The return path for calls about to run on `tid`: the stub page known or found, or a new one, made by steps to put
 * at the head of the calls' own plan (no stop of its own; noted once they ran and its bytes are checked).
 */
function returnPathPlan(target: Target, tid: number): { path: ReturnPath; page: PagePlan } {
  if (target.stub.known) return { path: target.stub.entries, page: NO_PAGE };
  const found = findStubPage(target);
  if (found !== undefined) {
    target.stub = { known: true, entries: entriesAt(target, found) };
    return { path: target.stub.entries, page: NO_PAGE };
  }
  const at = choosePlace(target, STUB_PAGE_SIZE, [executableStart(target) ?? 0x555555554000n], 1n << 46n);
  if (at === undefined) return { path: undefined, page: NO_PAGE };
  const path = entriesAt(target, at);
  // Read+exec from the start, never writable (MemoryDenyWriteExecute allows it); filled through /proc/PID/mem.
  const page = pagePlan({ what: 'stub page', address: at, size: STUB_PAGE_SIZE, prot: PROT.READ | PROT.EXEC, bytes: pageBytes(target), unmapViaLibc: true }, () => {
    target.stub = { known: true, entries: path };
  });
  return { path, page };
}

/** The entry points of a stub page at `page`: its `syscall`, the return stub after it, where the stub stops. */
function entriesAt(target: Target, page: bigint): StubEntries {
  const stub = target.arch.returnStub;
  const syscallEntry = page + BigInt(CODE_OFFSET);
  const code = syscallEntry + BigInt(target.arch.syscallInstruction.length);
  return { returnStub: code, stubDone: code + BigInt(stub.doneOffset), stubSignal: stub.signal, syscallEntry };
}

/**
 * Run steps on one borrowed thread, calls returning through the stub: a stub page still to be made, and the pages
 * `extra` makes, come first in the same stop, all placed from one view of the map. Each page is checked before it
 * is used. When the plan fails, every page it made is unmapped again. When it failed at one of those mmaps: a range
 * taken meanwhile (EEXIST) is chosen again once; a process that forbids mmap (seccomp) gets the steps alone, through
 * a stub page made earlier, or else returning to address 0 (a SIGKILL of hotpatch during such a call would leave the
 * thread to fault there). The results are the steps' own; `madePages` says whether the extra pages exist.
 */
export async function runCalls(target: Target, tid: number, steps: Step[], extra: () => PagePlan[] = () => [], retried = false): Promise<{ results: StepResult[]; path: ReturnPath; madePages: boolean }> {
  const { path, page } = returnPathPlan(target, tid);
  const pages = [page, ...extra()].filter((p) => p.steps.length > 0);
  const head = pageSteps(pages);
  const plan = [...head, ...steps];
  try {
    const results = await target.runSteps(tid, plan, { returnPath: path ?? null });
    await confirmPages(target, tid, pages);
    return { results: results.slice(head.length), path, madePages: true };
  } catch (err) {
    const e = toHotpatchError(err);
    if (head.length === 0) throw e;
    await undoPages(target, tid, pages, plan, e);
    const atPage = e.plan !== undefined && e.plan.opIndex >= 0 && e.plan.opIndex < head.length;
    const errno = atPage ? mmapErrno(e) : undefined;
    if (errno === undefined) throw e; // the steps themselves failed; the pages made for them are gone again
    if (errno === EEXIST) {
      if (!retried) return runCalls(target, tid, steps, extra, true);
      throw mmapFailure(e, target.pid);
    }
    if (!target.stub.known) target.stub = { known: true };
    const back = target.stub.entries;
    const results = await target.runSteps(tid, steps, { returnPath: back ?? null });
    return { results, path: back, madePages: false };
  }
}

/**
 * Before remote system calls: a stub page an earlier session left is found and used (its `syscall`), so a SIGKILL of
 * this session in the middle of one cannot leave the thread in libc with our registers. Makes no page.
 */
export function adoptStubPage(target: Target): void {
  if (target.stub.known) return;
  const found = findStubPage(target);
  if (found !== undefined) target.stub = { known: true, entries: entriesAt(target, found) };
}

/** The stub page in the process, if there is one (found by its magic when not known yet). */
export function stubPage(target: Target): bigint | undefined {
  if (target.stub.known && target.stub.entries) return target.stub.entries.syscallEntry - BigInt(CODE_OFFSET);
  return findStubPage(target);
}

/** After the stub page was unmapped: the next call makes a new one. */
export function forgetStubPage(target: Target): void {
  target.stub = { known: false };
}

/** How the call returns, in words for `explain`. */
export function stubWords(path: ReturnPath): string {
  if (!path) return 'a return address of 0 below the red zone: the return faults there and we catch it (no stub page could be mapped in this process).';
  return `a return address into our stub at ${hex(path.returnStub)}, with a signal frame of the saved state next to it: the stub raises SIGURG on its own thread, which stops it for us; were hotpatch killed meanwhile, nobody would see that signal and the stub would restore the thread itself with rt_sigreturn.`;
}

/** How a remote system call is made in this process, in words for `explain`. */
export function syscallWords(target: Target): string {
  const how = target.stub.known && target.stub.entries
    ? 'rip set on our stub page\'s own `syscall` instruction with rax = the call number (9 for mmap) and its arguments, rsp on a signal frame of the saved state (PTRACE_SETREGS), PTRACE_CONT; the stub after the `syscall` stops the thread with SIGURG, and would restore it itself were hotpatch killed meanwhile'
    : 'rip set on a `syscall` instruction in libc with rax = the call number (9 for mmap) and its arguments (PTRACE_SETREGS), one PTRACE_SINGLESTEP over it';
  return `its registers saved (PTRACE_GETREGS), ${how}; the result read from rax, the registers put back.`;
}

/** The page's first bytes: magic, the `syscall` instruction, the return stub. */
function pageBytes(target: Target): Buffer {
  return Buffer.concat([MAGIC, Buffer.alloc(CODE_OFFSET - MAGIC.length), Buffer.from(target.arch.syscallInstruction), Buffer.from(target.arch.returnStub.code)]);
}

/** The page at `start` is a stub page of ours (its whole head as we write it). */
export function isStubPage(target: Target, start: bigint): boolean {
  const want = pageBytes(target);
  try {
    return target.readMemory(start, want.length).equals(want);
  } catch {
    return false;
  }
}

function findStubPage(target: Target): bigint | undefined {
  for (const m of target.maps()) {
    if (m.path !== '' || m.end - m.start !== STUB_PAGE_SIZE || m.perms !== 'r-xp') continue;
    if (isStubPage(target, m.start)) return m.start;
  }
  return undefined;
}
