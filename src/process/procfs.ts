// Facts about a process read from /proc: identity, state, tracer, threads. No ptrace here.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { processGone } from '../errors.js';

export interface ProcessStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, it names one process for good. */
  startTime: bigint;
}

export function readStat(pid: number, tid?: number): ProcessStat {
  const path = tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw processGone(pid, 'no such process');
  }
  // comm is in parentheses and may itself hold spaces or parentheses: split at the last ')'.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    startTime: BigInt(rest[19]),
  };
}

export function readStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    throw processGone(pid, 'no such process');
  }
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export function tracerPid(pid: number): number {
  return Number(readStatus(pid).TracerPid ?? 0);
}

export function listThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t > 0).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export function executablePath(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

export function processName(pid: number): string {
  try {
    return readStat(pid).comm;
  } catch {
    return '?';
  }
}

const STATE_NAMES: Record<string, string> = {
  R: 'running', S: 'sleeping', D: 'disk sleep', T: 'stopped', t: 'tracing stop', Z: 'zombie', X: 'dead', I: 'idle',
};

export function describeState(code: string): string {
  return STATE_NAMES[code] ?? code;
}

export function yamaScope(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** The file a descriptor of the process writes to (its stdout: fd 1), when it is a file and not a pipe or terminal. */
export function outputFile(pid: number, fd = 1): string | undefined {
  try {
    const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
    return path.startsWith('/') && !path.startsWith('/dev/') ? path.replace(/ \(deleted\)$/, '') : undefined;
  } catch {
    return undefined;
  }
}
