// Test helpers that run the built hotpatch command (dist/src/cli/bin.cjs, the installed `hotpatch`) as a user would, and collect its output.
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: this file runs as dist/test/helpers/cli.js. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/**
 * What the hotpatch bin's `#!/usr/bin/env -S node …` line gives node: the tests start the bin the same way. (The bin
 * leaves through _exit, so Node 20's exit-time deadlock on a concurrent TurboFan job, nodejs/node#54918, cannot catch it.)
 */
export const NODE_FLAGS = ["--min-semi-space-size=16"];

export const cliPath = join(repoRoot, "dist", "src", "cli", "bin.cjs");

export interface CliOptions {
  /** Written to stdin, which is then closed. Without it stdin is closed at once. */
  input?: string;
  /** Kill the command (SIGKILL, by its PID) and reject after this long. Default 20 s. */
  timeoutMs?: number;
  /** Added to the environment. */
  env?: Record<string, string>;
  cwd?: string;
}

export interface CliResult {
  /** Exit code, or null if a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node dist/src/cli/bin.cjs ...args` and resolves with its exit code and output. A run that does not exit at all
 * is reported (its threads, below) and run once more; a second hang fails the test. About one run in a thousand of a
 * full suite has hung so on these machines. The reports kept in hangs.log (at the repository's root) show the kernel
 * holding the process, not our code: one run had printed everything and was exiting (main thread a zombie, the last
 * one in D state in unlink_anon_vmas), another was in D state in folio_wait_bit_common before its first output. Both
 * came while the host was slow, and these VMs page out cold memory (DAMON's pageout scheme, kdamond): a page of node
 * or of the bundle read back from a busy disk.
 */
export async function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  try {
    return await runCliOnce(args, opts);
  } catch (err) {
    if (!(err instanceof HangError)) throw err;
    const note = `${new Date().toISOString()} ${err.message}\n\n`;
    try {
      appendFileSync(join(repoRoot, "hangs.log"), note);
    } catch {
      // a read-only checkout: the test output still says it
    }
    process.stderr.write(`# a hotpatch run did not exit; run again once (see hangs.log)\n`);
    return runCliOnce(args, opts);
  }
}

/** A run that printed what it printed and did not exit within the time given. */
class HangError extends Error {}

function runCliOnce(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, cliPath, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      // Seen rarely in full runs: a run that printed its answer (or nothing) and never exited. What each of its
      // threads was doing goes in the failure, to find out where it stood, before it is killed.
      const where = child.pid !== undefined ? hangReport(child.pid) : "";
      if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
      reject(new HangError(`hotpatch ${args.join(" ")}: no exit within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}${where}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    // The command may exit before reading its input: ignore EPIPE.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** runCli, plus every non-empty stdout line parsed as JSON (a line that is not JSON fails the call, with the output). */
export async function runCliJson<T = unknown>(args: string[], opts: CliOptions = {}): Promise<CliResult & { json: T[] }> {
  const result = await runCli(args, opts);
  const json: T[] = [];
  for (const line of result.stdout.split("\n")) {
    if (line.trim() === "") continue;
    try {
      json.push(JSON.parse(line) as T);
    } catch {
      throw new Error(
        `hotpatch ${args.join(" ")}: stdout line is not JSON: ${line}\nexit ${result.code}\nstderr:\n${result.stderr}`,
      );
    }
  }
  return { ...result, json };
}

/** One `--json` line of the hotpatch binary. */
export interface JsonOutcome {
  command: string;
  ok: boolean;
  result?: any;
  error?: { code: string; message: string; hint?: string };
  pause?: { micros: number; threads: number };
  /** What the command took a name to mean, when it had to choose. */
  notes?: string[];
}

/** Run commands against a process in one batch, parsed. */
export function hotpatchOn(pid: number, ...commands: string[]): Promise<CliResult & { json: JsonOutcome[] }> {
  return runCliJson<JsonOutcome>(['-p', String(pid), '--json', ...commands.flatMap((c) => ['-e', c])], { timeoutMs: 60000 });
}

/** Fails with the first failed command's code and message (or stderr) when a batch did not exit 0. */
export function assertBatchOk(r: CliResult & { json: JsonOutcome[] }, what: string): void {
  const failed = r.json.find((j) => !j.ok);
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${failed ? `${failed.command}: ${JSON.stringify(failed.error)}` : r.stderr}`);
}

/** The state of a process that does not exit: each thread's state and kernel wait channel, and gdb's backtraces. */
function hangReport(pid: number): string {
  const lines: string[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      let wchan = "";
      try {
        wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, "utf8");
      } catch {
        // not readable here
      }
      lines.push(`  thread ${tid} (${comm}) ${state} ${wchan}`);
    }
  } catch {
    return `\n(process ${pid} has no /proc entry: it exited, its output pipes are held by another process)`;
  }
  const gdb = spawnSync("gdb", ["-batch", "-p", String(pid), "-ex", "thread apply all bt 12"], { encoding: "utf8", timeout: 15_000 });
  const stacks = (gdb.stdout ?? "").split("\n").filter((l) => /^(Thread|#)/.test(l)).slice(0, 80);
  return `\nthreads of ${pid}:\n${lines.join("\n")}\n${stacks.join("\n")}`;
}
