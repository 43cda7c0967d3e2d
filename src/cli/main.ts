#!/usr/bin/env node
// The hotpatch binary: batch mode for scripts, or the interactive console. Never leaves a process stopped or traced.
import { fstatSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { readline } from '../builtins.js';
import { native } from '../native.js';
import { parseCli, outputFormat, openingLine, isFleet, USAGE, DEFAULT_JOBS, type CliOptions } from './args.js';
import { runBatch, readCommandFile, type BatchLine } from './batch.js';
import { errorText } from './render-plain.js';
import { Session } from '../session.js';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { runFleet, runWorker, WORKER_ENV } from './fleet.js';
import { choosePids, chooseNamed, chooseMapping, type Chosen } from '../process/select.js';
import { readManifest } from '../patch/manifest.js';
import { quoteWord } from '../command.js';

async function main(): Promise<number> {
  // A worker of a big fleet run (runFleet forks it): its share of the processes comes over IPC, not argv.
  if (process.env[WORKER_ENV] === '1') {
    delete process.env[WORKER_ENV]; // not passed on to a program a command starts
    const live = new Set<Session>();
    installExitGuards(() => [...live]);
    return runWorker(live);
  }
  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    // One line, as every error: its hint says where the options are (hotpatch --help).
    useStream('stderr').write(errorText(toHotpatchError(err)) + '\n');
    return 2;
  }
  if (opts.help) {
    useStream('stdout').write(USAGE + '\n');
    return 0;
  }
  if (opts.version) {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
    useStream('stdout').write(`hotpatch ${pkg.version}\n`);
    return 0;
  }
  if (isFleet(opts)) return fleet(opts);
  const notices: string[] = [];
  const session = new Session({ notice: (m) => notices.push(m) });
  installExitGuards(() => [session]);

  const batch = opts.commands.length > 0 || opts.files.length > 0 || !process.stdin.isTTY;
  if (batch) {
    let lines: BatchLine[] | AsyncIterable<BatchLine> = [];
    try {
      for (const f of opts.files) lines.push(...readCommandFile(f));
    } catch (err) {
      useStream('stderr').write(errorText(toHotpatchError(err)) + '\n');
      return 2;
    }
    lines.push(...opts.commands);
    let rl: import('node:readline').Interface | undefined;
    if (opts.commands.length === 0 && opts.files.length === 0) {
      const { createInterface } = readline();
      rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
      // Take the iterator now: lines that arrive while we attach would otherwise be dropped.
      const iterator = rl[Symbol.asyncIterator]();
      lines = { [Symbol.asyncIterator]: () => iterator };
    }
    // To a file or a pipe: written straight to the descriptor (see writeOut); to a terminal, through the stream.
    output.raw = !couldBeTerminal(1);
    const terminal = output.raw ? undefined : useStream('stdout');
    const code = await runBatch({ opening: openingLine(opts), notice: (m) => notices.push(m), lines, format: outputFormat(opts, terminal?.isTTY === true), width: terminal?.columns },
      session, writeOut);
    // A failed command ends the batch: stop reading stdin, or an open pipe would keep the process alive.
    if (rl) {
      rl.close();
      process.stdin.destroy();
    }
    for (const n of notices) useStream('stderr').write(`note: ${n}\n`);
    return code;
  }
  const { runInteractive } = await import('./interactive.js');
  return runInteractive(session, opts);
}

/** Many processes: choose them, read the commands (or the manifest) once, run them in each. */
async function fleet(opts: CliOptions): Promise<number> {
  const live = new Set<Session>();
  installExitGuards(() => [...live]);
  let lines: BatchLine[] = [];
  let chosen: Chosen[];
  try {
    for (const f of opts.files) lines.push(...readCommandFile(f));
    lines.push(...opts.commands);
    const mapping = opts.mapping;
    if (opts.apply) {
      const manifest = readManifest(opts.apply.file);
      lines = [`apply ${opts.apply.revert ? '--revert ' : ''}${quoteWord(manifest.file)}`];
      // Without a choice of processes: every process that maps the module the fix is for.
      if (opts.pids === undefined && opts.pid === undefined && opts.all === undefined && mapping === undefined) {
        const modules = [...new Set(manifest.targets.map((t) => t.module))];
        chosen = mergeChosen(modules.map((m) => chooseMapping(m)));
        return await runChosen(opts, chosen, lines, live);
      }
    } else if (lines.length === 0) {
      if (process.stdin.isTTY) throw new HotpatchError('E_USAGE', 'a run over several processes needs commands: -e CMD, -x FILE, or a pipe', USAGE.split('\n')[0]);
      lines = readFileSync(0, 'utf8').split('\n').map((text, i) => ({ text, source: `stdin:${i + 1}` }));
    }
    chosen = opts.all !== undefined ? chooseNamed(opts.all) : mapping !== undefined ? chooseMapping(mapping) : choosePids(opts.pids ?? [opts.pid!]);
  } catch (err) {
    const e = toHotpatchError(err);
    useStream('stderr').write(errorText(e) + '\n');
    return e.code === 'E_USAGE' ? 2 : 1;
  }
  return runChosen(opts, chosen, lines, live);
}

async function runChosen(opts: CliOptions, chosen: Chosen[], lines: BatchLine[], live: Set<Session>): Promise<number> {
  const format = outputFormat(opts, useStream('stdout').isTTY === true);
  if (chosen.length === 0) {
    const what = opts.all !== undefined ? `named ${opts.all}` : opts.mapping !== undefined ? `maps ${opts.mapping}` : 'was chosen';
    useStream('stderr').write(errorText(new HotpatchError('E_NO_PROCESS', `no process ${what}`, 'ps -e lists the processes; pgrep NAME or grep MODULE /proc/*/maps shows what would be chosen')) + '\n');
    return 1;
  }
  return runFleet({ chosen, lines, format, width: useStream('stdout').columns, jobs: opts.jobs ?? DEFAULT_JOBS, allOrNone: opts.allOrNone, live, procs: opts.procs }, (s) => useStream('stdout').write(s));
}

/** Several choices in one list, each pid once (the first reason to skip it kept). */
function mergeChosen(lists: Chosen[][]): Chosen[] {
  const byPid = new Map<number, Chosen>();
  for (const c of lists.flat()) if (!byPid.has(c.pid)) byPid.set(c.pid, c);
  return [...byPid.values()].sort((a, b) => a.pid - b.pid);
}

/**
 * Leaves with `code`: the 'exit' listeners run (bin.cjs keeps its code cache there), then the process ends at once
 * through the addon, without Node's teardown, which on Node 20 can deadlock draining a background compile job
 * (nodejs/node#54918). A profiled or coverage run, or one without the addon, leaves through process.exit, which writes
 * its profile.
 */
function exitNow(code: number): never {
  const profiled = process.env.NODE_V8_COVERAGE !== undefined || process.execArgv.some((a) => /^--(cpu-prof|heap-prof|prof)\b/.test(a));
  let addon: ReturnType<typeof native> | undefined;
  try {
    addon = profiled ? undefined : native();
  } catch {
    addon = undefined;
  }
  if (!addon) process.exit(code);
  process.exitCode = code;
  try {
    process.emit('exit', code);
  } finally {
    addon.exitNow(code);
  }
  return process.exit(code);
}

/**
 * How the batch writes its output. To a file or a pipe (`raw`): straight to the descriptor with writeSync, with no
 * stream object: making process.stdout (a net.Socket for a pipe) loads Node's stream and net modules, 2-3 ms of a
 * run that prints 4,000 symbols in 140. A terminal gets the stream, as before (its width, whether it is one).
 */
const output = { raw: false };

/** Whether descriptor `fd` may be a terminal (a character device: a tty, or /dev/null): only then is it asked. */
function couldBeTerminal(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return true;
  }
}

/**
 * The batch's output. Raw: writeSync until all is written; a reader gone (EPIPE) ends the run as the stream's error
 * handler would (detach, 141); a descriptor left non-blocking by whoever made it (EAGAIN) gets the rest, and all
 * that follows, through process.stdout, which waits for room.
 */
function writeOut(s: string): void {
  if (!output.raw) {
    useStream('stdout').write(s);
    return;
  }
  const bytes = Buffer.from(s, 'utf8');
  let done = 0;
  try {
    while (done < bytes.length) done += writeSync(1, bytes, done);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
      output.raw = false;
      useStream('stdout').write(bytes.subarray(done));
      return;
    }
    if (!readerGone(err)) throw err;
    void leave(141);
  }
}

/** The streams made so far, each with the guard that ends the run when its reader goes away. */
const guarded = new Set<'stdout' | 'stderr'>();

function useStream(which: 'stdout' | 'stderr'): NodeJS.WriteStream {
  const stream = process[which];
  if (!guarded.has(which)) {
    guarded.add(which);
    // Writing to a closed pipe fails with EPIPE on the stream, later: without a listener that error would be thrown,
    // its report written to the same closed stream, and so on, a loop that starved the detach (seen: a batch whose
    // test runner was killed spun at 60% CPU for 17 minutes). Leave as a process killed by SIGPIPE would (128 + 13).
    stream.on('error', (err) => {
      if (readerGone(err)) void leave(141);
      else throw err;
    });
  }
  return stream;
}

/** Exits with `code` after the streams in use have taken everything written to them (raw output is written already). */
function exitWhenFlushed(code: number): void {
  // The console (and a run whose output was not raw) writes to process.stdout, made by useStream or not.
  const streams = [...new Set([...(output.raw ? [] : ['stdout' as const]), ...guarded])];
  if (streams.length === 0) exitNow(code);
  let pending = streams.length;
  let gone = false;
  // A write that fails because nobody reads any more (| head) ends as the stream's error handler would: 141.
  const done = (err?: Error | null) => {
    if (err && readerGone(err)) gone = true;
    if (--pending === 0) exitNow(gone ? 141 : code);
  };
  for (const which of streams) useStream(which).write('', done);
}


/** Set once a signal or a crash makes us leave: that exit, with its code, wins over the batch's own. */
let leaving = false;

/** How long leaving waits for the detach before it exits anyway (the kernel detaches a dead tracer's tracees). */
const DETACH_GRACE_MS = 5000;

/** The reader of our output went away: a closed pipe (`| head`) or a dead parent's socket. */
const readerGone = (err: unknown) => ['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED'].includes((err as NodeJS.ErrnoException)?.code ?? '');

/** Detach what is attached, then exit with `code` (installExitGuards sets it up; before that: exit at once). */
let leave: (code: number) => Promise<void> = async (code) => exitNow(code);

/** Ctrl-C, SIGTERM, SIGHUP, a crash, nobody reading our output any more: detach first, then go. */
function installExitGuards(sessions: () => Session[]): void {
  leave = async (code: number) => {
    if (leaving) return;
    leaving = true;
    setTimeout(() => exitNow(code), DETACH_GRACE_MS).unref();
    try {
      // Every process attached now (a fleet run has several) is let go, all at once.
      await Promise.allSettled(sessions().map(async (session) => {
        await session.stopSpawned();
        if (session.target?.attached) await session.detach();
      }));
    } finally {
      exitNow(code);
    }
  };
  // The streams get their EPIPE guard when they are first used (useStream).
  const crashed = (err: unknown) => {
    if (leaving) return;
    if (!readerGone(err)) {
      try {
        useStream('stderr').write(`hotpatch: internal error: ${(err as Error)?.message ?? err}\n`);
      } catch {
        // stderr is gone too
      }
    }
    void leave(readerGone(err) ? 141 : 70);
  };
  process.on('SIGTERM', () => void leave(143));
  process.on('SIGHUP', () => void leave(129));
  process.on('uncaughtException', crashed);
  process.on('unhandledRejection', crashed);
  (globalThis as { __hotpatchLeave?: (c: number) => Promise<void> }).__hotpatchLeave = leave;
  process.on('SIGINT', () => void leave(130));
}

main().then(
  (code) => {
    // A signal's detach also ends the batch (its command fails): leave() exits with the signal's code.
    if (leaving) return;
    // The target is detached by now: leave once what was printed is written out, rather than wait for every
    // handle to close (a big write to a full pipe finishes asynchronously, so exiting at once would cut it).
    exitWhenFlushed(code);
  },
  (err) => {
    useStream('stderr').write(errorText(toHotpatchError(err)) + '\n');
    exitWhenFlushed(1);
  },
);
