// How long the target stands still: the bare stop-and-resume floor, `load` (both methods), `redirect`, and gdb's
// `call dlopen(...)` for comparison, all in the same run (issues 4 and 5).
//
// The floor is measured in-process (Target.attach on a target started through a shell, so it is not our child).
// load and redirect are measured through the hotpatch bin (`--json` gives each command's pause), on a fresh target
// per repetition so every load is a first load. gdb is measured from the target's side: counter prints a line every
// 1 ms and the largest gap between their arrival times is how long gdb held it.
import { join } from 'node:path';
import { Target } from '../src/process/target.js';
import {
  compileBenchC, failureText, fixture, fmtMs, fmtRatio, fmtUs, hotpatchJson, log, mean, median, notBuilt, now, patchDir,
  percentile, runTimed, sleep, startChild, startDetached, which, type Benchmark, type ChildTarget, type Row,
} from './lib.js';

const FLOOR_STOPS = 200;
/** Repetitions (each on a fresh target) for rows with a goal, and for the report-only rows of the 8-thread target. */
const CLI_REPS = 5;
const CLI_REPS_REPORT = 3;
const GDB_REPS = 3;
const GDB_REPS_REPORT = 2;
const METHODS = ['dlopen', 'map'] as const;

interface Kind {
  label: string;
  argv: () => string[];
  ready: RegExp;
  /** The lines whose arrival times show the target's own view of a pause. */
  tickLine: RegExp;
  patch: () => string;
  /** What to redirect, when this target is used for redirect. */
  redirect?: string;
}

const counter: Kind = {
  label: 'counter (1 thread)',
  argv: () => [fixture('counter'), '1'],
  ready: /^count=/,
  tickLine: /^count=/,
  patch: () => join(patchDir, 'patch_callbench.so'),
};

const callbench: Kind = {
  label: 'callbench (1 thread)',
  argv: () => [fixture('callbench')],
  ready: /^ready/,
  tickLine: /^ns_per_call=/,
  patch: () => join(patchDir, 'patch_callbench.so'),
  redirect: 'redirect target_fn new_fn',
};

const threads: Kind = {
  label: 'threads (8 threads)',
  // 5 workers calling work() flat out, a reader blocked in read(), a sleeper and main: 8 threads.
  argv: () => [fixture('threads'), '5'],
  ready: /^wrong=/,
  tickLine: /^wrong=/,
  patch: () => compileBenchC('bench_patch_work.c', ['-O2', '-shared', '-fPIC']),
  redirect: 'redirect work bench_work',
};

// ---------------------------------------------------------------- the floor

interface Floor {
  median: number;
  mean: number;
  p99: number;
  max: number;
  threads: number;
}

/** In-process: seize a (not-our-child) target and stop + resume every thread FLOOR_STOPS times with no work. */
async function measureFloor(kind: Kind): Promise<Floor> {
  const target = await startDetached(kind.argv(), kind.ready);
  let t: Target | undefined;
  try {
    t = await Target.attach(target.pid);
    const pauses: number[] = [];
    let threadCount = 0;
    for (let i = -10; i < FLOOR_STOPS; i++) {
      await t.run({ stopAll: true, ops: [] });
      if (i < 0) continue; // warm-up
      pauses.push(t.lastPause!.micros);
      threadCount = t.lastPause!.threads;
    }
    return { median: median(pauses), mean: mean(pauses), p99: percentile(pauses, 99), max: Math.max(...pauses), threads: threadCount };
  } finally {
    if (t) await t.detach().catch(() => {});
    target.kill();
  }
}

function floorText(f: Floor): string {
  return `${fmtUs(f.median)} / ${fmtUs(f.mean)} / ${fmtUs(f.p99)}`;
}

// ---------------------------------------------------------------- the target's own view

/**
 * The largest spacing between consecutive tick lines that arrived inside [from, to], minus the typical spacing there
 * (the median). Arrival times go through a pipe and this process's event loop, so on a busy machine this carries some
 * milliseconds of noise: compare it with the same figure over an idle stretch.
 */
function seenStall(child: ChildTarget, tick: RegExp, from: number, to: number): number {
  let last: number | undefined;
  const gaps: number[] = [];
  for (const l of child.lines) {
    if (!tick.test(l.text)) continue;
    if (l.t >= from && last !== undefined && l.t <= to) gaps.push(l.t - last);
    last = l.t;
  }
  return gaps.length === 0 ? NaN : Math.max(...gaps) - median(gaps);
}

const settleMs = (kind: Kind) => (kind === threads ? 120 : 30);

/** The same figure with no tool attached, over a stretch as long as a hotpatch run: the noise floor of seenStall. */
async function idleStall(kind: Kind, windowMs: number): Promise<number> {
  const child = await startChild(kind.argv(), kind.ready);
  try {
    await sleep(50);
    const from = now();
    await sleep(windowMs);
    return seenStall(child, kind.tickLine, from, now());
  } finally {
    child.kill();
  }
}

// ---------------------------------------------------------------- hotpatch and gdb runs

interface Series {
  /**
   * Pauses the tool reported (µs), one per rep: the longest single stop of the command (a first redirect maps its
   * code area in a one-thread stop before the stop of every thread; each is one pause of the target).
   */
  pauses: number[];
  /** Stops per command and their sum, when it stopped the target more than once. */
  stops: number[];
  totals: number[];
  /** Threads it said it stopped. */
  threads: number[];
  failure?: string;
  notBuilt?: boolean;
}

interface CliRuns {
  /** By command word ('load', 'redirect'). */
  series: Map<string, Series>;
  /** The target's own view (ms), one per rep. */
  seenMs: number[];
  notes: string[];
}

/** Runs `hotpatch -p PID --json -e CMD…` on a fresh child target per rep and collects each command's reported pause. */
async function measureCli(kind: Kind, commands: string[], reps: number, after?: (c: ChildTarget) => Promise<string | undefined>): Promise<CliRuns> {
  const words = commands.map((c) => c.split(' ')[0]!);
  const out: CliRuns = { series: new Map(words.map((w) => [w, { pauses: [], threads: [], stops: [], totals: [] }])), seenMs: [], notes: [] };
  for (let r = 0; r < reps; r++) {
    const child = await startChild(kind.argv(), kind.ready);
    try {
      await sleep(50);
      const t0 = now();
      const { run, outcomes } = await hotpatchJson(child.pid, commands);
      const t1 = now();
      await sleep(settleMs(kind));
      let failed = false;
      words.forEach((w, i) => {
        const s = out.series.get(w)!;
        const o = outcomes[i];
        if (o?.ok && o.pause) {
          s.pauses.push(o.pause.longestMicros ?? o.pause.micros);
          s.threads.push(o.pause.threads);
          s.stops.push(o.pause.stops ?? 1);
          s.totals.push(o.pause.micros);
          const jumpKind = (o.result as { jumpKind?: unknown } | undefined)?.jumpKind;
          if (typeof jumpKind === 'string' && !out.notes.includes(`jump ${jumpKind}`)) out.notes.push(`jump ${jumpKind}`);
          return;
        }
        failed = true;
        const why = o === undefined && i > 0 && outcomes[i - 1] && !outcomes[i - 1]!.ok
          ? `not run: ${words[i - 1]} failed`
          : o?.ok ? `${w}: no pause reported` : failureText(o, run);
        if (s.pauses.length > 0) out.notes.push(`${w} rep ${r + 1} failed: ${why}`);
        else if (!s.failure) {
          s.failure = why;
          s.notBuilt = notBuilt(o);
        }
      });
      if (failed) break;
      out.seenMs.push(seenStall(child, kind.tickLine, t0, t1 + 5));
      if (after && r === 0) {
        const note = await after(child);
        if (note) out.notes.push(note);
      }
    } finally {
      child.kill();
    }
  }
  return out;
}

interface GdbRuns {
  seenMs: number[];
  wallMs: number[];
  failure?: string;
  /** Set when gdb could only attach and detach (no call): what was measured instead. */
  note?: string;
}

/** gdb -p PID -batch -ex 'call (void*)dlopen("PATH", 2)': the target's own view of how long it stood still. */
async function measureGdb(kind: Kind, patch: string, reps: number): Promise<GdbRuns> {
  const out: GdbRuns = { seenMs: [], wallMs: [] };
  if (!which('gdb')) {
    out.failure = 'gdb not installed';
    return out;
  }
  // gdb 13 cannot call functions on CPUs whose XSAVE area holds AMX tiles (11 KiB: it writes a 2.6 KiB one back and
  // the kernel says EFAULT, "Couldn't write extended state status"). Then its attach and detach alone are timed: a
  // lower bound of what the call would cost.
  let attachOnly = false;
  for (let r = 0; r < reps; r++) {
    const child = await startChild(kind.argv(), kind.ready);
    try {
      await sleep(50);
      const t0 = now();
      const g = await runTimed('gdb', ['-nx', '-batch', '-iex', 'set debuginfod enabled off', '-p', String(child.pid),
        ...(attachOnly ? [] : ['-ex', `call (void*)dlopen("${patch}", 2)`])], 60_000);
      const t1 = now();
      await sleep(settleMs(kind));
      const ok = attachOnly ? /detached/.test(g.stdout + g.stderr) : /\$1 = \(void \*\) 0x[0-9a-f]*[1-9a-f]/.test(g.stdout);
      if (!ok) {
        const lines = (g.stdout + '\n' + g.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
        const why = lines.find((l) => /extended state|Couldn't|[Ee]rror|[Ff]ailed/.test(l)) ?? lines.at(-1) ?? 'no output';
        if (!attachOnly && out.seenMs.length === 0 && /extended state/.test(why)) {
          attachOnly = true;
          out.note = `gdb cannot call here (${why.slice(0, 60)}); its attach+detach alone, a lower bound`;
          r--;
          continue;
        }
        if (out.seenMs.length === 0) out.failure = `gdb failed: ${why}`.slice(0, 120);
        break;
      }
      out.seenMs.push(seenStall(child, kind.tickLine, t0, t1 + 5));
      out.wallMs.push(g.ms);
    } finally {
      child.kill();
    }
  }
  return out;
}

// ---------------------------------------------------------------- rows

function stoppedText(s: Series, floor: Floor): string {
  const counts = [...new Set(s.threads)].sort((a, b) => a - b).join('/');
  const stops = Math.max(1, ...s.stops);
  const many = stops > 1 ? ` in ${[...new Set(s.stops)].sort().join('/')} stops (longest shown; all together ${fmtUs(median(s.totals))})` : '';
  return `${counts} of ${floor.threads} thread${floor.threads === 1 ? '' : 's'} stopped${many}`;
}

function pauseText(s: Series): string {
  return `${fmtUs(median(s.pauses))} (best ${fmtUs(Math.min(...s.pauses))})`;
}

function rangeText(xs: number[]): string {
  return `${fmtUs(Math.min(...xs))}–${fmtUs(Math.max(...xs))}`;
}

function verdict(met: boolean | undefined, goal: string): string {
  return met === undefined ? '' : `  goal ${goal}: ${met ? 'met' : 'NOT met'}`;
}

export const pauseBench: Benchmark = {
  name: 'pause',
  about: 'target pause: bare stop+resume floor vs load (dlopen, map) vs redirect vs gdb call dlopen',
  async run(): Promise<Row[]> {
    const rows: Row[] = [];
    const floors = new Map<Kind, Floor>();
    for (const kind of [counter, callbench, threads]) {
      const f = await measureFloor(kind);
      floors.set(kind, f);
      log(`  floor ${kind.label}: stop+resume of ${f.threads} thread(s) x${FLOOR_STOPS}, median / mean / p99: ${floorText(f)}, max ${fmtUs(f.max)}`);
      rows.push({
        bench: `pause floor, ${kind.label}`,
        ours: floorText(f),
        theirs: '',
        ratio: '',
        goal: 'reference',
        met: undefined,
        note: `${FLOOR_STOPS} in-process stop+resume of ${f.threads} thread(s): median / mean / p99; max ${fmtUs(f.max)}`,
      });
    }

    // gdb's call dlopen(...), seen from the target, on a 1-thread and a 8-thread target.
    const gdbText = new Map<Kind, { text: string; ms: number }>();
    for (const kind of [counter, threads]) {
      const idle = await idleStall(kind, 1000);
      const gdb = await measureGdb(kind, kind.patch(), kind === counter ? GDB_REPS : GDB_REPS_REPORT);
      const ms = median(gdb.seenMs);
      const text = gdb.failure ?? (gdb.note ? `gdb attach+detach ≥ ${fmtMs(ms)} (no call possible)` : `gdb ${fmtMs(ms)} (target-seen)`);
      gdbText.set(kind, { text, ms });
      log(`  gdb call dlopen, ${kind.label}: ${gdb.failure ?? `${gdb.note ? `${gdb.note}: ` : ''}target stalled ${fmtMs(ms)} (median of ${gdb.seenMs.length}; ` +
        `gdb ran ${fmtMs(median(gdb.wallMs))}); the same measure with nothing attached: ${fmtMs(idle)}`}`);
      rows.push({
        bench: gdb.note ? `gdb attach+detach (its call fails here), ${kind.label}` : `gdb call dlopen, ${kind.label}`,
        ours: '',
        theirs: text,
        ratio: '',
        goal: 'reference',
        met: undefined,
        note: gdb.failure ? undefined : `${gdb.note ? `${gdb.note}; ` : ''}largest gap between the target's output lines while gdb ran, minus their usual spacing; ` +
          `median of ${gdb.seenMs.length}; gdb ran ${fmtMs(median(gdb.wallMs))}; with nothing attached ${fmtMs(idle)}`,
      });
    }

    // load alone on the sleeping 1-thread counter (the goal), then load + redirect on callbench and the 8-thread target.
    const plans: { kind: Kind; reps: number }[] = [
      { kind: counter, reps: CLI_REPS },
      { kind: callbench, reps: CLI_REPS },
      { kind: threads, reps: CLI_REPS_REPORT },
    ];
    for (const { kind, reps } of plans) {
      const floor = floors.get(kind)!;
      const one = floor.threads === 1;
      for (const method of METHODS) {
        const commands = [`load ${kind.patch()} --method ${method}`, ...(kind.redirect ? [kind.redirect] : [])];
        const checkThreads = kind === threads
          ? async (c: ChildTarget) => {
            const line = await c.waitLine(/^wrong=/, c.lines.length, 2000).catch(() => undefined);
            return line ? `workers after redirect: ${line.text}` : undefined;
          }
          : undefined;
        const res = await measureCli(kind, commands, reps, checkThreads);
        const load = res.series.get('load')!;
        const notes = res.notes.length ? '; ' + res.notes.join('; ') : '';
        const loadNotes = res.notes.filter((n) => !n.startsWith('jump ') && !n.startsWith('redirect ') && !n.startsWith('workers '));

        // load
        const loadBench = `load --method ${method}, ${kind.label}`;
        const gdb = gdbText.get(kind);
        const loadGoal = one ? 'pause ≤ 0.5 ms' : 'report (×floor)';
        if (load.pauses.length === 0) {
          log(`  ${loadBench}: ${load.failure}`);
          rows.push({ bench: loadBench, ours: load.failure ?? 'no result', theirs: gdb?.text ?? '', ratio: 'n/a', goal: loadGoal, met: undefined });
        } else {
          const p = median(load.pauses);
          const met = one ? p <= 500 : undefined;
          const vsGdb = gdb && Number.isFinite(gdb.ms) ? fmtRatio(p / 1000 / gdb.ms) : undefined;
          log(`  ${loadBench}: pause ${pauseText(load)}, ${stoppedText(load, floor)}; floor ${fmtUs(floor.median)} (${fmtRatio(p / floor.median)})` +
            (gdb ? `; ${gdb.text}${vsGdb ? ` (${vsGdb})` : ''}` : '') + verdict(met, '≤ 0.5 ms'));
          rows.push({
            bench: loadBench,
            ours: `${pauseText(load)} = ${fmtRatio(p / floor.median)} floor`,
            theirs: gdb?.text ?? `floor ${fmtUs(floor.median)}`,
            ratio: vsGdb ?? fmtRatio(p / floor.median),
            goal: loadGoal,
            met,
            note: `reported pause, median of ${load.pauses.length} fresh targets (range ${rangeText(load.pauses)}), ${stoppedText(load, floor)}` +
              (kind === counter ? `; target-seen stall while hotpatch ran ${fmtMs(median(res.seenMs))}` : '') +
              (loadNotes.length ? '; ' + loadNotes.join('; ') : ''),
          });
        }

        // redirect
        if (!kind.redirect) continue;
        const red = res.series.get('redirect')!;
        const redBench = `redirect (after load ${method}), ${kind.label}`;
        const redGoal = one ? '≤ 0.3 ms and ≤ 3× floor' : 'report (×floor)';
        if (red.pauses.length === 0) {
          log(`  ${redBench}: ${red.failure ?? load.failure}`);
          rows.push({ bench: redBench, ours: red.failure ?? load.failure ?? 'no result', theirs: `floor ${fmtUs(floor.median)}`, ratio: 'n/a', goal: redGoal, met: undefined });
          continue;
        }
        const p = median(red.pauses);
        const ratio = p / floor.median;
        const met = one ? p <= 300 && ratio <= 3 : undefined;
        log(`  ${redBench}: pause ${pauseText(red)}, ${stoppedText(red, floor)}; floor ${fmtUs(floor.median)}; ratio ${fmtRatio(ratio)}` +
          verdict(met, '≤ 0.3 ms and ≤ 3×') + (res.notes.length ? `  (${res.notes.join('; ')})` : ''));
        rows.push({
          bench: redBench,
          ours: pauseText(red),
          theirs: `floor ${fmtUs(floor.median)}`,
          ratio: fmtRatio(ratio),
          goal: redGoal,
          met,
          note: `reported pause of redirect, median of ${red.pauses.length} fresh targets (range ${rangeText(red.pauses)}), ` +
            `${stoppedText(red, floor)}; ratio to the floor's median` + notes,
        });
      }
    }
    return rows;
  },
};
