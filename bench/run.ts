// npm run bench: every benchmark, each against its peer measured in the same run, then one table of goals.
//   node dist/bench/run.js                 all of them (about a minute)
//   node dist/bench/run.js --only pause    one (or a comma list: --only syms,peek)
//   node dist/bench/run.js --list          names
import Table from 'cli-table3';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { symsBench } from './syms.js';
import { peekBench } from './peek.js';
import { disasmBench } from './disasm.js';
import { pauseBench } from './pause.js';
import { callcostBench } from './callcost.js';
import { btBench } from './bt.js';
import { fleetBench } from './fleet.js';
import { cliPath, fmtMs, killAllStarted, log, now, removeTempDir, type Benchmark, type Row } from './lib.js';

/** Benchmarks written by others, run when present: their module's exported main() prints its own report. */
function external(name: string, file: string): Benchmark {
  return {
    name,
    about: `bench/${name}.ts main() (prints its own report)`,
    async run(): Promise<Row[]> {
      const spec = `./${file}`; // not a literal: the file may not exist yet, and tsc must not insist on it
      if (!existsSync(new URL(spec, import.meta.url))) {
        log(`  bench/${name}.ts not present: skipped`);
        return [];
      }
      const mod = (await import(spec)) as { main?: () => unknown };
      if (typeof mod.main !== 'function') {
        log(`  bench/${name}.ts exports no main(): skipped`);
        return [];
      }
      const start = now();
      await mod.main();
      return [{ bench: name, ours: `ran in ${fmtMs(now() - start)}`, theirs: '', ratio: '', goal: 'see its report above', met: undefined }];
    },
  };
}

const benchmarks: Benchmark[] = [
  symsBench,
  peekBench,
  disasmBench,
  pauseBench,
  callcostBench,
  btBench,
  fleetBench,
  external('symbols-index', 'symbols-index.js'),
  external('ui-startup', 'ui-startup.js'),
];

function usage(): string {
  return 'usage: node dist/bench/run.js [--only NAME[,NAME…]] [--list]\n' +
    benchmarks.map((b) => `  ${b.name.padEnd(14)} ${b.about}`).join('\n');
}

function parseArgs(argv: string[]): { only?: Set<string>; list: boolean } {
  let only: Set<string> | undefined;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--list' || a === '-l') list = true;
    else if (a === '--help' || a === '-h') {
      log(usage());
      process.exit(0);
    } else if (a === '--only' || a.startsWith('--only=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new Error('--only needs a benchmark name');
      only ??= new Set();
      for (const n of value.split(',')) if (n.trim()) only.add(n.trim());
    } else throw new Error(`unknown argument ${a}`);
  }
  if (only) {
    const known = new Set(benchmarks.map((b) => b.name));
    const unknown = [...only].filter((n) => !known.has(n));
    if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}`);
  }
  return { only, list };
}

function printTable(rows: Row[]): void {
  const table = new Table({
    head: ['benchmark', 'hotpatch', 'peer / reference', 'ratio', 'goal', 'met'],
    style: { head: [], border: [] },
    wordWrap: true,
    colWidths: [36, 30, 34, 14, 24, 7],
  });
  const notes: string[] = [];
  for (const r of rows) {
    let bench = r.bench;
    if (r.note) {
      notes.push(r.note);
      bench += ` [${notes.length}]`;
    }
    table.push([bench, r.ours, r.theirs, r.ratio, r.goal, r.met === undefined ? '–' : r.met ? 'yes' : 'NO']);
  }
  log(table.toString());
  notes.forEach((n, i) => log(`[${i + 1}] ${n}`));
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage()}\n`);
    return 2;
  }
  if (args.list) {
    log(usage());
    return 0;
  }
  if (!existsSync(cliPath)) {
    process.stderr.write(`${cliPath} is missing: build first (npx tsc -p tsconfig.json)\n`);
    return 2;
  }
  const chosen = benchmarks.filter((b) => !args.only || args.only.has(b.name));
  const load = () => `load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs`;
  log(`hotpatch benchmarks, node ${process.version}, ${load()} (timings from a busy machine are noisy)`);
  const rows: Row[] = [];
  let failures = 0;
  const start = now();
  for (const b of chosen) {
    log(`== ${b.name}: ${b.about}`);
    const t0 = now();
    try {
      rows.push(...(await b.run()));
    } catch (err) {
      failures++;
      const message = (err as Error)?.stack ?? String(err);
      log(`  FAILED: ${message}`);
      rows.push({ bench: b.name, ours: `failed: ${(err as Error)?.message ?? err}`.slice(0, 200), theirs: '', ratio: '', goal: '', met: undefined });
    } finally {
      killAllStarted(); // anything a failing benchmark left behind, by PID
    }
    log(`  (${b.name}: ${fmtMs(now() - t0)})`);
  }
  log('');
  printTable(rows);
  const measured = rows.filter((r) => r.met !== undefined);
  log(`${measured.filter((r) => r.met).length} of ${measured.length} goals met; total ${fmtMs(now() - start)}; ${load()}` +
    (failures ? `; ${failures} benchmark(s) failed to run` : ''));
  return failures ? 1 : 0;
}

const cleanup = () => {
  killAllStarted();
  removeTempDir();
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    cleanup();
    process.exitCode = 1;
  },
);
