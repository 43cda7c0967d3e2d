// What the layers above ask the process to do in one stop (write, call a function, make a system call), and the
// kernel's answers read back: the only place that turns those steps into the tracer's native ops.
import { HotpatchError, type ErrorCode } from '../errors.js';
import { hex } from '../hex.js';
import type { NativeOp, NativeReturnPath } from '../native.js';
import { readStatus } from './procfs.js';

export const PROT = { READ: 1n, WRITE: 2n, EXEC: 4n } as const;
export const MAP_PRIVATE = 0x02n;
export const MAP_ANONYMOUS = 0x20n;
export const MAP_FIXED_NOREPLACE = 0x100000n;

export type SyscallName = 'mmap' | 'munmap' | 'mprotect' | 'getpid';

/** One step of a plan, in the caller's terms. */
export type Step =
  | { kind: 'write'; address: bigint; bytes: Uint8Array }
  | {
      kind: 'call';
      fn: bigint;
      args: bigint[];
      /** Copied onto the borrowed thread's stack; argument `arg` becomes its address (a path for dlopen). */
      stackData?: { arg: number; bytes: Uint8Array };
      /** Run only when the previous call returned 0 (dlopen → dlerror). */
      onlyIfPreviousZero?: boolean;
      timeoutMs?: number;
    }
  | {
      kind: 'syscall';
      /** The call by its name in the architecture's table (Arch.syscalls), or its number. */
      call: SyscallName | bigint;
      args: bigint[];
      /** Fail the plan (E_REMOTE_RESULT, the value kept in the error) unless it returns this. */
      expect?: bigint;
      /** Through libc's `syscall` instruction even when the stub page is there (to unmap that page itself). */
      viaLibc?: boolean;
    };

export interface StepResult {
  ran: boolean;
  /** A call's or system call's return value. */
  value: bigint;
  /** A write: the bytes it replaced. */
  data: Buffer;
}

/** mmap of fresh anonymous memory exactly at `address` (never over a mapping), failing the plan otherwise. */
export function mmapStep(address: bigint, size: bigint, prot: bigint): Step {
  return { kind: 'syscall', call: 'mmap', args: [address, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, 0xffffffffffffffffn, 0n], expect: address };
}

export function munmapStep(address: bigint, size: bigint, viaLibc = false): Step {
  return { kind: 'syscall', call: 'munmap', args: [address, size], viaLibc };
}

/** Where steps of one plan go: the thread borrowed, the `syscall` instructions, the return path of calls. */
export interface StepContext {
  tid: number;
  syscalls: Record<SyscallName, bigint>;
  /** Where calls return: the stub's entry points; undefined: none (calls return to 0). */
  returnPath?: NativeReturnPath;
  /** The stub page that exists before the plan starts (its own `syscall`, followed by the stub); undefined: none. */
  stub?: NativeReturnPath & { syscallEntry: bigint };
  /** A `syscall` instruction in libc (looked up only when a step needs it). */
  libcSyscall: () => bigint;
}

export function toNativeOp(step: Step, ctx: StepContext): NativeOp {
  const pathOf = (p?: NativeReturnPath) => (p ? { returnStub: p.returnStub, stubDone: p.stubDone, stubSignal: p.stubSignal } : {});
  switch (step.kind) {
    case 'write':
      return { kind: 'write', addr: step.address, data: Buffer.from(step.bytes) };
    case 'call':
      return {
        kind: 'call',
        tid: ctx.tid,
        addr: step.fn,
        args: step.args,
        ...(step.stackData ? { data: Buffer.from(step.stackData.bytes), stackDataArg: step.stackData.arg } : {}),
        onlyIfPreviousZero: step.onlyIfPreviousZero,
        timeoutMs: step.timeoutMs ?? 2000,
        ...pathOf(ctx.returnPath),
      };
    case 'syscall': {
      const sysno = typeof step.call === 'bigint' ? step.call : ctx.syscalls[step.call];
      if (ctx.stub && !step.viaLibc) return { kind: 'syscall', tid: ctx.tid, addr: ctx.stub.syscallEntry, sysno, args: step.args, expect: step.expect, timeoutMs: 2000, ...pathOf(ctx.stub) };
      return { kind: 'syscall', tid: ctx.tid, addr: ctx.libcSyscall(), sysno, args: step.args, expect: step.expect, timeoutMs: 2000 };
    }
  }
}

/** Kernel errors come back from raw system calls as -errno in the return register. */
export function syscallFailed(value: bigint): number | undefined {
  const signed = BigInt.asIntN(64, value);
  return signed < 0n && signed > -4096n ? Number(-signed) : undefined;
}

const ERRNO_NAMES: Record<number, ErrorCode> = { 1: 'EPERM', 12: 'ENOMEM', 13: 'EACCES', 17: 'EEXIST', 22: 'EINVAL', 38: 'ENOSYS' };

export function syscallError(call: string, errno: number, pid?: number): HotpatchError {
  const code = ERRNO_NAMES[errno];
  const filtered = pid !== undefined ? seccompNote(pid) : undefined;
  const hint = errno === 1 || errno === 13
    ? filtered ?? 'the target may forbid it (seccomp, MemoryDenyWriteExecute)'
    : errno === 17 ? 'the address range is taken; try again' : undefined;
  return new HotpatchError(code ?? 'E_REMOTE_SYSCALL', `${call} in the target failed: ${code ?? `errno ${errno}`}`, hint);
}

/**
 * A plan's mmap that did not return the address asked for (E_REMOTE_RESULT) as the kernel's error (EPERM under
 * seccomp, with its hint); other errors as they are.
 */
export function mmapFailure(e: HotpatchError, pid: number, what = 'memory'): HotpatchError {
  if (e.code !== 'E_REMOTE_RESULT') return e;
  const value = e.plan?.value;
  const errno = value !== undefined ? syscallFailed(value) : undefined;
  if (errno !== undefined) return syscallError('mmap', errno, pid);
  return new HotpatchError('E_REMOTE_RESULT', `mmap in the target did not place the ${what} where asked${value !== undefined ? ` (it returned ${hex(value)})` : ''}`, 'try again');
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
