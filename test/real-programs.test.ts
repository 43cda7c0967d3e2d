// Issue 10 (items 6, 7): a whole patch, stage by stage, on programs installed on the machine (node, perl, python3 with a shared libpython, sqlite3, bash, nginx with its workers, redis-server), each step seen in the program's own output.
//
// For each program, one test with a subtest per step: explore (syms, disasm); load a patch library by dlopen, then
// another by map; redirect a function the program's loop calls to a wrapper that calls the original through hp_orig_
// and shifts its result by OFFSET; revert; the same with --got on an imported libc function; revert; unload both and
// cleanup, after which /proc/PID/maps is as before. After every step the program must still answer, with every
// quantity it shows shifted exactly as the patches applied say. A step that needs an earlier one that failed is
// skipped, naming it. A program that is not installed is skipped by name.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hotpatchOn, type JsonOutcome } from './helpers/cli.js';
import { status } from './helpers/fixtures.js';
import {
  OFFSET, childrenOf, findSharedPython, freePort, httpGet, libpythonOf, nowSeconds, onPath, readMappings, realPatch, redisCommand,
  sleep, startWatched, unexplainedMapChanges, versionLine, type AnonymousChurn, type Mapping, type OwnRange, type Watched,
} from './helpers/real.js';

/** One reading of the program's output: each quantity as observed minus its true value (seconds, or plain units). */
interface Reading {
  values: Record<string, number>;
  /** What the program printed or answered, for messages. */
  text: string;
}

/** A program under test, started. */
interface Running {
  /** The processes to patch: the program, or nginx's workers. */
  targets: number[];
  /** Readings taken after this call (a line printed before it may have been computed before a patch). */
  sample(): Promise<Reading[]>;
  /** Throws, with the program's last output, when a process of it is gone. */
  checkAlive(): void;
  describe(): string;
  stop(): Promise<void>;
}

/** A function to replace: FROM in the program, TO in fixtures/build/real/patch_<patch>.so, and what it shifts. */
interface Replacement {
  from: string;
  patch: string;
  to: string;
  /** The hp_orig_ pointer the patch declares. */
  orig: string;
  quantity: string;
}

interface Program {
  name: string;
  /** The executable, or why the test is skipped. */
  locate(): { path: string } | { skip: string };
  version(path: string): string;
  start(path: string): Promise<Running>;
  explore: { syms: string; symbol: string; disasm: string };
  /** Loaded by dlopen, redirected with a jump at FROM's entry. */
  jump: Replacement;
  /** Loaded by map, redirected through the GOT slots importing FROM. */
  got: Replacement;
  quantities: string[];
  churn: AnonymousChurn;
}

/** Tolerance of a clock reading in seconds: a busy machine, a line printed up to 100 ms before it was read. */
const CLOCK_SLACK = 5;
/** How long a program may take to print or answer: long, as these 2 cores are shared (a load of 14 was seen). */
const ANSWER_MS = 10_000;

// ---------------------------------------------------------------------------------------------------------------
// The programs

/** A program that prints a line every 100 ms: a reading is the second line printed after the call (the first may predate it). */
function printer(watched: Watched, parse: (line: string) => Record<string, number> | undefined): Running {
  return {
    targets: [watched.pid],
    async sample() {
      const from = watched.lines.length;
      await watched.waitForLine((l) => parse(l) !== undefined, ANSWER_MS, from);
      const line = await watched.waitForLine((l) => parse(l) !== undefined, ANSWER_MS, watched.lines.length);
      return [{ values: parse(line)!, text: line }];
    },
    checkAlive: () => aliveOrThrow([watched]),
    describe: () => watched.describe(),
    stop: () => watched.stop(),
  };
}

function aliveOrThrow(processes: Watched[]): void {
  for (const p of processes) if (p.exit()) throw new Error(`the program ended\n${p.describe()}`);
}

function firstExisting(...paths: (string | undefined)[]): { path: string } | undefined {
  const path = paths.find((p) => p !== undefined && existsSync(p));
  return path ? { path } : undefined;
}

const node: Program = {
  name: 'node',
  locate: () => firstExisting('/usr/bin/node', onPath('node')) ?? { skip: 'node not installed (/usr/bin/node, $PATH)' },
  version: (path) => versionLine(path, ['--version']),
  async start(path) {
    const script = 'setInterval(() => console.log(`now=${Date.now()} hr=${process.hrtime.bigint()}`), 100);';
    const watched = startWatched('node', path, ['-e', script]);
    return printer(watched, (line) => {
      const m = /^now=(\d+) hr=(\d+)$/.exec(line);
      if (!m) return undefined;
      // CLOCK_MONOTONIC is the same clock in every process: compare with ours.
      return { wall: Number(m[1]) / 1000 - nowSeconds(), monotonic: Number(BigInt(m[2]!) - process.hrtime.bigint()) / 1e9 };
    });
  },
  explore: { syms: 'uv_hr*', symbol: 'uv_hrtime', disasm: 'uv_hrtime' },
  jump: { from: 'uv_hrtime', patch: 'uv_hrtime', to: 'uv_hrtime_wrap', orig: 'hp_orig_uv_hrtime', quantity: 'monotonic' },
  got: { from: 'gettimeofday', patch: 'gettimeofday', to: 'gettimeofday_wrap', orig: 'hp_orig_gettimeofday', quantity: 'wall' },
  quantities: ['wall', 'monotonic'],
  churn: 'data+code',
};

const python: Program = {
  name: 'python3 (shared libpython)',
  locate: () => {
    const found = findSharedPython();
    return 'skip' in found ? found : { path: found.path };
  },
  version: (path) => `${versionLine(path, ['--version'])}, linked with ${libpythonOf(path)}`,
  async start(path) {
    const script = 'import os, time\nwhile True:\n    print(f"t={time.time():.3f} pid={os.getpid()}", flush=True)\n    time.sleep(0.1)\n';
    const watched = startWatched('python3', path, ['-c', script]);
    return printer(watched, (line) => {
      const m = /^t=([\d.]+) pid=(\d+)$/.exec(line);
      return m ? { wall: Number(m[1]) - nowSeconds(), pid: Number(m[2]) - watched.pid } : undefined;
    });
  },
  explore: { syms: 'clock_get*', symbol: 'clock_gettime', disasm: 'clock_gettime' },
  jump: { from: 'clock_gettime', patch: 'clock_gettime', to: 'clock_gettime_wrap', orig: 'hp_orig_clock_gettime', quantity: 'wall' },
  got: { from: 'libc.so.6!getpid', patch: 'getpid', to: 'getpid_wrap', orig: 'hp_orig_getpid', quantity: 'pid' },
  quantities: ['wall', 'pid'],
  churn: 'data',
};

const perl: Program = {
  name: 'perl',
  locate: () => firstExisting(onPath('perl')) ?? { skip: 'perl not installed ($PATH)' },
  version: (path) => `perl ${versionLine(path, ['-e', 'print $^V'])}`,
  async start(path) {
    // pp_time calls libc time() through perl's GOT; localtime() calls localtime_r.
    const script = '$| = 1; while (1) { my $t = time; my @l = localtime($t); ' +
      'printf "t=%d lt=%04d-%02d-%02dT%02d:%02d:%02d\\n", $t, $l[5] + 1900, $l[4] + 1, @l[3, 2, 1, 0]; select(undef, undef, undef, 0.1) }';
    const watched = startWatched('perl', path, ['-e', script], { env: { TZ: 'UTC' } });
    return printer(watched, (line) => {
      const m = /^t=(\d+) lt=(\S+)$/.exec(line);
      return m ? { wall: Number(m[1]) - nowSeconds(), localtime: Date.parse(m[2] + 'Z') / 1000 - Number(m[1]) } : undefined;
    });
  },
  explore: { syms: 'Perl_pp_ti*', symbol: 'Perl_pp_time', disasm: 'Perl_pp_time' },
  jump: { from: 'localtime_r', patch: 'localtime_r', to: 'localtime_r_wrap', orig: 'hp_orig_localtime_r', quantity: 'localtime' },
  got: { from: 'time', patch: 'time', to: 'time_wrap', orig: 'hp_orig_time', quantity: 'wall' },
  quantities: ['wall', 'localtime'],
  churn: 'none',
};

const sqlite3: Program = {
  name: 'sqlite3',
  locate: () => firstExisting('/usr/bin/sqlite3', onPath('sqlite3')) ?? { skip: 'sqlite3 not installed (/usr/bin/sqlite3, $PATH)' },
  version: (path) => `sqlite3 ${versionLine(path, ['--version']).split(' ')[0]}`,
  async start(path) {
    // SQL on stdin, one statement per reading; 'now' is read per statement (unixCurrentTimeInt64: gettimeofday).
    const watched = startWatched('sqlite3', path, [], { stdin: true });
    let asked = 0;
    const running: Running = {
      targets: [watched.pid],
      async sample() {
        const tag = `q${++asked}`;
        watched.write(`select '${tag}', strftime('%s','now'), last_insert_rowid();\n`);
        const line = await watched.waitForLine((l) => l.startsWith(`${tag}|`), ANSWER_MS);
        const [, seconds, rowid] = line.split('|');
        return [{ values: { wall: Number(seconds) - nowSeconds(), rowid: Number(rowid) }, text: line }];
      },
      checkAlive: () => aliveOrThrow([watched]),
      describe: () => watched.describe(),
      stop: () => watched.stop(),
    };
    await running.sample();
    return running;
  },
  explore: { syms: 'sqlite3_last_*', symbol: 'sqlite3_last_insert_rowid', disasm: 'sqlite3_last_insert_rowid' },
  jump: { from: 'sqlite3_last_insert_rowid', patch: 'sqlite', to: 'sqlite3_last_insert_rowid_wrap', orig: 'hp_orig_sqlite3_last_insert_rowid', quantity: 'rowid' },
  got: { from: 'gettimeofday', patch: 'gettimeofday', to: 'gettimeofday_wrap', orig: 'hp_orig_gettimeofday', quantity: 'wall' },
  quantities: ['wall', 'rowid'],
  churn: 'none',
};

const bash: Program = {
  name: 'bash',
  locate: () => firstExisting('/usr/bin/bash', '/bin/bash', onPath('bash')) ?? { skip: 'bash not installed' },
  version: (path) => `bash ${versionLine(path, ['-c', 'echo $BASH_VERSION'])}`,
  async start(path) {
    // $EPOCHREALTIME calls gettimeofday, $BASHPID getpid; `read -t` on a pipe nobody writes to is the sleep.
    const script = 'while :; do echo "r=$EPOCHREALTIME p=$BASHPID"; read -t 0.1 _; done';
    const watched = startWatched('bash', path, ['-c', script], { stdin: true, env: { LC_ALL: 'C' } });
    return printer(watched, (line) => {
      const m = /^r=([\d.]+) p=(\d+)$/.exec(line);
      return m ? { wall: Number(m[1]) - nowSeconds(), pid: Number(m[2]) - watched.pid } : undefined;
    });
  },
  explore: { syms: 'getpid*', symbol: 'getpid', disasm: 'libc.so.6!getpid' },
  jump: { from: 'libc.so.6!getpid', patch: 'getpid', to: 'getpid_wrap', orig: 'hp_orig_getpid', quantity: 'pid' },
  got: { from: 'gettimeofday', patch: 'gettimeofday', to: 'gettimeofday_wrap', orig: 'hp_orig_gettimeofday', quantity: 'wall' },
  quantities: ['wall', 'pid'],
  churn: 'none',
};

const NGINX_WORKERS = 2;

const nginx: Program = {
  name: 'nginx',
  locate: () => firstExisting('/usr/sbin/nginx', onPath('nginx')) ?? { skip: 'nginx not installed (/usr/sbin/nginx; apt-get install nginx)' },
  version: (path) => versionLine(path, ['-v']),
  async start(path) {
    const dir = mkdtempSync(join(tmpdir(), 'hp-nginx-'));
    for (const d of ['tmp', 'logs']) mkdirSync(join(dir, d));
    const port = await freePort();
    // $msec and $time_iso8601 come from nginx's time cache, which each worker refreshes as an event wakes it
    // (ngx_time_update: gettimeofday, then localtime_r for the local time).
    writeFileSync(join(dir, 'nginx.conf'), [
      `worker_processes ${NGINX_WORKERS};`, 'daemon off;', 'pid nginx.pid;', 'error_log stderr notice;',
      'events { worker_connections 64; }',
      'http {', '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path tmp/${k};`),
      `  server { listen 127.0.0.1:${port}; location / { default_type text/plain; return 200 "msec=$msec iso=$time_iso8601 pid=$pid\\n"; } }`,
      '}', '',
    ].join('\n'));
    const master = startWatched('nginx', path, ['-p', dir, '-c', 'nginx.conf', '-e', 'stderr'], { env: { TZ: 'UTC' } });
    let workers: number[] = [];
    const deadline = Date.now() + 5000;
    for (;;) {
      workers = childrenOf(master.pid);
      if (workers.length === NGINX_WORKERS && (await httpGet(port).then(() => true, () => false))) break;
      if (master.exit() || Date.now() > deadline) {
        await master.stop();
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`nginx did not start ${NGINX_WORKERS} workers answering on port ${port}\n${master.describe()}`);
      }
      await sleep(50);
    }
    return {
      targets: workers,
      async sample() {
        // A worker recomputes its cached local time only when the second changes (ngx_time_update): ask in the next one.
        await sleep(1000 - (Date.now() % 1000) + 20);
        // Fresh connections; whichever worker takes each, all of them are patched alike.
        const readings: Reading[] = [];
        for (let i = 0; i < 4; i++) {
          const body = (await httpGet(port, '/', ANSWER_MS)).trim();
          const m = /^msec=([\d.]+) iso=(\S+) pid=(\d+)$/.exec(body);
          if (!m) throw new Error(`nginx answered ${JSON.stringify(body)}`);
          if (!workers.includes(Number(m[3]))) throw new Error(`served by pid ${m[3]}, not one of the workers ${workers.join(', ')} (did one die?)\n${master.describe()}`);
          readings.push({ values: { wall: Number(m[1]) - nowSeconds(), localtime: Date.parse(m[2]!) / 1000 - Math.floor(Number(m[1])) }, text: body });
        }
        return readings;
      },
      checkAlive() {
        aliveOrThrow([master]);
        const now = childrenOf(master.pid);
        if (now.join() !== workers.join()) throw new Error(`nginx's workers were ${workers.join(', ')}, now ${now.join(', ') || 'none'}\n${master.describe()}`);
      },
      describe: () => master.describe(),
      async stop() {
        // The workers are the master's children: SIGKILL of the master alone would leave them serving.
        for (const pid of [master.pid, ...workers]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await master.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  explore: { syms: 'localtime*', symbol: 'localtime_r', disasm: 'localtime_r' },
  jump: { from: 'localtime_r', patch: 'localtime_r', to: 'localtime_r_wrap', orig: 'hp_orig_localtime_r', quantity: 'localtime' },
  got: { from: 'gettimeofday', patch: 'gettimeofday', to: 'gettimeofday_wrap', orig: 'hp_orig_gettimeofday', quantity: 'wall' },
  quantities: ['wall', 'localtime'],
  churn: 'none',
};

const redis: Program = {
  name: 'redis-server',
  locate: () => firstExisting('/usr/bin/redis-server', onPath('redis-server')) ?? { skip: 'redis-server not installed (/usr/bin/redis-server; apt-get install redis-server)' },
  version: (path) => versionLine(path, ['--version']),
  async start(path) {
    const dir = mkdtempSync(join(tmpdir(), 'hp-redis-'));
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--logfile', ''];
    const server = startWatched('redis-server', path, args);
    const stop = async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      await server.waitForLine((l) => l.includes('Ready to accept connections'), 5000);
    } catch (err) {
      await stop();
      throw err;
    }
    return {
      targets: [server.pid],
      async sample() {
        // TIME: gettimeofday; INFO server's process_id: getpid() on every call.
        const time = (await redisCommand(port, ['TIME'], ANSWER_MS)) as string[];
        const info = String(await redisCommand(port, ['INFO', 'server'], ANSWER_MS));
        const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
        const seconds = Number(time[0]) + Number(time[1]) / 1e6;
        return [{ values: { wall: seconds - nowSeconds(), pid: pid - server.pid }, text: `TIME ${time.join(' ')}, process_id:${pid}` }];
      },
      checkAlive: () => aliveOrThrow([server]),
      describe: () => server.describe(),
      stop,
    };
  },
  explore: { syms: 'getpid*', symbol: 'getpid', disasm: 'libc.so.6!getpid' },
  jump: { from: 'libc.so.6!getpid', patch: 'getpid', to: 'getpid_wrap', orig: 'hp_orig_getpid', quantity: 'pid' },
  got: { from: 'gettimeofday', patch: 'gettimeofday', to: 'gettimeofday_wrap', orig: 'hp_orig_gettimeofday', quantity: 'wall' },
  quantities: ['wall', 'pid'],
  churn: 'data',
};

const PROGRAMS = [node, perl, python, sqlite3, bash, nginx, redis];

// ---------------------------------------------------------------------------------------------------------------
// The steps

const libName = (r: Replacement) => `patch_${r.patch}.so`;
const orig = (r: Replacement) => `${libName(r)}!${r.orig}`;
const to = (r: Replacement) => `${libName(r)}!${r.to}`;

/** What the steps learnt, per target pid. */
interface Progress {
  before: Map<number, Mapping[]>;
  own: Map<number, OwnRange[]>;
  /** Libraries loaded (their names), per target. */
  loaded: Map<number, Set<string>>;
  /** Shifts the patches in place make, by quantity. */
  shifts: Record<string, number>;
  /** Steps that failed, by name, for the steps that need them. */
  failed: Set<string>;
}

/** One hotpatch batch on `pid`; throws, naming the command that failed and with the program's last output, unless all succeeded. */
async function hp(run: Running, pid: number, ...commands: string[]): Promise<JsonOutcome[]> {
  const r = await hotpatchOn(pid, ...commands);
  const failedAt = r.json.findIndex((o) => !o.ok);
  if (r.code !== 0 || failedAt >= 0) {
    const bad = r.json[failedAt];
    const what = bad ? `\`${bad.command}\` failed: ${bad.error?.code} ${bad.error?.message}` : `exit ${r.code} ${r.signal ?? ''}`;
    throw new Error(`hotpatch -p ${pid} ${commands.map((c) => `-e '${c}'`).join(' ')}: ${what}\nstderr: ${r.stderr.trim()}\n--- the program: ${run.describe()}`);
  }
  return r.json;
}

/**
 * Runs `body` for every target (nginx: each worker), even after one failed, so that all stay alike; then fails with
 * every problem. `problem` notes one without stopping.
 */
async function forEachTarget(run: Running, body: (pid: number, problem: (text: string) => void) => Promise<void>): Promise<void> {
  const problems: string[] = [];
  for (const pid of run.targets) {
    const note = (text: string) => problems.push(run.targets.length > 1 ? `pid ${pid}: ${text}` : text);
    try {
      await body(pid, note);
    } catch (err) {
      note((err as Error).message);
    }
  }
  if (problems.length) assert.fail(problems.join('\n\n'));
}

/** Remembers hotpatch's pages of a `maps hotpatch` result, for the final map comparison. */
function noteOwnPages(progress: Progress, pid: number, maps: { start: string; end: string; path: string }[]): void {
  const own = progress.own.get(pid)!;
  for (const m of maps) own.push({ start: BigInt(m.start), end: BigInt(m.end), what: m.path });
}

/**
 * The program still runs, untraced and not stopped, and every quantity it shows is shifted by what the applied
 * patches say: +1 OFFSET for a patch, none without. +2 OFFSET is a patch's fallback when its hp_orig_ was NULL.
 */
async function expectBehaves(program: Program, run: Running, progress: Progress, after: string): Promise<void> {
  run.checkAlive();
  for (const pid of run.targets) {
    const s = status(pid);
    assert.ok(s.tracerPid === 0 && s.state !== 't' && s.state !== 'T', `${program.name} pid ${pid} after ${after}: state ${s.stateText}, TracerPid ${s.tracerPid}`);
  }
  const readings = await run.sample().catch((err: Error) => assert.fail(`${program.name} after ${after}: no answer: ${err.message}`));
  for (const reading of readings) {
    for (const q of program.quantities) {
      const want = progress.shifts[q] ?? 0;
      const value = reading.values[q]!;
      const shift = Math.round(value / OFFSET);
      const rest = Math.abs(value - shift * OFFSET);
      const meaning = shift === 2 ? ' (+2 × OFFSET: the patch found its hp_orig_ pointer NULL and made the system call itself)' : '';
      assert.ok(
        Number.isFinite(value) && shift === want && rest <= CLOCK_SLACK,
        `${program.name} after ${after}: ${q} is off by ${value} (${shift} × OFFSET${meaning}); expected ${want} × OFFSET. It showed: ${reading.text}`,
      );
    }
  }
}

async function step(t: TestContext, progress: Progress, name: string, needs: string[], body: () => Promise<void>): Promise<void> {
  await t.test(name, async (st) => {
    const missing = needs.filter((n) => progress.failed.has(n));
    if (missing.length) {
      progress.failed.add(name);
      st.skip(`needs \`${missing.join('`, `')}\`, which failed`);
      return;
    }
    try {
      await body();
    } catch (err) {
      progress.failed.add(name);
      throw err;
    }
  });
}

async function runSteps(t: TestContext, program: Program, run: Running): Promise<void> {
  const progress: Progress = { before: new Map(), own: new Map(), loaded: new Map(), shifts: {}, failed: new Set() };
  // The map to come back to: once the program answers, its start-up (libraries, relro, locale files) is over.
  await run.sample();
  for (const pid of run.targets) {
    progress.before.set(pid, readMappings(pid));
    progress.own.set(pid, []);
    progress.loaded.set(pid, new Set());
  }
  const { jump, got, explore } = program;

  await step(t, progress, 'explore', [], async () => {
    await expectBehaves(program, run, progress, 'start');
    const [syms, disasm] = await hp(run, run.targets[0]!, `syms ${explore.syms}`, `disasm ${explore.disasm}`);
    const found = (syms!.result as { name: string; address: string }[]).filter((s) => s.name === explore.symbol);
    assert.ok(found.length > 0, `syms ${explore.syms} lists ${explore.symbol}: ${JSON.stringify(syms!.result).slice(0, 500)}`);
    const lines = disasm!.result as { address: string; mnemonic: string }[];
    assert.ok(lines.length > 0 && lines[0]!.mnemonic, 'disasm shows instructions');
    const starts = found.map((s) => s.address).join(', ');
    assert.ok(found.some((s) => BigInt(s.address) === BigInt(lines[0]!.address)), `disasm ${explore.disasm} starts at ${explore.symbol} (${starts}), not at ${lines[0]!.address}`);
    await expectBehaves(program, run, progress, 'syms and disasm');
  });

  const load = (r: Replacement, method: 'dlopen' | 'map') =>
    step(t, progress, `load --method ${method} ${libName(r)}`, [], async () => {
      await forEachTarget(run, async (pid, problem) => {
        const command = method === 'dlopen' ? `load ${realPatch(r.patch)}` : `load ${realPatch(r.patch)} --method map`;
        const [loaded, libs, ours] = await hp(run, pid, command, 'libs', 'maps hotpatch');
        progress.loaded.get(pid)!.add(libName(r));
        noteOwnPages(progress, pid, ours!.result);
        for (const s of (loaded!.result.segments ?? []) as { start: string; size: string }[]) {
          progress.own.get(pid)!.push({ start: BigInt(s.start), end: BigInt(s.start) + BigInt(s.size), what: `${libName(r)} (map)` });
        }
        const entry = (libs!.result as { method: string; path: string }[]).find((l) => l.path === realPatch(r.patch));
        if (entry?.method !== method) problem(`libs does not list ${libName(r)} loaded by ${method}: ${JSON.stringify(libs!.result)}`);
      });
      await expectBehaves(program, run, progress, `load --method ${method}`);
    });

  await load(jump, 'dlopen');
  await load(got, 'map');

  const redirect = async (r: Replacement, kind: 'jump' | 'got', needs: string) => {
    const command = `redirect ${r.from} ${to(r)}${kind === 'got' ? ' --got' : ''}`;
    const applied: number[] = [];
    await step(t, progress, command, [needs], async () => {
      await forEachTarget(run, async (pid, problem) => {
        const [patch, pointer, ours] = await hp(run, pid, command, `peek ${orig(r)} --as ptr`, 'maps hotpatch');
        applied.push(pid);
        progress.shifts[r.quantity] = 1;
        noteOwnPages(progress, pid, ours!.result);
        if (patch!.result.kind !== kind) problem(`a ${patch!.result.kind} patch, not ${kind}`);
        const value = BigInt(pointer!.result.values[0]);
        if (value === 0n) problem(`${r.orig} is NULL after \`${command}\`: the new function cannot call the original`);
        else if (kind === 'jump' && value !== BigInt(patch!.result.trampoline)) problem(`${r.orig} is 0x${value.toString(16)}, not the trampoline ${patch!.result.trampoline}`);
      });
      await expectBehaves(program, run, progress, command);
    });
    if (!applied.length) return;
    await step(t, progress, `revert ${r.from}`, [], async () => {
      await forEachTarget(run, async (pid, problem) => {
        if (!applied.includes(pid)) return;
        const [reverted, patches] = await hp(run, pid, `revert ${r.from}`, 'patches');
        if (reverted!.result.reverted.length !== 1) problem(`revert undid ${JSON.stringify(reverted!.result)}`);
        if (patches!.result.length) problem(`patches left: ${JSON.stringify(patches!.result)}`);
      });
      progress.shifts[r.quantity] = 0;
      await expectBehaves(program, run, progress, `revert ${r.from}`);
    });
  };

  await redirect(jump, 'jump', `load --method dlopen ${libName(jump)}`);
  await redirect(got, 'got', `load --method map ${libName(got)}`);

  await step(t, progress, 'unload, cleanup: the memory map as before', [], async () => {
    await forEachTarget(run, async (pid, problem) => {
      const unloads = [...progress.loaded.get(pid)!].map((lib) => `unload ${lib}`);
      const [libs, patches, ours] = (await hp(run, pid, ...unloads, 'cleanup', 'libs', 'patches', 'maps hotpatch')).slice(-3);
      if (libs!.result.length) problem(`libraries left: ${JSON.stringify(libs!.result)}`);
      if (patches!.result.length) problem(`patches left: ${JSON.stringify(patches!.result)}`);
      if (ours!.result.length) problem(`pages of hotpatch left, by its own count: ${JSON.stringify(ours!.result)}`);
      const changes = unexplainedMapChanges(progress.before.get(pid)!, readMappings(pid), program.churn, progress.own.get(pid)!);
      if (changes.length) problem(`/proc/${pid}/maps is not as before the first command:\n${changes.join('\n')}`);
    });
    await expectBehaves(program, run, progress, 'cleanup');
  });
}

for (const program of PROGRAMS) {
  const found = program.locate();
  test(program.name, { skip: 'skip' in found ? found.skip : false, timeout: 120_000 }, async (t) => {
    if ('skip' in found) return;
    t.diagnostic(`${program.name}: ${program.version(found.path)} (${found.path})`);
    const run = await program.start(found.path);
    try {
      await runSteps(t, program, run);
    } finally {
      await run.stop();
    }
  });
}
