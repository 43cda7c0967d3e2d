// bt all on an idle node (7 threads): the hotpatch bin and the command alone, against gdb's `thread apply all bt` (issue 12).
import { Session } from '../src/session.js';
import { runLine } from '../src/cli/runner.js';
import { fmtMs, fmtRatio, fmtUs, hotpatchJson, log, median, now, runTimed, sleep, startDetached, which, type Benchmark, type Row } from './lib.js';

const RUNS = 5;
const GOAL_MS = 300;

export const btBench: Benchmark = {
  name: 'bt',
  about: 'bt all on node -e "setInterval(…)" (7 threads): hotpatch -p PID -e "bt all", and the command in-process, vs gdb -batch -ex "thread apply all bt"',
  async run(): Promise<Row[]> {
    const target = await startDetached([process.execPath, '-e', 'setInterval(()=>{},1000)']);
    try {
      await sleep(500); // its worker threads and the inspector's thread start after the main script
      const threads = (await import('node:fs')).readdirSync(`/proc/${target.pid}/task`).length;

      // The bin, as a user runs it: start, attach, bt all, detach, exit.
      const whole: number[] = [];
      const pauses: number[] = [];
      let frames = 0;
      for (let i = -1; i < RUNS; i++) {
        const t0 = now();
        const { run, outcomes } = await hotpatchJson(target.pid, ['bt all']);
        const ms = now() - t0;
        const o = outcomes[0];
        if (run.code !== 0 || !o?.ok) throw new Error(`hotpatch bt all failed (exit ${run.code}): ${run.stdout}${run.stderr}`);
        if (i < 0) {
          frames = (o.result as { threads: { frames: unknown[] }[] }).threads.reduce((n, t) => n + t.frames.length, 0);
          continue;
        }
        whole.push(ms);
        pauses.push(o.pause?.micros ?? NaN);
      }

      // The command alone in this process: a new session each time (its own ELF and DWARF caches, so cold reads).
      const command: number[] = [];
      for (let i = -1; i < RUNS; i++) {
        const session = new Session({ notice: () => {} });
        try {
          const at = await runLine(session, `attach ${target.pid}`);
          if (!at?.ok) throw new Error(`attach failed: ${at?.error?.message}`);
          const t0 = now();
          const o = await runLine(session, 'bt all');
          const ms = now() - t0;
          if (!o?.ok) throw new Error(`bt all failed: ${o?.error?.message}`);
          if (i >= 0) command.push(ms);
        } finally {
          if (session.target?.attached) await session.detach();
        }
      }

      const rows: Row[] = [];
      const o = median(whole);
      const c = median(command);
      const p = median(pauses);
      let theirs = NaN;
      if (which('gdb')) {
        const gdb: number[] = [];
        for (let i = -1; i < RUNS; i++) {
          const r = await runTimed('gdb', ['-batch', '-nx', '-p', String(target.pid), '-ex', 'thread apply all bt']);
          if (r.code !== 0) throw new Error(`gdb failed (exit ${r.code}): ${r.stderr.slice(-300)}`);
          if (i >= 0) gdb.push(r.ms);
        }
        theirs = median(gdb);
      }
      log(`  bt all on node (${threads} threads, ${frames} frames): hotpatch bin ${fmtMs(o)}, the command alone ${fmtMs(c)}, ` +
        `pause ${fmtUs(p)}; gdb thread apply all bt ${fmtMs(theirs)}; goal < ${GOAL_MS} ms: ${o < GOAL_MS ? 'met' : 'NOT met'}`);
      rows.push({
        bench: `bt all (node, ${threads} threads)`,
        ours: `${fmtMs(o)} whole run; ${fmtMs(c)} command; pause ${fmtUs(p)}`,
        theirs: Number.isFinite(theirs) ? `gdb ${fmtMs(theirs)}` : 'gdb not installed',
        ratio: Number.isFinite(theirs) ? fmtRatio(o / theirs) : 'n/a',
        goal: `< ${GOAL_MS} ms whole run`,
        met: o < GOAL_MS,
        note: `median of ${RUNS} after one warm-up each; the command alone: a fresh session per run (cold ELF/DWARF reads), attach not counted`,
      });
      return rows;
    } finally {
      target.kill();
    }
  },
};
