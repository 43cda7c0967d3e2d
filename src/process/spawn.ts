// Starting a program to attach to (hotpatch -- PROG ARGS, Frida's spawn): stopped before its exec, and not our child.
import { childProcess } from '../builtins.js';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { stateDir } from '../paths.js';
import { delimiter, join } from 'node:path';
import { HotpatchError } from '../errors.js';
import { readStat } from './procfs.js';

export interface StartedProgram {
  pid: number;
  /** Where its stdout and stderr go: they must not scribble over the console's screen. */
  log: string;
  startTime: bigint;
}

/**
 * The program runs from a small shell that sends its output to the log, stops itself (SIGSTOP) and, once continued,
 * execs the program in its place: attached while stopped, we see the program from its first instruction.
 * `setsid -f` forks it off: it must not be our child (Node reaps its children's wait statuses, ptrace stops
 * included), and a new session keeps it off our terminal (no Ctrl-C of ours, no reads from it). Its stdin is
 * /dev/null. The log is named after the program and its pid (the shell's pid is the program's after exec).
 */
const WRAPPER =
  'echo $$; exec >"$HOTPATCH_LOG_DIR/${1##*/}.$$.log" 2>&1 </dev/null; unset HOTPATCH_LOG_DIR; kill -STOP $$; exec "$@"';

/** How long the shell may take to stop itself before we give up (a machine under load takes a few ms). */
const STOP_TIMEOUT_MS = 5000;

/** Starts `program args` stopped before its exec; resolves once it is stopped. */
export async function startStopped(program: string, args: readonly string[], logDir: string): Promise<StartedProgram> {
  const path = findProgram(program);
  try {
    mkdirSync(logDir, { recursive: true });
  } catch (err) {
    throw new HotpatchError('E_SPAWN', `cannot make the log directory ${logDir}: ${(err as Error).message}`, 'set XDG_STATE_HOME to a writable directory');
  }
  const run = childProcess().spawnSync('setsid', ['-f', 'sh', '-c', WRAPPER, 'sh', path, ...args], {
    env: { ...process.env, HOTPATCH_LOG_DIR: logDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: STOP_TIMEOUT_MS,
  });
  const pid = Number(run.stdout?.trim());
  if (run.error || !Number.isSafeInteger(pid) || pid <= 0) {
    const why = run.error?.message ?? (run.stderr?.trim() || `exit status ${run.status}`);
    throw new HotpatchError('E_SPAWN', `cannot start ${program}: ${why}`, 'setsid (util-linux) and sh are needed to start a program');
  }
  const log = join(logDir, `${path.slice(path.lastIndexOf('/') + 1)}.${pid}.log`);
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  for (;;) {
    let stat;
    try {
      stat = readStat(pid);
    } catch {
      throw new HotpatchError('E_SPAWN', `${program} (pid ${pid}) ended before it could be attached to`, `its output is in ${log}`);
    }
    if (stat.state === 'T') return { pid, log, startTime: stat.startTime };
    if (Date.now() > deadline) {
      killStarted(pid, stat.startTime);
      throw new HotpatchError('E_SPAWN', `${program} (pid ${pid}) did not reach its starting point in ${STOP_TIMEOUT_MS / 1000} s; it was killed`, `its output is in ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The file the program's name means, as the shell would find it; a clear error now rather than an exit 127 later. */
function findProgram(program: string): string {
  const candidates = program.includes('/') ? [program] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, program));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there, or not executable: the next one
    }
  }
  const where = program.includes('/') ? 'no executable file there' : 'not found in PATH';
  throw new HotpatchError('E_SPAWN', `cannot start ${program}: ${where}`, 'give the path of an executable, e.g. hotpatch -- ./fixtures/build/counter');
}

/**
 * SIGKILL for a program we started, by its pid, only while that pid still names it (same start time): a pid given
 * again to another process is never killed. True when it was killed.
 */
export function killStarted(pid: number, startTime: bigint): boolean {
  try {
    if (readStat(pid).startTime !== startTime) return false;
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Where started programs' logs go: $XDG_STATE_HOME/hotpatch/logs (as the console's history), else ~/.local/state. */
export function spawnLogDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'logs');
}
