// Shared pieces of the fault suite: running hotpatch (one-shot or fed line by line), signals, /proc checks, memory snapshots.
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { runCliJson, cliPath, NODE_FLAGS, type CliResult } from '../helpers/cli.js';
import { fixturePath, repoRoot, status, isAlive, type Fixture } from '../helpers/fixtures.js';

export interface Out {
  command: string;
  ok: boolean;
  result?: any;
  error?: { code: string; message: string; hint?: string };
  pause?: { micros: number; threads: number };
}

/** hotpatch -p PID --json -e CMD…, bounded in time. */
export function hp(pid: number, cmds: string[], timeoutMs = 30_000): Promise<CliResult & { json: Out[] }> {
  return runCliJson<Out>(['-p', String(pid), '--json', ...cmds.flatMap((c) => ['-e', c])], { timeoutMs });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until pred() is true; throws `what` after timeoutMs. */
export async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until the fixture has printed nothing for `quietMs` (a thread that prints ticks is borrowed or stopped). */
export async function waitForQuiet(f: Fixture, quietMs: number, timeoutMs: number, what: string): Promise<void> {
  let seen = f.lines.length;
  let quietSince = Date.now();
  await waitFor(() => {
    if (f.lines.length !== seen) {
      seen = f.lines.length;
      quietSince = Date.now();
    }
    return Date.now() - quietSince > quietMs;
  }, timeoutMs, what);
}

/** A stack trace or an internal error in the tool's output: never acceptable. */
export function assertNoCrash(r: { stdout: string; stderr: string }, what = ''): void {
  const all = r.stdout + '\n' + r.stderr;
  assert.doesNotMatch(all, /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m, `${what}: a stack trace in the output\n${all}`);
  assert.doesNotMatch(all, /internal error|E_INTERNAL|TypeError|RangeError|ReferenceError|SyntaxError|Segmentation fault|Aborted/, `${what}: an internal error\n${all}`);
}

/** The state letter of a process (T: job-control stopped, t: tracing stop), or undefined once gone. */
export function stateOf(pid: number): string | undefined {
  try {
    return status(pid).state;
  } catch {
    return undefined;
  }
}

/** Not stopped, not traced, and still printing: what a touched target must always be left as. */
export async function assertRunsFree(f: Fixture, lineRe: RegExp, what = ''): Promise<void> {
  assert.ok(isAlive(f.pid), `${what}: the target is alive`);
  await waitFor(() => status(f.pid).tracerPid === 0, 2000, `${what}: TracerPid 0`);
  const s = status(f.pid);
  assert.ok(!['t', 'T'].includes(s.state), `${what}: target state ${s.stateText}`);
  await f.waitForLine(lineRe, 3000, f.lines.length);
}

/** fixtures/build/sigqueue PID FIRST LAST: SIGRTMIN+1 with the values FIRST..LAST, in order. */
export function sigqueue(pid: number, first: number, last: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(fixturePath('sigqueue'), [String(pid), String(first), String(last)], (err, _out, stderr) =>
      err ? reject(new Error(`sigqueue ${pid} ${first} ${last}: ${err.message} ${stderr}`)) : resolve(),
    );
  });
}

/** Bytes of the target's memory read through /proc/PID/mem (as root: no stop, no ptrace). */
export function readTargetMemory(pid: number, address: bigint, length: number): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, address);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

export interface Watched {
  name: string;
  address: bigint;
  length: number;
}

/** Addresses of what a test watches (e.g. counter.c:tick, compute, g_value), found with one hotpatch run. */
export async function locate(pid: number, names: [string, number][]): Promise<Watched[]> {
  const r = await hp(pid, names.map(([n, len]) => `peek ${n} ${len}`));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return names.map(([name, length], i) => ({ name, address: BigInt(r.json[i]!.result.address), length }));
}

export function snapshot(pid: number, watched: Watched[]): Record<string, string> {
  return Object.fromEntries(watched.map((w) => [w.name, readTargetMemory(pid, w.address, w.length).toString('hex')]));
}

/** A hotpatch process fed line by line on stdin (the batch runs each line as it arrives), with --json output. */
export class Console {
  readonly child: ChildProcess;
  readonly json: Out[] = [];
  stdout = '';
  stderr = '';
  private partial = '';
  private closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit?: { code: number | null; signal: NodeJS.Signals | null };

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [...NODE_FLAGS, cliPath, '--json', ...args], { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      for (const p of parts) if (p.trim()) this.json.push(JSON.parse(p) as Out);
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.child.stdin!.on('error', () => {});
    this.closed = new Promise((resolve) => this.child.on('close', (code, signal) => resolve((this.exit = { code, signal }))));
  }

  static attach(pid: number): Console {
    return new Console(['-p', String(pid)]);
  }

  get pid(): number {
    return this.child.pid!;
  }

  send(...lines: string[]): void {
    this.child.stdin!.write(lines.map((l) => l + '\n').join(''));
  }

  /** Waits until `count` JSON results have come in (or the process ended). */
  async results(count: number, timeoutMs = 10_000): Promise<Out[]> {
    await waitFor(() => this.json.length >= count || this.exit !== undefined, timeoutMs, `${count} results from hotpatch (have ${this.json.length}):\n${this.stdout}\n${this.stderr}`);
    return this.json;
  }

  /** Sends a line and waits for its result. */
  async run(line: string, timeoutMs = 10_000): Promise<Out> {
    const before = this.json.length;
    this.send(line);
    await this.results(before + 1, timeoutMs);
    const out = this.json[before];
    if (!out) throw new Error(`hotpatch ended before answering "${line}": exit ${JSON.stringify(this.exit)}\n${this.stderr}`);
    return out;
  }

  /** Closes stdin (the batch ends, detaches, exits) and waits, SIGKILLing the console after timeoutMs. */
  async end(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.stdin!.end();
    return this.waitExit(timeoutMs);
  }

  async waitExit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`hotpatch did not exit within ${timeoutMs} ms\n${this.stdout}\n${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exit === undefined && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

/** A seeded PRNG (mulberry32): the same cases on every run, and a failing seed can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fields of the last line matching re, as numbers. */
export function lastFields(f: Fixture, re: RegExp): Record<string, number> {
  const line = f.latest(re);
  assert.ok(line, `${f.name} printed no line matching ${re}`);
  const fields: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(-?[\d.]+)/g)) fields[m[1]!] = Number(m[2]);
  return fields;
}

/** A fixture that is not our child (a shell starts it and exits), so this very process may attach to it in-process. */
export interface Orphan {
  pid: number;
  out: string;
  lines(): string[];
  stop(): void;
}

export async function startOrphan(name: string, args: string[] = []): Promise<Orphan> {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'hp-orphan-'));
  const out = join(dir, 'out.txt');
  const quoted = [fixturePath(name), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const pid = Number(execFileSync('sh', ['-c', `${quoted} >'${out}' 2>&1 </dev/null & echo $!`], { encoding: 'utf8' }).trim());
  const lines = () => {
    try {
      return readFileSync(out, 'utf8').split('\n').filter((l) => l !== '');
    } catch {
      return [];
    }
  };
  await waitFor(() => lines().some((l) => l.startsWith('ready ')), 5000, `${name} ready`);
  const orphan: Orphan = {
    pid,
    out,
    lines,
    stop() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  orphans.add(orphan);
  return orphan;
}

const orphans = new Set<Orphan>();
process.on('exit', () => {
  for (const o of orphans) {
    try {
      process.kill(o.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
