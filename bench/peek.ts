// peek's read path (Target.readExact, process_vm_readv in the native core) vs a C loop of process_vm_readv (issue 2).
import { Target } from '../src/process/target.js';
import { Session } from '../src/session.js';
import { runLine } from '../src/cli/runner.js';
import { compileBenchC, fmtMs, fmtRatio, log, median, now, runTimed, startDetached, type Benchmark, type Row } from './lib.js';

const MIB = 64;
const LEN = MIB << 20;
const RUNS = 5;

function expectedByte(i: number): number {
  return (Math.imul(i, 131) + Math.floor(i / 4096)) & 0xff;
}

export const peekBench: Benchmark = {
  name: 'peek',
  about: `read ${MIB} MiB of a live process: Target.readExact in-process vs a C program calling process_vm_readv`,
  async run(): Promise<Row[]> {
    const memProg = compileBenchC('bench_mem.c');
    const readProg = compileBenchC('bench_readv.c');
    const target = await startDetached([memProg, String(MIB)], /ready pid=\d+ addr=0x[0-9a-f]+/);
    let attached: Target | undefined;
    try {
      const m = /addr=(0x[0-9a-f]+) len=(\d+)/.exec(target.output())!;
      const addr = BigInt(m[1]!);
      attached = await Target.attach(target.pid);
      const ours: number[] = [];
      for (let i = -1; i < RUNS; i++) {
        const t0 = now();
        const buf = attached.readExact(addr, LEN);
        const ms = now() - t0;
        if (i < 0) {
          for (const at of [0, 1, 4095, 4096, 1 << 20, LEN - 1]) {
            if (buf[at] !== expectedByte(at)) throw new Error(`peek read wrong data at +${at}: ${buf[at]} != ${expectedByte(at)}`);
          }
          continue;
        }
        ours.push(ms);
      }
      await attached.detach();
      attached = undefined;

      // The command a user runs for a big read: `peek ADDR LEN --out FILE` streams through one reused buffer.
      const session = new Session({ notice: () => {} });
      const dumps: number[] = [];
      try {
        const at = await runLine(session, `attach ${target.pid}`);
        if (!at?.ok) throw new Error(`attach failed: ${at?.error?.message}`);
        for (let i = -1; i < RUNS; i++) {
          const t0 = now();
          const o = await runLine(session, `peek 0x${addr.toString(16)} ${LEN} --out /dev/null`);
          const ms = now() - t0;
          if (!o?.ok) throw new Error(`peek --out failed: ${o?.error?.message}`);
          if (i >= 0) dumps.push(ms);
        }
      } finally {
        if (session.target?.attached) await session.detach();
      }

      const c = await runTimed(readProg, [String(target.pid), '0x' + addr.toString(16), String(LEN), String(RUNS)]);
      const cm = /warm_ns=(\d+) fresh_ns=(\d+)/.exec(c.stdout);
      if (c.code !== 0 || !cm) throw new Error(`bench_readv failed: ${c.stdout}${c.stderr}`);
      const cWarmMs = Number(cm[1]) / 1e6;
      const cFreshMs = Number(cm[2]) / 1e6;
      const o = median(ours);
      const d = median(dumps);
      const gib = (ms: number) => (LEN / 2 ** 30) / (ms / 1000);
      const share = gib(d) / gib(cWarmMs);
      const freshShare = gib(o) / gib(cFreshMs);
      log(`  peek ${MIB} MiB --out: hotpatch ${fmtMs(d)} (${gib(d).toFixed(2)} GiB/s)  C process_vm_readv loop ${fmtMs(cWarmMs)} ` +
        `(${gib(cWarmMs).toFixed(2)} GiB/s)  share ${(share * 100).toFixed(0)}%  goal ≥ 50%: ${share >= 0.5 ? 'met' : 'NOT met'}`);
      log(`  into a new buffer each read: hotpatch readExact ${fmtMs(o)} (${gib(o).toFixed(2)} GiB/s)  C into a fresh malloc ` +
        `${fmtMs(cFreshMs)} (${gib(cFreshMs).toFixed(2)} GiB/s)  share ${(freshShare * 100).toFixed(0)}%`);
      return [{
        bench: `peek ${MIB} MiB --out (whole command)`,
        ours: `${fmtMs(d)} = ${gib(d).toFixed(2)} GiB/s`,
        theirs: `C loop ${fmtMs(cWarmMs)} = ${gib(cWarmMs).toFixed(2)} GiB/s`,
        ratio: `${(share * 100).toFixed(0)}% of C (${fmtRatio(d / cWarmMs)} time)`,
        goal: '≥ 50% of C bandwidth',
        met: share >= 0.5,
        note: `median of ${RUNS}, one reused 1 MiB buffer as in the C loop's one buffer`,
      }, {
        bench: `peek ${MIB} MiB into a new buffer`,
        ours: `${fmtMs(o)} = ${gib(o).toFixed(2)} GiB/s`,
        theirs: `C fresh malloc ${fmtMs(cFreshMs)} = ${gib(cFreshMs).toFixed(2)} GiB/s`,
        ratio: `${(freshShare * 100).toFixed(0)}% of C`,
        goal: 'report (page faults of a new buffer in both)',
        met: undefined,
        note: `median of ${RUNS}; what \`peek ADDR LEN\` pays before it formats a hexdump`,
      }];
    } finally {
      if (attached) await attached.detach().catch(() => {});
      target.kill();
    }
  },
};
