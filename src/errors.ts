// Errors as values with a code, a one-line message and a hint: made where the fault is known, shown as one line.
// The codes, their meanings and fallback hints are one table (src/errors/table.ts, listed in docs/errors.md).
import { ERRORS, errorInfo, isErrorCode, type ErrorCode } from './errors/table.js';

export { ERRORS, isErrorCode, type ErrorCode };

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
  readonly code: ErrorCode;
  /** The hint given where the error was made, else the table's hint for the code. */
  readonly hint?: string;
  /** Set when a native plan failed part way. */
  plan?: PlanFailure;
  /** The code it came with when that is not in the table (an errno name E_KERNEL stands for, a Node error code). */
  foreignCode?: string;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'HotpatchError';
    this.code = code;
    this.hint = hint ?? errorInfo(code).hint;
  }
}

const PROCESS_GONE_HINT = 'check the pid with ps or pgrep, and attach to a live process';

/**
 * The target (or the pid asked for) is gone: it exited, was killed, is a zombie, or has no /proc entry. Said one way
 * everywhere: ESRCH, "process PID is gone (how)".
 */
export function processGone(pid: number, how: string): HotpatchError {
  return new HotpatchError('ESRCH', `process ${pid} is gone (${how})`, PROCESS_GONE_HINT);
}

/**
 * A code from outside the table (the native layer, Node) as one of ours: an errno name the table does not list is
 * E_KERNEL, Node's AbortError is E_CANCELLED, anything else E_INTERNAL; the original stays in the message and in
 * foreignCode.
 */
function ownCode(code: unknown): { code: ErrorCode; foreign?: string } {
  if (code === undefined || code === null) return { code: 'E_INTERNAL' };
  if (isErrorCode(code)) return { code };
  const text = String(code);
  if (text === 'ABORT_ERR') return { code: 'E_CANCELLED' };
  return { code: /^E[A-Z0-9]+$/.test(text) ? 'E_KERNEL' : 'E_INTERNAL', foreign: text };
}

/** Turn anything thrown (native errors carry .code/.syscall, and plan failures their progress) into a HotpatchError. */
export function toHotpatchError(err: unknown): HotpatchError {
  if (err instanceof HotpatchError) return err;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; syscall?: unknown; opIndex?: unknown; completed?: unknown; rolledBack?: unknown; value?: unknown };
  const { code, foreign } = ownCode(e?.name === 'AbortError' ? 'ABORT_ERR' : e?.code);
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const out = new HotpatchError(code, foreign ? `${message} (${foreign})` : message);
  if (foreign) out.foreignCode = foreign;
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
