// Shared pieces of the benchmarks: paths, timing statistics, starting and killing targets, running the hotpatch bin.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/bench/lib.js. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'bin.cjs');
export const fixtureBuild = join(repoRoot, 'fixtures', 'build');
export const patchDir = join(fixtureBuild, 'patches');

/** One line of the final table. */
export interface Row {
  bench: string;
  ours: string;
  theirs: string;
  ratio: string;
  goal: string;
  /** true / false when measured, undefined when it could not be (not built yet, tool missing). */
  met: boolean | undefined;
  note?: string;
}

export interface Benchmark {
  name: string;
  about: string;
  run(): Promise<Row[]>;
}

// ---------------------------------------------------------------- statistics

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Nearest-rank percentile, p in 0..100. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank]!;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  if (ms < 10_000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return 'n/a';
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`;
}

export function fmtRatio(x: number, digits = 2): string {
  if (!Number.isFinite(x)) return 'n/a';
  if (x > 0 && x < 0.01) return `1/${(1 / x).toFixed(0)}`;
  return x >= 100 ? `${x.toFixed(0)}×` : `${x.toFixed(digits)}×`;
}

export function fmtRate(perSecond: number, unit: string): string {
  if (!Number.isFinite(perSecond)) return 'n/a';
  if (perSecond >= 1e9) return `${(perSecond / 1e9).toFixed(2)} G${unit}/s`;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M${unit}/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k${unit}/s`;
  return `${perSecond.toFixed(0)} ${unit}/s`;
}

export const now = (): number => performance.now();

export function log(line: string): void {
  process.stdout.write(line + '\n');
}

// ---------------------------------------------------------------- processes we start

/** Every pid this runner started and has not yet seen die: killed by PID on the way out, never by name. */
const started = new Set<number>();

export function track(pid: number): void {
  started.add(pid);
}

export function killPid(pid: number | undefined): void {
  if (pid === undefined || !started.has(pid)) return;
  started.delete(pid);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function killAllStarted(): void {
  for (const pid of [...started]) killPid(pid);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** A target started through a shell that exits at once, so it is not our child (hotpatch's Target.attach refuses those). */
export interface DetachedTarget {
  pid: number;
  outFile: string;
  output(): string;
  kill(): void;
}

let tempRoot: string | undefined;

export function tempDir(): string {
  tempRoot ??= mkdtempSync(join(tmpdir(), 'hotpatch-bench-'));
  return tempRoot;
}

export function removeTempDir(): void {
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
  tempRoot = undefined;
}

let outCounter = 0;

/**
 * Start `argv` as a grandchild: `sh -c 'cmd >out & echo $!'` exits right away, the target is re-parented to init.
 * Waits until its output contains `readyText` (if given).
 */
export async function startDetached(argv: string[], readyText?: string | RegExp, timeoutMs = 5000): Promise<DetachedTarget> {
  const outFile = join(tempDir(), `target-${process.pid}-${++outCounter}.out`);
  const script = 'out=$1; shift; "$@" >"$out" 2>&1 </dev/null & echo $!';
  const pid = Number(execFileSync('sh', ['-c', script, 'sh', outFile, ...argv], { encoding: 'utf8' }).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`could not start ${argv.join(' ')}`);
  track(pid);
  const output = () => {
    try {
      return readFileSync(outFile, 'utf8');
    } catch {
      return '';
    }
  };
  const target: DetachedTarget = { pid, outFile, output, kill: () => killPid(pid) };
  if (readyText !== undefined) {
    const deadline = now() + timeoutMs;
    const test = (s: string) => (typeof readyText === 'string' ? s.includes(readyText) : s.split('\n').some((l) => readyText.test(l)));
    const tail = () => output().slice(-300);
    while (!test(output())) {
      if (!isAlive(pid)) throw new Error(`${argv.join(' ')} exited before it was ready: ${tail()}`);
      if (now() > deadline) {
        target.kill();
        throw new Error(`${argv.join(' ')} not ready after ${timeoutMs} ms: ${tail()}`);
      }
      await sleep(5);
    }
  }
  return target;
}

/** A target we spawn ourselves (our child), with its stdout lines time-stamped as they arrive. */
export interface ChildTarget {
  pid: number;
  child: ChildProcess;
  lines: { t: number; text: string }[];
  /** Resolves with the first line (from index `from`) that matches. */
  waitLine(match: RegExp, from?: number, timeoutMs?: number): Promise<{ index: number; text: string }>;
  kill(): void;
}

export async function startChild(argv: string[], readyText: RegExp = /ready/, timeoutMs = 5000): Promise<ChildTarget> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  track(child.pid);
  const lines: { t: number; text: string }[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const t = now();
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const text of parts) lines.push({ t, text });
    for (const w of [...waiters]) w();
  });
  const pid = child.pid;
  const target: ChildTarget = {
    pid,
    child,
    lines,
    kill: () => killPid(pid),
    waitLine: (match, from = 0, waitMs = timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < lines.length; i++) {
            if (match.test(lines[i]!.text)) {
              cleanup();
              resolve({ index: i, text: lines[i]!.text });
              return true;
            }
          }
          return false;
        };
        const onExit = () => {
          cleanup();
          reject(new Error(`${argv.join(' ')} exited while waiting for ${match}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${argv.join(' ')}: no line matching ${match} within ${waitMs} ms`));
        }, waitMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', onExit);
        };
        if (check()) return;
        waiters.add(check);
        child.on('exit', onExit);
      }),
  };
  await target.waitLine(readyText);
  return target;
}

// ---------------------------------------------------------------- external commands

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Killed (SIGKILL, by its PID) because it ran past the time limit. */
  timedOut?: boolean;
}

/** Runs a program to completion, timing it from spawn to exit. Killed (by its PID) after timeoutMs. */
export function runTimed(file: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const start = now();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: now() - start, ...(timedOut ? { timedOut } : {}) });
    });
  });
}

/** The hotpatch bin itself (compiled JavaScript under this Node), as a user runs it: not through npx. */
export function hotpatch(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return runTimed(process.execPath, ['--min-semi-space-size=16', cliPath, ...args], timeoutMs); // as the bin's #! line
}

export interface JsonOutcome {
  command: string;
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string; hint?: string };
  pause?: { micros: number; threads: number; stops?: number; longestMicros?: number };
}

/** `hotpatch -p PID --json -e …`: every command's outcome, parsed. */
export async function hotpatchJson(pid: number, commands: string[], timeoutMs = 60_000): Promise<{ run: RunResult; outcomes: JsonOutcome[] }> {
  const args = ['-p', String(pid), '--json'];
  for (const c of commands) args.push('-e', c);
  const run = await hotpatch(args, timeoutMs);
  const outcomes: JsonOutcome[] = [];
  for (const line of run.stdout.split('\n')) {
    if (line.trim() === '') continue;
    try {
      outcomes.push(JSON.parse(line) as JsonOutcome);
    } catch {
      // not JSON: left out; the caller looks at what it needs
    }
  }
  return { run, outcomes };
}

/** Why a hotpatch command failed, for a table cell: "n/a (not built yet)" for a command that does not exist yet. */
export function failureText(o: JsonOutcome | undefined, run?: RunResult): string {
  if (!o && run?.timedOut) return `no answer within ${fmtMs(run.ms)}: killed`;
  if (!o) {
    // The most telling stderr line: the error itself rather than the stack position above it.
    const lines = (run?.stderr ?? '').trim().split('\n').filter((l) => l.trim() !== '');
    const line = lines.find((l) => /error|hotpatch:/i.test(l)) ?? lines[0];
    return `no output (exit ${run?.code ?? '?'}${line ? ': ' + line.trim().slice(0, 140) : ''})`;
  }
  if (o.error?.code === 'E_UNKNOWN_COMMAND') return 'n/a (not built yet)';
  return `error ${o.error?.code ?? '?'}: ${(o.error?.message ?? '').split('\n')[0]}`.slice(0, 120);
}

export function notBuilt(o: JsonOutcome | undefined): boolean {
  return o?.error?.code === 'E_UNKNOWN_COMMAND';
}

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Compile one of fixtures/bench_*.c into the temp dir (cached for this run). */
const compiled = new Map<string, string>();

export function compileBenchC(source: string, flags: string[] = ['-O2']): string {
  const key = source + '\0' + flags.join(' ');
  const hit = compiled.get(key);
  if (hit) return hit;
  const src = join(repoRoot, 'fixtures', source);
  if (!existsSync(src)) throw new Error(`missing ${src}`);
  const out = join(tempDir(), source.replace(/\.c$/, '') + (flags.includes('-shared') ? '.so' : ''));
  execFileSync('gcc', [...flags, '-Wall', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  compiled.set(key, out);
  return out;
}

export function fixture(name: string): string {
  const path = join(fixtureBuild, name);
  if (!existsSync(path)) throw new Error(`fixture ${path} is missing: run node scripts/build-fixtures.mjs (npm run build)`);
  return path;
}
