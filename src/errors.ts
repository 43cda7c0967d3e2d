// Errors as values with a code, a one-line message and a hint: made where the fault is known, shown as one line.

/** How far a native plan got before it failed: what the caller needs to undo exactly what happened in the target. */
export interface PlanFailure {
  /** The op that failed. */
  opIndex: number;
  /** The results of the ops before it (0 for an op skipped by onlyIfPreviousZero). */
  completed: bigint[];
  /** The plan's own writes were put back. */
  rolledBack: boolean;
  /** E_REMOTE_RESULT: what the failed step returned instead of what was expected. */
  value?: bigint;
}

export class HotpatchError extends Error {
  readonly code: string;
  readonly hint?: string;
  /** Set when a native plan failed part way. */
  plan?: PlanFailure;

  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = 'HotpatchError';
    this.code = code;
    this.hint = hint;
  }
}

/** Hints for kernel errors a user meets; the errno name stays the code. */
const ERRNO_HINTS: Record<string, string> = {
  ESRCH: 'the process or thread is gone (or not traced by us): check the pid with ps',
  EPERM: 'ptrace needs the same user (or root/CAP_SYS_PTRACE) and a permissive /proc/sys/kernel/yama/ptrace_scope',
  EACCES: 'permission denied: run as the process owner or as root',
  EIO: 'the address is not mapped in the target',
  EFAULT: 'the address is not mapped in the target',
  EBUSY: 'the process is already traced by another tool',
  ENOENT: 'no such file',
};

/** Turn anything thrown (native errors carry .code/.syscall) into a HotpatchError. */
export function toHotpatchError(err: unknown): HotpatchError {
  if (err instanceof HotpatchError) return err;
  const e = err as { code?: unknown; message?: unknown; syscall?: unknown; opIndex?: unknown; completed?: unknown; rolledBack?: unknown; value?: unknown };
  const code = typeof e?.code === 'string' ? e.code : 'E_INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const out = new HotpatchError(code, message, ERRNO_HINTS[code]);
  if (typeof e?.opIndex === 'number') {
    out.plan = {
      opIndex: e.opIndex,
      completed: Array.isArray(e.completed) ? (e.completed as bigint[]) : [],
      rolledBack: e.rolledBack === true,
      value: typeof e.value === 'bigint' ? e.value : undefined,
    };
  } else if (typeof e?.value === 'bigint') {
    out.plan = { opIndex: -1, completed: [], rolledBack: false, value: e.value };
  }
  return out;
}

export function errnoHint(code: string): string | undefined {
  return ERRNO_HINTS[code];
}
