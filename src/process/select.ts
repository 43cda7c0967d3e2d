// Choosing the processes of a fleet run (-p 10,11,12, --all NAME, --mapping MODULE), and saying which of them a run
// may not touch, and why, before any is attached. No ptrace here: only /proc.
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';
import { readStat, readStatus } from './procfs.js';
import { DELETED_SUFFIX } from './maps.js';
import { processesNamed, listProcesses } from './find.js';

export interface Chosen {
  pid: number;
  /** comm, when the process was there to read. */
  name?: string;
  /** Why the run leaves it alone; undefined: it is to be patched. */
  skip?: string;
}

/** PF_KTHREAD in /proc/PID/stat's flags: a kernel thread has no user memory to patch. */
const PF_KTHREAD = 0x00200000;

/** The pids of this process's parents up to init: a rollout never patches the shell (or Ansible) that runs it. */
function ancestors(): Set<number> {
  const out = new Set<number>();
  let pid = process.ppid;
  for (let i = 0; i < 64 && pid > 1 && !out.has(pid); i++) {
    out.add(pid);
    try {
      pid = readStat(pid).ppid;
    } catch {
      break;
    }
  }
  return out;
}

/**
 * Why a process may not be touched by this run, or undefined. Checked from /proc before attaching: what the kernel
 * would refuse anyway (another user's process, one already traced) is said as a skip, not as a failure of the run.
 */
export function skipReason(pid: number, ours = ancestors()): string | undefined {
  if (pid === process.pid) return 'this is hotpatch itself';
  if (pid === 1) return 'pid 1 (init) is never patched by a rollout';
  if (ours.has(pid)) return 'an ancestor of this hotpatch process (the shell or tool running it)';
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 'no such process';
  }
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const flags = Number(rest[6]);
  if (rest[0] === 'Z') return 'a zombie (it has exited)';
  if (flags & PF_KTHREAD || pid === 2 || Number(rest[1]) === 2) return 'a kernel thread';
  let status: Record<string, string>;
  try {
    status = readStatus(pid);
  } catch {
    return 'no such process';
  }
  const uid = process.getuid?.();
  const owner = Number((status.Uid ?? '').split(/\s+/)[1] ?? NaN);  // the effective uid
  if (uid !== undefined && uid !== 0 && owner !== uid) return `it belongs to another user (uid ${owner})`;
  const tracer = Number(status.TracerPid ?? 0);
  if (tracer !== 0) return `already traced by pid ${tracer}`;
  if (Number(rest[1]) === process.pid) return 'a child of this hotpatch process';
  return undefined;
}

function comm(pid: number): string | undefined {
  try {
    return readStat(pid).comm;
  } catch {
    return undefined;
  }
}

/** The pids given, in the order given, each once, with what stands in the way of each. */
export function choosePids(pids: readonly number[]): Chosen[] {
  const ours = ancestors();
  return [...new Set(pids)].map((pid) => ({ pid, name: comm(pid), skip: skipReason(pid, ours) }));
}

/**
 * Every process with that name, as pgrep NAME finds them (comm equal to it, else containing it). The processes
 * pgrep would list but a run may not touch (ourselves excluded: pgrep does not list itself either) are kept, as skips.
 */
export function chooseNamed(name: string): Chosen[] {
  const { matches } = processesNamed(name, listEverything());
  return choosePids(matches.map((p) => p.pid));
}

/**
 * Every process that maps MODULE: a path (`/usr/lib/x86_64-linux-gnu/libssl.so.3`) is compared with each mapping's
 * path; a bare name (`libssl.so.3`) with its basename. Read from /proc/PID/maps, which only root reads for every user.
 */
export function chooseMapping(module: string): Chosen[] {
  const byPath = module.includes('/');
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let maps: string;
    try {
      maps = readFileSync(`/proc/${entry}/maps`, 'utf8');
    } catch {
      continue;  // gone, or not ours to read
    }
    if (mapsHave(maps, module, byPath)) pids.push(Number(entry));
  }
  return choosePids(pids.sort((a, b) => a - b));
}

/** Whether a /proc/PID/maps text has a file mapping of MODULE (by path, or by basename). */
export function mapsHave(maps: string, module: string, byPath = module.includes('/')): boolean {
  for (const line of maps.split('\n')) {
    const slash = line.indexOf('/');
    if (slash < 0) continue;
    const path = line.endsWith(DELETED_SUFFIX) ? line.slice(slash, -DELETED_SUFFIX.length) : line.slice(slash);
    if (byPath ? path === module : basename(path) === module) return true;
  }
  return false;
}

/** Every process, ourselves and kernel threads included: pgrep's set, before the skips are decided. */
function listEverything() {
  const live = listProcesses();
  const seen = new Set(live.map((p) => p.pid));
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || seen.has(Number(entry)) || Number(entry) === process.pid) continue;
    const name = comm(Number(entry));
    if (name !== undefined) live.push({ pid: Number(entry), comm: name, cmdline: '' });
  }
  return live.sort((a, b) => a.pid - b.pid);
}
