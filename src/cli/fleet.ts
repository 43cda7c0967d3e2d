// A run over many processes (-p 10,11,12, --all NAME, --mapping MODULE, hotpatch apply): the same commands in each,
// a few processes at a time, each with its own Session (its own tracer thread), then one summary. With --all-or-none a
// failure anywhere undoes what the run changed everywhere. A big run is shared among worker processes, one a core:
// the JavaScript of each command (plans, symbol look-ups, /proc reads) is what limits a rollout, and one main thread
// runs on one core only.
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../builtins.js';
import { availableParallelism } from 'node:os';
import { Session } from '../session.js';
import { ElfCache } from '../symbols/space.js';
import type { HotpatchError } from '../errors.js';
import type { Chosen } from '../process/select.js';
import { runLine, type Outcome } from './runner.js';
import { renderResult, errorText, type OutputFormat } from './render-plain.js';
import { jsonLine } from './render-json.js';
import type { BatchLine } from './batch.js';

export interface FleetInput {
  chosen: Chosen[];
  lines: BatchLine[];
  format: OutputFormat;
  width?: number;
  jobs: number;
  allOrNone: boolean;
  /** The sessions attached now: the exit guards detach them all on Ctrl-C or SIGTERM. */
  live: Set<Session>;
  /** Worker processes to share the processes among (default: one a core once there are enough processes; 1: none). */
  procs?: number;
}

/** What one worker process is given: its share of the processes and everything else the run was given. */
type WorkerInput = Pick<FleetInput, 'chosen' | 'lines' | 'format' | 'width' | 'jobs' | 'allOrNone'>;

/** What a worker process tells the run: output, a failure (for --all-or-none), its reports at the end. */
type WorkerMessage = { out: string } | { failed: number } | { finished: true } | { reports: ReportSummary[] };

/** Of a report, what the summary and the exit status need (outcomes hold bigints and errors: not sent). */
type ReportSummary = Pick<ProcessReport, 'pid' | 'name' | 'state' | 'changed'> & { undone?: { ok: boolean }[] };

/**
 * Below this many processes a run stays in one process: a worker costs ~0.2 s to start (node and the bundle), about
 * what 30 processes cost to patch, and the tests' small runs keep their one-process behaviour.
 */
const PROCESSES_A_WORKER = 64;

/** Environment variable that makes hotpatch a fleet worker (see runWorker): set only by runFleet's fork. */
export const WORKER_ENV = 'HOTPATCH_FLEET_WORKER';

/** A failure that stops an --all-or-none run: a process of this run, or of another worker's share. */
interface Failure {
  pid: number;
}

/**
 * Errors that mean the run must leave the process alone rather than failed on it: the kernel would not let us
 * (another user's, traced by someone else), or the fix is not for it (another build of the module, not mapped).
 */
const SKIP_CODES = new Set(['EPERM', 'EBUSY', 'E_SELF', 'E_OWN_CHILD', 'E_OTHER_BUILD', 'E_NOT_MAPPED']);

export interface ProcessReport {
  pid: number;
  name?: string;
  state: 'ok' | 'failed' | 'skipped';
  reason?: string;
  outcomes: { outcome: Outcome; source?: string }[];
  /** What undoes each change this run made, last change first (revert #ID, unload #ID). */
  undo: string[];
  /** --all-or-none undid this process's changes: each undo line's outcome. */
  undone?: Outcome[];
  changed: boolean;
}

/** The command lines that take back what one successful command changed, in the order to run them. */
export function undoLines(o: Outcome): string[] {
  if (!o.ok || o.result?.changed !== true) return [];
  const word = o.command.split(/\s+/)[0];
  const data = o.result.data as { id?: number; steps?: { kind: string; id?: number; changed: boolean }[] } | null;
  const one = (kind: string, id: number | undefined) => (id === undefined ? [] : [kind === 'load' ? `unload #${id}` : `revert #${id}`]);
  if (word === 'load' || word === 'redirect') return one(word, data?.id);
  if (word === 'apply' && data?.steps) return [...data.steps].reverse().filter((s) => s.changed).flatMap((s) => one(s.kind, s.id));
  return [];
}

export async function runFleet(input: FleetInput, write: (s: string) => void): Promise<number> {
  const reports: ReportSummary[] = [];
  for (const c of input.chosen.filter((c) => c.skip)) {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'skipped', reason: c.skip, outcomes: [], undo: [], changed: false };
    reports.push(r);
    write(skipLine(r, input.format) + '\n');
  }
  const queue = input.chosen.filter((c) => !c.skip);
  // --procs given: that many workers (at most one a process), however small the run; otherwise one a core once
  // there are enough processes to pay for them.
  const procs = input.procs !== undefined ? Math.min(input.procs, queue.length) : Math.min(availableParallelism(), Math.floor(queue.length / PROCESSES_A_WORKER));
  if (procs > 1) reports.push(...await runWorkers(input, queue, procs, write));
  else reports.push(...await runQueue({ ...input, chosen: queue }, write, {}));
  write(summaryLine(reports, input) + '\n');
  return reports.some((r) => r.state === 'failed') || reports.some((r) => r.undone?.some((o) => !o.ok)) ? 1 : 0;
}

/**
 * Runs the commands in each process of `input.chosen` (none of them skipped), `input.jobs` at a time; prints each
 * process's lines when it is done. `stop.failed` is the failure that ends an --all-or-none run, set here or from
 * outside (another worker's); `onFailed` hears of a failure here.
 */
async function runQueue(input: WorkerInput & { live?: Set<Session> }, write: (s: string) => void, stop: { failed?: Failure }, onFailed?: (pid: number) => void,
  settle?: () => Promise<void>): Promise<ProcessReport[]> {
  const layout = { format: input.format === 'table' ? ('table' as const) : ('plain' as const), width: input.width };
  const live = input.live ?? new Set<Session>();
  // The ELF files (libc, the program, the patch) are read once for every process that maps them.
  const elves = new ElfCache();
  const reports: ProcessReport[] = [];
  const queue = input.chosen;
  const fail = (r: ProcessReport) => {
    if (stop.failed) return;
    stop.failed = r;
    onFailed?.(r.pid);
  };

  const print = (r: ProcessReport) => {
    for (const { outcome, source } of r.outcomes) write(processLine(r, outcome, source, input.format, layout) + '\n');
    if (r.state === 'skipped') write(skipLine(r, input.format) + '\n');
  };

  const runOne = async (c: Chosen): Promise<ProcessReport> => {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'ok', outcomes: [], undo: [], changed: false };
    const session = new Session({}, elves);
    live.add(session);
    try {
      const attach = await runLine(session, `attach ${c.pid}`);
      if (!attach!.ok) {
        const e = attach!.error!;
        if (SKIP_CODES.has(e.code)) return skipped(r, e);
        r.state = 'failed';
        r.outcomes.push({ outcome: attach! });
        return r;
      }
      r.name = session.target?.name ?? r.name;
      for (const line of input.lines) {
        // --all-or-none: another process failed meanwhile; what this one changed is undone below, while attached.
        if (input.allOrNone && stop.failed) break;
        const text = typeof line === 'string' ? line : line.text;
        const outcome = await runLine(session, text);
        if (!outcome) continue;
        const source = typeof line === 'string' ? undefined : line.source;
        if (!outcome.ok && SKIP_CODES.has(outcome.error!.code) && r.undo.length === 0) return skipped(r, outcome.error!);
        r.outcomes.push({ outcome, source });
        if (outcome.ok && outcome.result?.changed) r.changed = true;
        r.undo.unshift(...undoLines(outcome));
        if (!outcome.ok) {
          r.state = 'failed';
          break;
        }
      }
      if (input.allOrNone && r.state === 'failed') fail(r);
      if (input.allOrNone && stop.failed && r.undo.length) r.undone = await undo(session, r.undo);
      return r;
    } finally {
      if (session.target?.attached) await session.detach().catch(() => undefined);
      live.delete(session);
    }
  };

  // A pool of `jobs` workers over the queue; each process's lines are printed together once it is done.
  let next = 0;
  const notRun: Chosen[] = [];
  const worker = async () => {
    while (next < queue.length) {
      const c = queue[next++]!;
      if (input.allOrNone && stop.failed) {
        notRun.push(c);
        continue;
      }
      const r = await runOne(c);
      // A failure at the attach (the process gone) also stops an --all-or-none run.
      if (input.allOrNone && r.state === 'failed') fail(r);
      reports.push(r);
      print(r);
      if (r.undone) printUndone(r);
    }
  };
  const printUndone = (r: ProcessReport) => {
    for (const o of r.undone ?? []) write(processLine(r, o, undefined, input.format, layout, true) + '\n');
  };
  await Promise.all(Array.from({ length: Math.min(input.jobs, Math.max(queue.length, 1)) }, worker));
  // A worker of a bigger run: whether to undo is known once every worker is through its share (or one failed).
  if (input.allOrNone && settle) await settle();

  for (const c of notRun) {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'skipped', reason: `not run: process ${stop.failed!.pid} failed, and --all-or-none is set`, outcomes: [], undo: [], changed: false };
    reports.push(r);
    print(r);
  }
  // --all-or-none: the processes that had finished before the failure are attached again and their changes undone.
  if (input.allOrNone && stop.failed) {
    const done = reports.filter((r) => r.state === 'ok' && r.undo.length && !r.undone);
    let k = 0;
    const undoer = async () => {
      while (k < done.length) {
        const r = done[k++]!;
        const session = new Session({}, elves);
        live.add(session);
        try {
          const attach = await runLine(session, `attach ${r.pid}`);
          r.undone = attach!.ok ? await undo(session, r.undo) : [attach!];
        } finally {
          if (session.target?.attached) await session.detach().catch(() => undefined);
          live.delete(session);
        }
        printUndone(r);
      }
    };
    await Promise.all(Array.from({ length: Math.min(input.jobs, Math.max(done.length, 1)) }, undoer));
  }
  return reports;
}

/**
 * Shares the queue among `procs` worker processes (hotpatch itself, as runWorker), each with its share of --jobs, and
 * passes their output on as it comes. With --all-or-none, a failure in one worker is told to the others, which stop
 * and undo their share. A worker that dies without its reports leaves its processes failed: its own exit guards
 * detached them (a worker whose parent goes away detaches and leaves too).
 */
async function runWorkers(input: FleetInput, queue: Chosen[], procs: number, write: (s: string) => void): Promise<ReportSummary[]> {
  // Every procs-th process to each, so that processes started together (and alike) are spread evenly.
  const shares = Array.from({ length: procs }, (_, k) => queue.filter((_, i) => i % procs === k));
  const jobs = Math.max(1, Math.ceil(input.jobs / procs));
  const children: ChildProcess[] = [];
  let failedPid: number | undefined;
  let finished = 0;
  // --all-or-none: a failure anywhere, told to every other worker (each undoes its share); or, once every worker is
  // through its share with none, the word that there is nothing to undo.
  const failedAt = (pid: number, from?: ChildProcess) => {
    if (failedPid !== undefined) return;
    failedPid = pid;
    for (const other of children) if (other !== from && other.connected) other.send({ failed: pid });
  };
  const through = () => {
    if (++finished === procs && failedPid === undefined) for (const c of children) if (c.connected) c.send({ done: true });
  };
  const results = await Promise.all(shares.map((share) => new Promise<ReportSummary[]>((resolve) => {
    // The same script this process runs (bin.cjs, which picks the batch bundle: the worker's stdin is not a TTY).
    const child = childProcess().fork(process.argv[1]!, [], {
      env: { ...process.env, [WORKER_ENV]: '1' },
      // Baseline code only (Sparkplug): a worker runs the same short commands a thousand times, and optimizing
      // compiles, on its thread or beside it, cost more than they gain on 2 shared cores: 1,000 processes in 2.4 s
      // rather than 2.9 s.
      execArgv: [...process.execArgv, '--max-opt=1'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    children.push(child);
    let reports: ReportSummary[] | undefined;
    let counted = false;
    const throughOnce = () => {
      if (!counted) through();
      counted = true;
    };
    child.on('message', (m: WorkerMessage) => {
      if ('out' in m) write(m.out);
      else if ('reports' in m) reports = m.reports;
      else if ('failed' in m) failedAt(m.failed, child);
      else if ('finished' in m) throughOnce();
    });
    let over = false;
    const lost = (why: string) => {
      if (over) return;
      over = true;
      // Without its reports, its processes count as failed: with --all-or-none the others undo theirs.
      if (!reports && input.allOrNone) failedAt(share[0]!.pid, child);
      throughOnce();
      resolve(reports ?? share.map((c) => {
        const r: ProcessReport = { pid: c.pid, name: c.name, state: 'failed', reason: why, outcomes: [], undo: [], changed: false };
        write((input.format === 'json' ? JSON.stringify({ pid: r.pid, name: r.name, ok: false, error: { code: 'E_WORKER', message: why } }) : `[${r.pid}${r.name ? ` ${r.name}` : ''}] ${why}`) + '\n');
        return r;
      }));
    };
    child.on('error', (err) => lost(`worker process: ${err.message}`));
    // 'close', not 'exit': the last messages (the reports) may still be on their way when 'exit' comes.
    child.on('close', (code, signal) => lost(`worker process ${child.pid} exited (${signal ?? code}) before it reported`));
    const given: WorkerInput = { chosen: share, lines: input.lines, format: input.format, width: input.width, jobs, allOrNone: input.allOrNone };
    child.send({ input: given, ...(failedPid !== undefined ? { failed: failedPid } : {}) });
  })));
  return results.flat();
}

/**
 * The worker side of runWorkers: takes its share over IPC, runs it, sends output as it comes and its reports at the
 * end. The run going away (its IPC channel closed) makes the worker leave as on SIGTERM: every session detached.
 */
export async function runWorker(live: Set<Session>): Promise<number> {
  const send = (m: WorkerMessage) => new Promise<void>((resolve) => (process.connected ? process.send!(m, undefined, {}, () => resolve()) : resolve()));
  const stop: { failed?: Failure } = {};
  let verdict: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (verdict = resolve));
  const input = await new Promise<WorkerInput>((resolve) => {
    process.on('message', (m: { input?: WorkerInput; failed?: number; done?: boolean }) => {
      if (m.failed !== undefined) {
        stop.failed ??= { pid: m.failed };
        verdict();
      }
      if (m.done) verdict();
      if (m.input) resolve(m.input);
    });
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  let pending = Promise.resolve();
  const write = (s: string) => void (pending = pending.then(() => send({ out: s })));
  const settle = async () => {
    await send({ finished: true });
    // A failure here is the verdict already; otherwise the run says: another worker's failure, or done.
    if (!stop.failed) await settled;
  };
  const reports = await runQueue({ ...input, live }, write, stop, (pid) => void send({ failed: pid }), settle);
  await pending;
  await send({ reports: reports.map((r) => ({ pid: r.pid, name: r.name, state: r.state, changed: r.changed, ...(r.undone ? { undone: r.undone.map((o) => ({ ok: o.ok })) } : {}) })) });
  process.disconnect();
  return 0;
}

function skipped(r: ProcessReport, e: HotpatchError): ProcessReport {
  r.state = 'skipped';
  r.reason = e.message;
  return r;
}

/** Runs the undo lines in order; goes on past a failure (each takes back its own change) and returns every outcome. */
async function undo(session: Session, lines: string[]): Promise<Outcome[]> {
  const out: Outcome[] = [];
  for (const line of lines) {
    const o = await runLine(session, line);
    if (o) out.push(o);
  }
  return out;
}

function processLine(r: ProcessReport, o: Outcome, source: string | undefined, format: OutputFormat, layout: { format: 'table' | 'plain'; width?: number }, undoing = false): string {
  if (format === 'json') {
    const obj = JSON.parse(jsonLine(o, source)) as Record<string, unknown>;
    return JSON.stringify({ pid: r.pid, name: r.name, ...(undoing ? { undo: true } : {}), ...obj });
  }
  const head = `[${r.pid}${r.name ? ` ${r.name}` : ''}] ${undoing ? '(all-or-none: undo) ' : ''}`;
  const body = o.ok ? renderResult(o.result!, false, layout) || `${o.command}: done` : (source ? `${source}: ` : '') + errorText(o.error!);
  return body.split('\n').map((l) => head + l).join('\n');
}

function skipLine(r: Pick<ProcessReport, 'pid' | 'name' | 'reason'>, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify({ pid: r.pid, name: r.name, skipped: true, reason: r.reason });
  return `[${r.pid}${r.name ? ` ${r.name}` : ''}] skipped: ${r.reason}`;
}

function summaryLine(reports: ReportSummary[], input: FleetInput): string {
  const count = (f: (r: ReportSummary) => boolean) => reports.filter(f).length;
  const ok = count((r) => r.state === 'ok');
  const failedN = count((r) => r.state === 'failed');
  const skippedN = count((r) => r.state === 'skipped');
  const changed = count((r) => r.changed);
  const undone = count((r) => r.undone !== undefined && r.undone.every((o) => o.ok));
  const summary = {
    processes: reports.length,
    succeeded: ok,
    failed: failedN,
    skipped: skippedN,
    changed,
    unchanged: count((r) => r.state === 'ok' && !r.changed),
    ...(input.allOrNone ? { undone } : {}),
    failedPids: reports.filter((r) => r.state === 'failed').map((r) => r.pid),
  };
  const allOk = failedN === 0 && !reports.some((r) => r.undone?.some((o) => !o.ok));
  if (input.format === 'json') return JSON.stringify({ summary: true, ok: allOk, ...summary });
  return `${reports.length} process${reports.length === 1 ? '' : 'es'}: ${ok} succeeded (${changed} changed, ${summary.unchanged} unchanged), ${failedN} failed${failedN ? ` (${summary.failedPids.join(', ')})` : ''}, ${skippedN} skipped` +
    (input.allOrNone && failedN ? `; all-or-none: undone in ${undone}` : '');
}
