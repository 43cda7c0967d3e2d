// Processes by name, as pgrep finds them: the name the kernel keeps for each (/proc/PID/comm), never our own process.
import { readFileSync, readdirSync } from 'node:fs';
import { readStat } from './procfs.js';

export interface ProcessEntry {
  pid: number;
  /** The kernel's name for it (comm: the executable's name, cut to 15 characters). */
  comm: string;
  /** Its command line, arguments joined by spaces ('' for a kernel thread). */
  cmdline: string;
}

/** comm is cut to this many characters: a longer name is compared by its first 15, as pgrep does. */
const COMM_LENGTH = 15;

/** Every process we could attach to: not ours, not a kernel thread, not a zombie. */
export function listProcesses(): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const entry of names) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const stat = readStat(pid);
      if (stat.state === 'Z') continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      if (cmdline === '') continue;
      out.push({ pid, comm: stat.comm, cmdline });
    } catch {
      // gone while we looked
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/**
 * The processes a name means, as `pgrep NAME` would find them but exact matches first: those whose comm is the name
 * (a name longer than comm holds: its first 15 characters); only when none is, those whose comm contains it.
 */
export function processesNamed(name: string, all = listProcesses()): { matches: ProcessEntry[]; exact: boolean } {
  const wanted = name.slice(0, COMM_LENGTH);
  const exact = all.filter((p) => p.comm === wanted);
  if (exact.length > 0) return { matches: exact, exact: true };
  return { matches: all.filter((p) => p.comm.includes(name)), exact: false };
}
