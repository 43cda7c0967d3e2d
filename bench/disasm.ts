// Disassembly of every function of a large library through the live address space vs objdump -d of the file (issue 2).
import { Session } from '../src/session.js';
import { fixture, fmtMs, fmtRate, fmtRatio, log, median, now, runTimed, startDetached, which, type Benchmark, type Row } from './lib.js';

const RUNS = 3;
const MODULE = 'libc.so.6';

export const disasmBench: Benchmark = {
  name: 'disasm',
  about: `disassemble every function of ${MODULE} in a live process (index, readMemory, capstone) vs objdump -d`,
  async run(): Promise<Row[]> {
    if (!which('objdump')) return [{ bench: `disasm ${MODULE}`, ours: '', theirs: 'objdump not installed', ratio: 'n/a', goal: 'report', met: undefined }];
    const target = await startDetached([fixture('counter'), '1000'], 'ready');
    const session = new Session();
    try {
      await session.attach(target.pid);
      const t0 = now();
      const space = session.space();
      const indexMs = now() - t0;
      const mod = space.modules.find((m) => m.name === MODULE);
      if (!mod) throw new Error(`${MODULE} is not mapped in the counter fixture`);
      // Aliases (malloc / __libc_malloc) share an address: disassemble each function once.
      const byAddress = new Map<bigint, number>();
      for (const s of space.index.match('*', { module: MODULE, type: 'func' })) {
        if (s.size > 0 && (byAddress.get(s.address) ?? 0) < s.size) byAddress.set(s.address, s.size);
      }
      const funcs = [...byAddress].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const bytesTotal = funcs.reduce((n, [, size]) => n + size, 0);
      const target_ = session.requireTarget();
      await session.arch.disassemble(new Uint8Array([0x90, 0xc3]), 0x1000n); // load capstone outside the timing

      const ours: number[] = [];
      let instructions = 0;
      for (let r = 0; r < RUNS; r++) {
        let count = 0;
        const start = now();
        for (const [address, size] of funcs) {
          const bytes = target_.readMemory(address, size);
          count += (await session.arch.disassemble(bytes, address)).length;
        }
        ours.push(now() - start);
        instructions = count;
      }

      // objdump: timed writing to /dev/null, as a user would pipe it away; counted once from a captured run.
      const theirs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const o = await runTimed('sh', ['-c', 'objdump -d --no-show-raw-insn "$1" > /dev/null', 'sh', mod.path]);
        if (o.code !== 0) throw new Error(`objdump failed: ${o.stderr}`);
        theirs.push(o.ms);
      }
      const counted = await runTimed('sh', ['-c', 'objdump -d --no-show-raw-insn "$1" | grep -c "^ *[0-9a-f]*:\t"', 'sh', mod.path]);
      const objdumpInsns = Number(counted.stdout.trim());

      const o = median(ours);
      const t = median(theirs);
      const ourRate = instructions / (o / 1000);
      const theirRate = objdumpInsns / (t / 1000);
      log(`  disasm ${MODULE}: ${funcs.length} functions, ${instructions} instructions (${bytesTotal} bytes): hotpatch ${fmtMs(o)} ` +
        `(${fmtRate(ourRate, 'insn')}; index ${fmtMs(indexMs)})  objdump -d ${fmtMs(t)} for ${objdumpInsns} instructions ` +
        `(${fmtRate(theirRate, 'insn')})  rate ratio ${fmtRatio(ourRate / theirRate)}`);
      return [{
        bench: `disasm all ${MODULE} funcs`,
        ours: `${fmtMs(o)}, ${fmtRate(ourRate, 'insn')}`,
        theirs: `objdump ${fmtMs(t)}, ${fmtRate(theirRate, 'insn')}`,
        ratio: `${fmtRatio(ourRate / theirRate)} rate`,
        goal: 'report (no goal set)',
        met: undefined,
        note: `median of ${RUNS}; ${funcs.length} funcs / ${instructions} insns (dynsym sizes) vs objdump's ${objdumpInsns} ` +
          `(all of .text); wall ratio ${fmtRatio(o / t)}; symbol index built in ${fmtMs(indexMs)}`,
      }];
    } finally {
      await session.detach().catch(() => {});
      target.kill();
    }
  },
};
