// Test helpers for programs installed on the machine (test/real-programs.test.ts): finding them, running them with a line reader on their output, asking servers on loopback, comparing memory maps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { openElf } from '../../src/elf/reader.js';
import { repoRoot } from './fixtures.js';

/** What every patch of fixtures/real adds (fixtures/real/offset.h: PATCH_OFFSET); twice that when hp_orig_ was NULL. */
export const OFFSET = 1_000_000_000;

/** fixtures/build/real/patch_<fn>.so */
export function realPatch(fn: string): string {
  return join(repoRoot, 'fixtures', 'build', 'real', `patch_${fn}.so`);
}

export type ExitStatus = { code: number | null; signal: NodeJS.Signals | null };

/** A program started by a test, its output read line by line as it comes. */
export interface Watched {
  readonly name: string;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: string[];
  exit(): ExitStatus | undefined;
  /** The first line at index >= fromIndex that passes `match`; rejects on timeout or when the program ends, with its last output. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number, fromIndex?: number): Promise<string>;
  /** Writes to its stdin (started with `stdin: true`). */
  write(text: string): void;
  /** The last lines of stdout and stderr and how it ended, for failure messages. */
  describe(): string;
  /** SIGKILL (by its pid) unless it has ended, and wait until it has. Safe to call twice. */
  stop(): Promise<void>;
}

const started = new Set<ChildProcess>();

export function startWatched(name: string, file: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: boolean } = {}): Watched {
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => waiters.forEach((w) => w());
  let partial = '';
  let stderrText = '';
  let status: ExitStatus | undefined;
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    if (parts.length) {
      lines.push(...parts);
      notify();
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderrText = (stderrText + chunk).slice(-4000);
  });
  child.stdin?.on('error', () => {}); // a program that died: its exit says more than EPIPE
  const closed = new Promise<void>((resolve) => {
    child.on('close', (code, signal) => {
      status = { code, signal };
      started.delete(child);
      resolve();
      notify();
    });
    child.on('error', (err) => {
      stderrText += String(err);
      status ??= { code: null, signal: null };
      started.delete(child);
      resolve();
      notify();
    });
  });
  const describe = () =>
    `${name} (pid ${child.pid}): ${status ? `ended (exit code ${status.code}, signal ${status.signal})` : 'running'}; ` +
    `last output:\n${lines.slice(-8).join('\n') || '(none)'}` +
    (stderrText.trim() ? `\nstderr:\n${stderrText.trim().split('\n').slice(-8).join('\n')}` : '');
  return {
    name,
    get pid() {
      return child.pid ?? -1;
    },
    lines,
    exit: () => status,
    describe,
    write(text: string) {
      child.stdin!.write(text);
    },
    waitForLine(match, timeoutMs = 3000, fromIndex = 0) {
      return new Promise((resolve, reject) => {
        let next = fromIndex;
        const check = () => {
          for (; next < lines.length; next++) {
            if (match(lines[next]!)) return done(() => resolve(lines[next]!));
          }
          if (status) done(() => reject(new Error(`no awaited line: the program ended\n${describe()}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no awaited line within ${timeoutMs} ms\n${describe()}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!status && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await Promise.race([closed, sleep(5000)]);
    },
  };
}

// Last resort when a run ends without its finally blocks: never leave a program of ours behind.
process.on('exit', () => {
  for (const child of started) {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
});

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The first executable called `name` in $PATH (skipping what is not an ELF file, such as pyenv's shims). */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const file = join(dir, name);
    if (isElfExecutable(file)) return file;
  }
  return undefined;
}

export function isElfExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    if (!statSync(file).isFile()) return false;
    return readFileSync(file).subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'));
  } catch {
    return false;
  }
}

/** The shared libpython a python executable links (DT_NEEDED), if it does. */
export function libpythonOf(file: string): string | undefined {
  try {
    return openElf(file).dynamic()?.needed.find((n) => /^libpython3\.\d+/.test(n));
  } catch {
    return undefined;
  }
}

/**
 * A python3 linked with a shared libpython: $HOTPATCH_TEST_PYTHON, else the newest pyenv version that has one,
 * else python3 on $PATH if it does (Debian's own links libpython statically).
 */
export function findSharedPython(): { path: string; libpython: string } | { skip: string } {
  const root = process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv');
  const versions = existsSync(join(root, 'versions')) ? readdirSync(join(root, 'versions')) : [];
  const byVersionDescending = (a: string, b: string) => b.localeCompare(a, 'en', { numeric: true });
  const candidates = [
    process.env.HOTPATCH_TEST_PYTHON,
    ...versions.sort(byVersionDescending).map((v) => join(root, 'versions', v, 'bin', 'python3')),
    onPath('python3'),
  ].filter((c): c is string => !!c && isElfExecutable(c));
  for (const path of candidates) {
    const libpython = libpythonOf(path);
    if (libpython) return { path, libpython };
  }
  return { skip: `no python3 linked with a shared libpython (looked at ${candidates.join(', ') || `${root}/versions and $PATH`})` };
}

/** The first line a command prints, on stdout or else on stderr (`nginx -v` uses stderr), or why it could not run. */
export function versionLine(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  const text = (r.stdout?.trim() || r.stderr?.trim() || '').split('\n')[0];
  return text || `(no version: ${r.error?.message ?? `exit ${r.status}`})`;
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:port/path on a fresh connection; the body. */
export function httpGet(port: number, path = '/', timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: status ${res.statusCode}: ${body}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

type Resp = string | number | null | Resp[];

/** One Redis command on a fresh connection (RESP2), its reply. */
export function redisCommand(port: number, args: string[], timeoutMs = 3000): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`redis ${args[0]} on port ${port}: no reply within ${timeoutMs} ms`)));
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parseResp(data, 0);
      if (!parsed) return;
      socket.end();
      if (parsed.error) reject(new Error(`redis ${args[0]}: ${parsed.error}`));
      else resolve(parsed.value);
    });
    socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
  });
}

/** One RESP value at `at`, or undefined while incomplete. */
function parseResp(buf: Buffer, at: number): { value: Resp; next: number; error?: string } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const head = buf.toString('utf8', at + 1, eol);
  const type = String.fromCharCode(buf[at]!);
  if (type === '+') return { value: head, next: eol + 2 };
  if (type === '-') return { value: null, next: eol + 2, error: head };
  if (type === ':') return { value: Number(head), next: eol + 2 };
  if (type === '$') {
    const len = Number(head);
    if (len < 0) return { value: null, next: eol + 2 };
    if (buf.length < eol + 2 + len + 2) return undefined;
    return { value: buf.toString('utf8', eol + 2, eol + 2 + len), next: eol + 2 + len + 2 };
  }
  if (type === '*') {
    const items: Resp[] = [];
    let next = eol + 2;
    for (let i = 0; i < Number(head); i++) {
      const item = parseResp(buf, next);
      if (!item) return undefined;
      items.push(item.value);
      next = item.next;
    }
    return { value: items, next };
  }
  return { value: null, next: buf.length, error: `unexpected reply ${JSON.stringify(buf.toString('utf8'))}` };
}

/** The pids whose parent is `pid` (nginx's workers), from /proc. */
export function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) kids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return kids.sort((a, b) => a - b);
}

/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset: bigint;
  path: string;
  /** The line as the kernel wrote it, spaces squeezed. */
  text: string;
}

export function readMappings(pid: number): Mapping[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [range, perms, offset, , , ...rest] = line.trim().split(/\s+/);
      const [start, end] = range!.split('-').map((h) => BigInt('0x' + h));
      const path = rest.join(' ');
      return { start: start!, end: end!, perms: perms!, offset: BigInt('0x' + offset), path, text: `${range} ${perms} ${offset} ${path}`.trim() };
    });
}

/** A range of hotpatch's own: a page it named in `maps`, a library it loaded. */
export interface OwnRange {
  start: bigint;
  end: bigint;
  what: string;
}

/**
 * What the program's own anonymous memory may do meanwhile, apart from hotpatch:
 * - 'none': nothing (bash, perl, sqlite3, nginx's workers): anonymous mappings must be as before, [heap] and [stack]
 *   compared by their start only (brk and the stack may grow).
 * - 'data': data mappings come and go (pymalloc's arenas, jemalloc's extents): anonymous mappings without x may differ.
 * - 'data+code': JIT code too (node's V8 heap and code space): any anonymous mapping may differ.
 * File-backed mappings must be as before in every case, and nothing may remain where hotpatch's own pages were.
 */
export type AnonymousChurn = 'none' | 'data' | 'data+code';

/** Sizes and permissions of hotpatch's anonymous pages (record, return stub, code area): suspicious when new. */
const OWN_PAGE_SHAPES = new Set(['rw-p 0x11000', 'r-xp 0x1000', 'r-xp 0x10000']);

/**
 * Differences between two snapshots of a process's maps that its own running cannot explain, one sentence each;
 * `own` are the ranges hotpatch held meanwhile. Empty when the map is as before.
 */
export function unexplainedMapChanges(before: Mapping[], after: Mapping[], churn: AnonymousChurn, own: OwnRange[]): string[] {
  const problems: string[] = [];
  const isFile = (m: Mapping) => m.path.startsWith('/');
  const key = (m: Mapping) => (m.path === '[heap]' || m.path === '[stack]' ? `${m.start.toString(16)} ${m.perms} ${m.path}` : m.text);
  const beforeKeys = new Set(before.map(key));
  const afterKeys = new Set(after.map(key));
  const mayChange = (m: Mapping) => {
    if (isFile(m)) return false;
    if (churn === 'data+code') return true;
    if (churn === 'data') return !m.perms.includes('x');
    return false;
  };
  for (const m of after) {
    if (beforeKeys.has(key(m))) continue;
    const ours = own.find((o) => m.start < o.end && o.start < m.end);
    if (ours) problems.push(`left where hotpatch's ${ours.what} was: ${m.text}`);
    else if (!m.path && OWN_PAGE_SHAPES.has(`${m.perms} 0x${(m.end - m.start).toString(16)}`)) problems.push(`new anonymous mapping shaped like a page of hotpatch's: ${m.text}`);
    else if (!mayChange(m)) problems.push(`new: ${m.text}`);
  }
  for (const m of before) {
    if (!afterKeys.has(key(m)) && !mayChange(m)) problems.push(`gone or changed: ${m.text}`);
  }
  return problems;
}

/** Seconds since the epoch, as a number with milliseconds. */
export function nowSeconds(): number {
  return Date.now() / 1000;
}
