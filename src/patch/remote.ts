// Remote system calls and function calls in the target, each one native plan on one borrowed thread.
import { HotpatchError } from '../errors.js';
import type { Session } from '../session.js';
import type { NativeOp } from '../native.js';
import { readStat, readStatus } from '../process/procfs.js';
import type { Module } from '../symbols/types.js';

const PROT_READ = 1n;
const PROT_WRITE = 2n;
const PROT_EXEC = 4n;
export const PROT = { READ: PROT_READ, WRITE: PROT_WRITE, EXEC: PROT_EXEC };
export const MAP_PRIVATE = 0x02n;
export const MAP_ANONYMOUS = 0x20n;
export const MAP_FIXED_NOREPLACE = 0x100000n;

/** Kernel errors come back from raw system calls as -errno in the return register. */
export function syscallFailed(value: bigint): number | undefined {
  const signed = BigInt.asIntN(64, value);
  return signed < 0n && signed > -4096n ? Number(-signed) : undefined;
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 12: 'ENOMEM', 13: 'EACCES', 17: 'EEXIST', 22: 'EINVAL', 38: 'ENOSYS' };

export function syscallError(call: string, errno: number, pid?: number): HotpatchError {
  const name = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  const filtered = pid !== undefined ? seccompNote(pid) : undefined;
  const hint = errno === 1 || errno === 13
    ? filtered ?? 'the target may forbid it (seccomp, MemoryDenyWriteExecute)'
    : errno === 17 ? 'the address range is taken; try again' : undefined;
  return new HotpatchError(name.startsWith('E') ? name : 'E_REMOTE_SYSCALL', `${call} in the target failed: ${name}`, hint);
}

/**
 * A plan's mmap that did not return the address asked for (E_REMOTE_RESULT) as the kernel's error (EPERM under
 * seccomp, with its hint); other errors as they are.
 */
export function mmapFailure(e: HotpatchError, pid: number, what = 'memory'): HotpatchError {
  if (e.code !== 'E_REMOTE_RESULT') return e;
  const errno = e.plan?.value !== undefined ? syscallFailed(e.plan.value) : undefined;
  return errno !== undefined ? syscallError('mmap', errno, pid) : new HotpatchError('E_REMOTE_RESULT', `mmap in the target did not place the ${what} where asked: ${e.message}`, 'try again');
}

/** When the process runs under a seccomp filter (Seccomp: 2 in /proc/PID/status): what that means for loading. */
export function seccompNote(pid: number): string | undefined {
  let mode: string | undefined;
  try {
    mode = readStatus(pid)['Seccomp'];
  } catch {
    return undefined;
  }
  if (mode !== '2') return undefined;
  return `process ${pid} runs under a seccomp filter (Seccomp: 2 in /proc/${pid}/status) that may forbid mmap/mprotect for both load methods; nothing was changed`;
}

/**
 * The thread to borrow: one asleep in a system call holds no user-space lock (it is not inside malloc or the
 * loader), so a call on it cannot deadlock on its own locks. The main thread is preferred among those.
 */
export function chooseThread(session: Session): number {
  const target = session.requireTarget();
  const tids = target.threads();
  const sleeping = tids.filter((tid) => {
    try {
      return readStat(target.pid, tid).state === 'S';
    } catch {
      return false;
    }
  });
  if (sleeping.includes(target.pid)) return target.pid;
  return sleeping[0] ?? target.pid;
}

/** The address of a `syscall` instruction inside libc's text (any copy of the two bytes will do). */
export function findSyscallInstruction(session: Session): bigint {
  const cached = session.state.get('syscallInsn') as { pid: number; addr: bigint } | undefined;
  const target = session.requireTarget();
  if (cached && cached.pid === target.pid) return cached.addr;
  const space = session.space();
  const insn = Buffer.from(session.arch.syscallInstruction);
  const candidates = space.maps.filter((m) => m.perms.includes('x') && /\/libc[.-]/.test(m.path));
  const rest = space.maps.filter((m) => m.perms.includes('x') && !candidates.includes(m));
  for (const m of [...candidates, ...rest]) {
    const len = Number(m.end - m.start);
    const bytes = target.readMemory(m.start, Math.min(len, 4 << 20));
    const at = bytes.indexOf(insn);
    if (at >= 0) {
      const addr = m.start + BigInt(at);
      session.state.set('syscallInsn', { pid: target.pid, addr });
      return addr;
    }
  }
  throw new HotpatchError('E_NO_SYSCALL', 'found no system call instruction in the target’s code', 'is libc mapped?');
}

/** The stub page's entry points, once this session knows the page (src/patch/returnstub.ts keeps them). */
export interface StubEntries {
  returnStub: bigint;
  stubDone: bigint;
  stubSignal: number;
  /** The page's own `syscall` instruction, which the return stub follows. */
  syscallEntry: bigint;
}

/** What this session knows of the target's stub page; `path` absent: none can be made there (seccomp forbids mmap). */
export interface HeldStub {
  pid: number;
  startTime: bigint;
  path?: StubEntries;
}

/** The stub page this session knows for the attached process (not one of an earlier process on the same pid). */
export function heldStub(session: Session): HeldStub | undefined {
  const target = session.requireTarget();
  const held = session.state.get('returnStub') as HeldStub | undefined;
  return held && held.pid === target.pid && held.startTime === target.startTime ? held : undefined;
}

export function holdStub(session: Session, path: StubEntries | undefined): void {
  const target = session.requireTarget();
  session.state.set('returnStub', { pid: target.pid, startTime: target.startTime, path } satisfies HeldStub);
}

export function knownStub(session: Session): StubEntries | undefined {
  return heldStub(session)?.path;
}

/** How a remote system call is made in this process, in words for `explain`. */
export function syscallWords(session: Session): string {
  const how = knownStub(session)
    ? 'rip set on our stub page\'s own `syscall` instruction with rax = the call number (9 for mmap) and its arguments, rsp on a signal frame of the saved state (PTRACE_SETREGS), PTRACE_CONT; the stub after the `syscall` stops the thread with SIGURG, and would restore it itself were hotpatch killed meanwhile'
    : 'rip set on a `syscall` instruction in libc with rax = the call number (9 for mmap) and its arguments (PTRACE_SETREGS), one PTRACE_SINGLESTEP over it';
  return `its registers saved (PTRACE_GETREGS), ${how}; the result read from rax, the registers put back.`;
}

/**
 * A system call made by a borrowed thread. Through the stub page when there is one: its own `syscall`, then the
 * return stub, so a SIGKILL of hotpatch in the middle leaves the thread to restore itself; else libc's `syscall`
 * instruction, single-stepped (`viaLibc`: always so, e.g. to unmap the stub page itself).
 */
export function syscallOp(session: Session, tid: number, nr: bigint, args: bigint[], expect?: bigint, opts: { viaLibc?: boolean } = {}): NativeOp {
  const stub = opts.viaLibc ? undefined : knownStub(session);
  if (stub) {
    return { kind: 'syscall', tid, addr: stub.syscallEntry, sysno: nr, args, expect, timeoutMs: 2000, returnStub: stub.returnStub, stubDone: stub.stubDone, stubSignal: stub.stubSignal };
  }
  return { kind: 'syscall', tid, addr: findSyscallInstruction(session), sysno: nr, args, expect, timeoutMs: 2000 };
}

/** A libc (or any module) function by name, from exported symbols first. */
export function findFunction(session: Session, names: string[], preferModule = /\/libc[.-]/): { address: bigint; name: string; module: Module } | undefined {
  const space = session.space();
  for (const name of names) {
    const hits = space.names.lookup(name).filter((s) => s.type === 'func' || s.type === 'ifunc');
    const hit = hits.find((s) => preferModule.test(space.modules.find((m) => m.name === s.module)?.path ?? '')) ?? hits.find((s) => s.bind !== 'local');
    if (hit) return { address: hit.address, name, module: space.modules.find((m) => m.name === hit.module)! };
  }
  return undefined;
}

export async function remoteSyscall(session: Session, nr: bigint, args: bigint[]): Promise<bigint> {
  const target = session.requireTarget();
  const tid = chooseThread(session);
  const res = await target.run({ stopAll: false, ops: [syscallOp(session, tid, nr, args)] });
  return res.results[0].value;
}

/** mmap in the target at `address` exactly (never over an existing mapping). */
export async function remoteMmapFixed(session: Session, address: bigint, size: bigint, prot: bigint): Promise<bigint> {
  const target = session.requireTarget();
  const v = await remoteSyscall(session, session.arch.syscalls.mmap, [address, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1n & 0xffffffffffffffffn, 0n]);
  const err = syscallFailed(v);
  if (err !== undefined) throw syscallError('mmap', err, target.pid);
  if (v !== address) {
    await remoteSyscall(session, session.arch.syscalls.munmap, [v, size]);
    throw new HotpatchError('EEXIST', `mmap placed memory at 0x${v.toString(16)}, not at 0x${address.toString(16)}`, 'the kernel is too old for MAP_FIXED_NOREPLACE');
  }
  session.invalidateSpace();
  return v;
}

export async function remoteMunmap(session: Session, address: bigint, size: bigint): Promise<void> {
  await remoteSyscall(session, session.arch.syscalls.munmap, [address, size]);
  session.invalidateSpace();
}
