// Test helpers for the C fixtures: paths, starting a fixture and reading its stdout, stopping it, /proc status.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: this file runs as dist/test/helpers/fixtures.js. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const fixtureBuildDir = join(repoRoot, "fixtures", "build");
export const patchBuildDir = join(fixtureBuildDir, "patches");

/** fixtures/build/<name>: a target program, or a library such as "libfoo.so". */
export function fixturePath(name: string): string {
  return join(fixtureBuildDir, name);
}

/** fixtures/build/patches/<name>; ".so" is added when the name has no extension. */
export function patchPath(name: string): string {
  return join(patchBuildDir, extname(name) === "" ? `${name}.so` : name);
}

export interface Fixture {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Every stdout line so far, in order. */
  readonly lines: string[];
  /** Everything written to stderr so far. */
  readonly stderr: () => string;
  /** Set once the process is gone: its exit code, or the signal that ended it. */
  readonly exit: () => { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** The first line matching re (only lines at index >= fromIndex, when given). Rejects on timeout or exit. */
  waitForLine(re: RegExp, timeoutMs?: number, fromIndex?: number): Promise<string>;
  /** The last line so far that matches re. */
  latest(re: RegExp): string | undefined;
  /** SIGKILL this process (by its PID) and wait until it is gone. Safe to call twice. */
  stop(): Promise<void>;
}

const running = new Set<Fixture>();

const READY = /^ready pid=(\d+)$/;

/**
 * Starts fixtures/build/<name> (or the program at an absolute path: a copy under a name of its own) and resolves once
 * it prints `ready pid=<pid>` (reject after 5 s, with its output).
 */
export function startFixture(name: string, args: string[] = []): Promise<Fixture> {
  const path = name.startsWith("/") ? name : fixturePath(name);
  if (!existsSync(path)) {
    return Promise.reject(new Error(`fixture ${name} is not built (${path}): run node scripts/build-fixtures.mjs`));
  }
  const child = spawn(path, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = "";
  let stderrText = "";
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };

  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    if (parts.length > 0) {
      lines.push(...parts);
      notify();
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderrText += chunk;
  });
  // 'close' rather than 'exit': every line printed before the exit has been read by then.
  const exited = new Promise<void>((resolve) => {
    child.on("close", (code, signal) => {
      exitStatus = { code, signal };
      resolve();
      notify();
    });
    child.on("error", (err) => {
      stderrText += String(err);
      exitStatus ??= { code: null, signal: null };
      resolve();
      notify();
    });
  });

  const describe = () =>
    `${name}: ${lines.length} lines so far:\n${lines.slice(-20).join("\n")}` +
    (stderrText ? `\nstderr:\n${stderrText}` : "") +
    (exitStatus ? `\nexited (code ${exitStatus.code}, signal ${exitStatus.signal})` : "");

  const waitForLine = (re: RegExp, timeoutMs = 3000, fromIndex = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      let next = fromIndex;
      const check = () => {
        for (; next < lines.length; next++) {
          if (re.test(lines[next]!)) {
            done();
            resolve(lines[next]!);
            return;
          }
        }
        if (exitStatus) {
          done();
          reject(new Error(`no line matching ${re} before the process exited\n${describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no line matching ${re} within ${timeoutMs} ms\n${describe()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const stop = async (): Promise<void> => {
    running.delete(fixture);
    if (!exitStatus && child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await waitUntilGone(child.pid, exited, 5000);
    }
  };

  const fixture: Fixture = {
    name,
    get pid() {
      return child.pid ?? -1;
    },
    child,
    lines,
    stderr: () => stderrText,
    exit: () => exitStatus,
    waitForLine,
    latest(re: RegExp) {
      for (let i = lines.length - 1; i >= 0; i--) if (re.test(lines[i]!)) return lines[i];
      return undefined;
    },
    stop,
  };
  running.add(fixture);

  return waitForLine(READY, 5000).then(
    (line) => {
      const printed = Number(READY.exec(line)![1]);
      if (printed !== child.pid) throw new Error(`${name} printed pid ${printed}, but spawn says ${child.pid}`);
      return fixture;
    },
    async (err: Error) => {
      await stop();
      throw err;
    },
  );
}

// The process is gone once Node saw it close, or once its /proc entry is gone: a tracer thread in
// this same process may reap it with waitpid before libuv does, and then 'close' never comes.
// A zombie runs no more; one that nobody reaps within a second counts as gone too.
async function waitUntilGone(pid: number, exited: Promise<void>, timeoutMs: number): Promise<void> {
  let settled = false;
  void exited.then(() => (settled = true));
  const started = Date.now();
  let zombieSince: number | undefined;
  while (!settled) {
    const state = readState(`/proc/${pid}/stat`);
    if (state === undefined) return;
    if (state === "Z") zombieSince ??= Date.now();
    if (zombieSince !== undefined && Date.now() - zombieSince > 1000) return;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`pid ${pid} still present (state ${state}) ${timeoutMs} ms after SIGKILL`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The state letter from a /proc/.../stat file (the field after the parenthesised name). */
function readState(statPath: string): string | undefined {
  try {
    const stat = readFileSync(statPath, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

const detachedPids = new Set<number>();

/**
 * Starts fixtures/build/<name> through sh and setsid, so that it is not our child (a tracer cannot trace its own
 * children here: Node reaps their wait statuses): for tests that attach from this process. Resolves with its pid
 * once /proc names it; killAllFixtures kills it (by that pid).
 */
export async function startDetachedFixture(name: string, arg = ""): Promise<number> {
  const out = execFileSync("sh", ["-c", `setsid "$0" ${arg} >/dev/null 2>&1 </dev/null & echo $!`, fixturePath(name)], { encoding: "utf8" });
  const pid = Number(out.trim());
  detachedPids.add(pid);
  for (let i = 0; i < 200; i++) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === name) return pid;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${name} (pid ${pid}) did not start`);
}

/** Stops every fixture started through startFixture or startDetachedFixture and not yet stopped; for an after() hook. */
export async function killAllFixtures(): Promise<void> {
  for (const pid of detachedPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  detachedPids.clear();
  await Promise.all([...running].map((f) => f.stop()));
}

// Last resort if a test run ends without after() hooks running: never leave a fixture behind.
process.on("exit", () => {
  for (const pid of detachedPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const f of running) {
    if (!f.exit() && f.child.pid !== undefined) {
      try {
        process.kill(f.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
});

/** key=value pairs of a fixture line as numbers where they parse: "count=3 compute=6" → {count: 3, compute: 6}. */
export function parseFields(line: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const match of line.matchAll(/(\w+)=(-?[\d.]+)/g)) fields[match[1]!] = Number(match[2]);
  return fields;
}

export interface ProcStatus {
  /** The State letter: R, S, D, T (stopped), t (tracing stop), Z, … */
  state: string;
  /** The full State text, e.g. "S (sleeping)". */
  stateText: string;
  tracerPid: number;
  threads: number;
  /** Every field of /proc/PID/status, as text. */
  fields: Record<string, string>;
}

/** /proc/PID/status, parsed. Throws if the process is gone. */
export function status(pid: number): ProcStatus {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  const stateText = fields["State"] ?? "";
  return {
    state: stateText.charAt(0),
    stateText,
    tracerPid: Number(fields["TracerPid"]),
    threads: Number(fields["Threads"]),
    fields,
  };
}

/** The state letter of each thread (tid → "R", "S", "t", …), from /proc/PID/task/TID/stat. */
export function threadStates(pid: number): Map<number, string> {
  const states = new Map<number, string>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const state = readState(`/proc/${pid}/task/${tid}/stat`);
    if (state !== undefined) states.set(Number(tid), state);
  }
  return states;
}

/** True while /proc/PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const state = readState(`/proc/${pid}/stat`);
  return state !== undefined && state !== "Z" && state !== "X";
}

/** The fields of a line matching `re` printed after now (one skipped: it may have been computed before a change). */
export async function freshLine(f: Fixture, re: RegExp = /^n=/): Promise<Record<string, number>> {
  await f.waitForLine(re, 3000, f.lines.length);
  return parseFields(await f.waitForLine(re, 3000, f.lines.length));
}
