// A run over many processes (-p 10,11,12, --all NAME, --mapping MODULE, hotpatch apply): the same commands in each,
// a few processes at a time, each with its own Session (its own tracer thread), then one summary. With --all-or-none a
// failure anywhere undoes what the run changed everywhere.
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
  const layout = { format: input.format === 'table' ? ('table' as const) : ('plain' as const), width: input.width };
  // The ELF files (libc, the program, the patch) are read once for every process that maps them.
  const elves = new ElfCache();
  const reports: ProcessReport[] = [];
  const queue = input.chosen.filter((c) => !c.skip);
  let failed: ProcessReport | undefined;

  const print = (r: ProcessReport) => {
    for (const { outcome, source } of r.outcomes) write(processLine(r, outcome, source, input.format, layout) + '\n');
    if (r.state === 'skipped') write(skipLine(r, input.format) + '\n');
  };

  for (const c of input.chosen.filter((c) => c.skip)) {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'skipped', reason: c.skip, outcomes: [], undo: [], changed: false };
    reports.push(r);
    print(r);
  }

  const runOne = async (c: Chosen): Promise<ProcessReport> => {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'ok', outcomes: [], undo: [], changed: false };
    const session = new Session({}, elves);
    input.live.add(session);
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
        if (input.allOrNone && failed) break;
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
      if (input.allOrNone && r.state === 'failed') failed ??= r;
      if (input.allOrNone && failed && r.undo.length) r.undone = await undo(session, r.undo);
      return r;
    } finally {
      if (session.target?.attached) await session.detach().catch(() => undefined);
      input.live.delete(session);
    }
  };

  // A pool of `jobs` workers over the queue; each process's lines are printed together once it is done.
  let next = 0;
  const notRun: Chosen[] = [];
  const worker = async () => {
    while (next < queue.length) {
      const c = queue[next++]!;
      if (input.allOrNone && failed) {
        notRun.push(c);
        continue;
      }
      const r = await runOne(c);
      reports.push(r);
      print(r);
      if (r.undone) printUndone(r);
    }
  };
  const printUndone = (r: ProcessReport) => {
    for (const o of r.undone ?? []) write(processLine(r, o, undefined, input.format, layout, true) + '\n');
  };
  await Promise.all(Array.from({ length: Math.min(input.jobs, Math.max(queue.length, 1)) }, worker));

  for (const c of notRun) {
    const r: ProcessReport = { pid: c.pid, name: c.name, state: 'skipped', reason: `not run: process ${failed!.pid} failed, and --all-or-none is set`, outcomes: [], undo: [], changed: false };
    reports.push(r);
    print(r);
  }
  // --all-or-none: the processes that had finished before the failure are attached again and their changes undone.
  if (input.allOrNone && failed) {
    const done = reports.filter((r) => r.state === 'ok' && r.undo.length && !r.undone);
    let k = 0;
    const undoer = async () => {
      while (k < done.length) {
        const r = done[k++]!;
        const session = new Session({}, elves);
        input.live.add(session);
        try {
          const attach = await runLine(session, `attach ${r.pid}`);
          r.undone = attach!.ok ? await undo(session, r.undo) : [attach!];
        } finally {
          if (session.target?.attached) await session.detach().catch(() => undefined);
          input.live.delete(session);
        }
        printUndone(r);
      }
    };
    await Promise.all(Array.from({ length: Math.min(input.jobs, Math.max(done.length, 1)) }, undoer));
  }
  write(summaryLine(reports, input) + '\n');
  return reports.some((r) => r.state === 'failed') || reports.some((r) => r.undone?.some((o) => !o.ok)) ? 1 : 0;
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

function skipLine(r: ProcessReport, format: OutputFormat): string {
  if (format === 'json') return JSON.stringify({ pid: r.pid, name: r.name, skipped: true, reason: r.reason });
  return `[${r.pid}${r.name ? ` ${r.name}` : ''}] skipped: ${r.reason}`;
}

function summaryLine(reports: ProcessReport[], input: FleetInput): string {
  const count = (f: (r: ProcessReport) => boolean) => reports.filter(f).length;
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
