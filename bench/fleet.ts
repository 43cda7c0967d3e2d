// fleet: one fix (a load and a redirect, as a manifest) to 1,000 processes that map one library, then taken off, with
// `hotpatch apply --mapping`. Goal ≤ 3 s each way on this 2-core machine; libpulp reports 4000 processes in 6 s.
// Also: each process's memory before, with the fix, and after; the longest pause any process saw.
//   node dist/bench/run.js --only fleet            (FLEET_COUNT=200 for a smaller run, FLEET_JOBS, FLEET_PROCS)
import { copyFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fixtureBuild, patchDir, fmtMs, hotpatch, isAlive, killPid, log, median, now, sleep, tempDir, track, type Benchmark, type Row } from './lib.js';
import { openElf } from '../src/elf/reader.js';

const GOAL_MS = 3000;

/** Resident memory of a process (VmRSS), in KiB. */
function rssKib(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Private memory of a process (Private_Clean + Private_Dirty from smaps_rollup), in KiB: what each one costs. */
function privateKib(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const get = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(text)?.[1] ?? 0);
    return get('Private_Clean') + get('Private_Dirty');
  } catch {
    return 0;
  }
}

/** Starts `count` copies of `program` from one shell that exits at once: none is our child; their pids, in order. */
function startMany(program: string, count: number): number[] {
  const script = 'p=$1; n=$2; i=0; while [ $i -lt $n ]; do "$p" </dev/null >/dev/null 2>&1 & echo $!; i=$((i+1)); done';
  const out = execFileSync('sh', ['-c', script, 'sh', program, String(count)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const pids = out.trim().split('\n').map(Number);
  for (const pid of pids) track(pid);
  return pids;
}

async function waitMapped(pids: number[], lib: string, timeoutMs = 30_000): Promise<void> {
  const deadline = now() + timeoutMs;
  for (const pid of pids) {
    for (;;) {
      let maps = '';
      try {
        maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      } catch {
        throw new Error(`process ${pid} exited before it mapped ${lib}`);
      }
      if (maps.includes(lib)) break;
      if (now() > deadline) throw new Error(`process ${pid} has not mapped ${lib} after ${timeoutMs} ms`);
      await sleep(5);
    }
  }
}

interface Run {
  ms: number;
  code: number | null;
  changed: number;
  failed: number;
  longestMicros: number;
  longestPid?: number;
}

async function rollout(args: string[], keep?: string): Promise<Run> {
  const run = await hotpatch(['apply', ...args, '--json'], 300_000);
  // Each run's output is kept beside the processes' files, to look into a figure afterwards.
  if (keep) writeFileSync(keep, run.stdout);
  let changed = 0;
  let failed = 0;
  let longestMicros = 0;
  let longestPid: number | undefined;
  for (const line of run.stdout.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as { summary?: boolean; changed?: number | boolean; failed?: number; pid?: number; pause?: { micros: number; longestMicros?: number } };
    if (o.summary) {
      changed = o.changed as number;
      failed = o.failed ?? 0;
    } else if (o.pause) {
      const longest = o.pause.longestMicros ?? o.pause.micros;
      if (longest > longestMicros) {
        longestMicros = longest;
        longestPid = o.pid;
      }
    }
  }
  if (run.code !== 0) log(`  hotpatch apply ${args.join(' ')}: exit ${run.code}\n${run.stderr.slice(-500)}${run.stdout.split('\n').filter((l) => l.includes('"ok":false')).slice(0, 3).join('\n')}`);
  return { ms: run.ms, code: run.code, changed, failed, longestMicros, longestPid };
}

export const fleetBench: Benchmark = {
  name: 'fleet',
  about: 'hotpatch apply (a load and a redirect) to 1,000 processes mapping one library, then --revert; goal ≤ 3 s each',
  async run(): Promise<Row[]> {
    const count = Number(process.env.FLEET_COUNT ?? 1000);
    const jobs = process.env.FLEET_JOBS;
    // FLEET_PROCS=1: the whole run in one process (no workers), the control for what workers bring.
    const procs = process.env.FLEET_PROCS;
    // A directory of this run's own, so --mapping chooses only the processes started here.
    const dir = join(tempDir(), 'fleet');
    mkdirSync(dir, { recursive: true });
    const program = join(dir, 'fleet_tiny');
    copyFileSync(join(fixtureBuild, 'fleet_tiny'), program);
    const lib = join(dir, 'libfleet.so');
    copyFileSync(join(fixtureBuild, 'libfleet.so'), lib);
    const manifest = join(dir, 'fleet-fix.json');
    writeFileSync(manifest, JSON.stringify({
      format: 'hotpatch-fix/1',
      name: 'fleet-work-v2',
      targets: [{ module: 'libfleet.so', buildId: openElf(lib).buildId, libraries: [{ path: join(patchDir, 'patch_fleet.so') }], redirects: [{ from: 'fleet_work', to: 'fleet_work_v2' }] }],
    }));
    log(`  starting ${count} copies of fleet_tiny…`);
    const pids = startMany(program, count);
    try {
      await waitMapped(pids, lib);
      const sample = pids.filter((_, i) => i % Math.max(1, Math.floor(count / 50)) === 0);
      const before = { rss: median(sample.map(rssKib)), priv: median(sample.map(privateKib)) };
      const selection = ['--mapping', lib, ...(jobs ? ['--jobs', jobs] : []), ...(procs ? ['--procs', procs] : [])];
      const apply = await rollout([manifest, ...selection], join(dir, 'apply.jsonl'));
      const withFix = { rss: median(sample.map(rssKib)), priv: median(sample.map(privateKib)) };
      const again = await rollout([manifest, ...selection], join(dir, 'again.jsonl'));
      if (again.changed !== 0) log(`  apply again changed ${again.changed} process(es); see ${join(dir, 'again.jsonl')}:\n${readFileSync(join(dir, 'again.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"changed":true')).slice(0, 4).join('\n')}`);
      const revert = await rollout(['--revert', manifest, ...selection], join(dir, 'revert.jsonl'));
      const after = { rss: median(sample.map(rssKib)), priv: median(sample.map(privateKib)) };
      const alive = pids.filter(isAlive).length;
      const lines = [
        `  ${count} processes${jobs ? `, --jobs ${jobs}` : ''}${procs ? `, --procs ${procs}` : ''}: apply ${fmtMs(apply.ms)} (changed ${apply.changed}, failed ${apply.failed}), again ${fmtMs(again.ms)} (changed ${again.changed}), revert ${fmtMs(revert.ms)} (changed ${revert.changed}, failed ${revert.failed}); ${alive} alive after`,
        `  per process (median of ${sample.length}): RSS ${before.rss} KiB before, ${withFix.rss} KiB with the fix, ${after.rss} KiB after; private ${before.priv} → ${withFix.priv} → ${after.priv} KiB`,
        `  longest pause any process saw: apply ${(apply.longestMicros / 1000).toFixed(2)} ms (pid ${apply.longestPid}), revert ${(revert.longestMicros / 1000).toFixed(2)} ms (pid ${revert.longestPid})`,
      ];
      for (const l of lines) log(l);
      const ok = (r: Run) => r.code === 0 && r.failed === 0;
      return [
        { bench: `fleet apply ×${count}`, ours: fmtMs(apply.ms), theirs: 'libpulp 4000 in 6 s', ratio: `${Math.round(count / (apply.ms / 1000))}/s`, goal: `≤ ${fmtMs(GOAL_MS)}`, met: ok(apply) && apply.changed === count && apply.ms <= GOAL_MS,
          note: `longest pause ${(apply.longestMicros / 1000).toFixed(2)} ms; RSS +${withFix.rss - before.rss} KiB a process` },
        { bench: `fleet again ×${count}`, ours: fmtMs(again.ms), theirs: '', ratio: '', goal: 'changed 0', met: again.code === 0 && again.changed === 0 },
        { bench: `fleet revert ×${count}`, ours: fmtMs(revert.ms), theirs: '', ratio: `${Math.round(count / (revert.ms / 1000))}/s`, goal: `≤ ${fmtMs(GOAL_MS)}`, met: ok(revert) && revert.changed === count && revert.ms <= GOAL_MS,
          note: `longest pause ${(revert.longestMicros / 1000).toFixed(2)} ms` },
      ];
    } finally {
      for (const pid of pids) killPid(pid);
    }
  },
};
