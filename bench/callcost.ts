// Cost of one call through a redirect (issue 5): callbench prints ns_per_call for target_fn every 200 ms; the bench
// alternates redirect target_fn → new_fn and revert in one live process and compares each redirected stretch with the
// direct stretch just before it, so that the load other processes put on the machine cancels out of the difference.
import { join } from 'node:path';
import { Session } from '../src/session.js';
import { runLine, type Outcome } from '../src/cli/runner.js';
import { fixture, log, median, patchDir, sleep, startDetached, type Benchmark, type DetachedTarget, type Row } from './lib.js';

/** Redirected / direct alternations, and ~100 ms loops taken in each stretch (after skipping the one in flight). */
const PAIRS = 4;
const LINES_PER_STRETCH = 2;
const REL32_REACH = 0x7fffffffn;
const LINE = /^ns_per_call=([\d.]+) calls=\d+ sum_ok=(\d)$/;

function distanceText(d: bigint): string {
  const n = Number(d);
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

function data(o: Outcome | undefined): unknown {
  return o?.result?.data;
}

function addressOf(o: Outcome | undefined): bigint | undefined {
  const d = data(o);
  if (!Array.isArray(d) || d.length === 0) return undefined;
  const a = (d[0] as { address?: unknown }).address;
  return typeof a === 'bigint' ? a : typeof a === 'string' ? BigInt(a) : undefined;
}

function why(o: Outcome | undefined): string {
  if (!o) return 'no outcome';
  if (o.error?.code === 'E_UNKNOWN_COMMAND') return 'n/a (not built yet)';
  return `error ${o.error?.code}: ${(o.error?.message ?? '').split('\n')[0]}`.slice(0, 120);
}

/** The ns_per_call lines the target has printed so far (it writes to a file: it is not our child). */
function lines(target: DetachedTarget): { ns: number; ok: boolean }[] {
  const out: { ns: number; ok: boolean }[] = [];
  for (const l of target.output().split('\n')) {
    const m = LINE.exec(l);
    if (m) out.push({ ns: Number(m[1]), ok: m[2] === '1' });
  }
  return out;
}

/** Skip the loop running now (it may straddle a change), then return the next `count` loops. */
async function stretch(target: DetachedTarget, count: number): Promise<{ ns: number; ok: boolean }[]> {
  const start = lines(target).length;
  const deadline = Date.now() + 2000 + count * 1000;
  for (;;) {
    const all = lines(target);
    if (all.length >= start + 1 + count) return all.slice(start + 1, start + 1 + count);
    if (Date.now() > deadline) throw new Error(`callbench printed no ns_per_call line for a while: ${target.output().slice(-200)}`);
    await sleep(10);
  }
}

export const callcostBench: Benchmark = {
  name: 'callcost',
  about: 'callbench ns_per_call of target_fn, redirected to new_fn vs direct, alternating in one process (map: rel32; dlopen: veneer; a 4-byte tiny_fn: rel8 to a hop)',
  async run(): Promise<Row[]> {
    const patch = join(patchDir, 'patch_callbench.so');
    const rows: Row[] = [];
    // rel32 straight to new code (map puts it near), a veneer (dlopen's library is far), and a 4-byte function with no
    // padding: jmp rel8 to a hop that jumps on by rel32.
    const cases = [
      { method: 'map', from: 'target_fn', to: 'new_fn', args: [], bench: 'call via redirect (load map)', goal: '< 1 ns extra (rel32)' },
      { method: 'dlopen', from: 'target_fn', to: 'new_fn', args: [], bench: 'call via redirect (load dlopen)', goal: 'report (veneer)' },
      { method: 'map', from: 'tiny_fn', to: 'new_tiny', args: ['tiny'], bench: 'call via redirect (4-byte fn, hop)', goal: 'report (rel8 + hop)' },
    ];
    for (const { method, from: fromName, to: toName, args, bench, goal } of cases) {
      const rel32 = goal.includes('rel32');
      const target = await startDetached([fixture('callbench'), ...args], 'ready');
      const session = new Session();
      const fail = (ours: string, met?: boolean) => {
        log(`  ${bench}: ${ours}`);
        rows.push({ bench, ours, theirs: '', ratio: 'n/a', goal, met });
      };
      try {
        const attach = await runLine(session, `attach ${target.pid}`);
        if (!attach?.ok) {
          fail(why(attach), false);
          continue;
        }
        const load = await runLine(session, `load ${patch} --method ${method}`);
        if (!load?.ok) {
          fail(why(load), load?.error?.code === 'E_UNKNOWN_COMMAND' ? undefined : false);
          continue;
        }
        const from = addressOf(await runLine(session, `syms ${fromName} --module callbench`));
        const to = addressOf(await runLine(session, `syms ${toName}`));

        const direct: number[] = [];
        const redirected: number[] = [];
        const diffs: number[] = [];
        let sumOk = true;
        let jumpKind: string | undefined;
        let revertMissing: string | undefined;
        for (let p = 0; p < PAIRS; p++) {
          const a = await stretch(target, LINES_PER_STRETCH);
          const red = await runLine(session, `redirect ${fromName} ${toName}`);
          if (!red?.ok) throw new Error(`redirect ${fromName} ${toName}: ${why(red)}`);
          const made = data(red) as { jumpKind?: unknown; hop?: unknown } | undefined;
          if (typeof made?.jumpKind === 'string') jumpKind = `${made.hop ? 'rel8 to a hop, then ' : ''}${made.jumpKind}`;
          const b = await stretch(target, LINES_PER_STRETCH);
          for (const l of [...a, ...b]) if (!l.ok) sumOk = false;
          // Other processes only ever add time to a 100 ms loop: within a stretch the fastest loop is the estimate.
          const da = Math.min(...a.map((l) => l.ns));
          const db = Math.min(...b.map((l) => l.ns));
          direct.push(da);
          redirected.push(db);
          diffs.push(db - da);
          const rev = await runLine(session, `revert ${fromName}`);
          if (!rev?.ok) {
            revertMissing = why(rev);
            break; // one before/after pair is still a measurement
          }
        }
        const extra = median(diffs);
        const d = median(direct);
        const r = median(redirected);
        const distance = from !== undefined && to !== undefined ? (to > from ? to - from : from - to) : undefined;
        const reach = distance === undefined ? 'distance unknown' : `${distanceText(distance)} away, ${distance <= REL32_REACH ? 'within' : 'beyond'} rel32 reach`;
        const met = sumOk ? (rel32 ? extra < 1 : undefined) : false;
        log(`  ${bench}: direct ${d.toFixed(2)} ns/call, redirected ${r.toFixed(2)} ns/call, extra ${extra.toFixed(2)} ns ` +
          `(paired diffs ${diffs.map((x) => x.toFixed(2)).join(' ')}; jump ${jumpKind ?? '?'}; ${toName} ${reach}; sum_ok ${sumOk ? 1 : 0})` +
          (rel32 ? `  goal < 1 ns: ${met ? 'met' : 'NOT met'}` : ''));
        rows.push({
          bench,
          ours: `${r.toFixed(2)} ns/call (+${extra.toFixed(2)} ns)`,
          theirs: `direct ${d.toFixed(2)} ns/call`,
          ratio: `${(r / d).toFixed(2)}×`,
          goal,
          met,
          note: `median of ${diffs.length} redirected-minus-direct pairs (each the fastest of ${LINES_PER_STRETCH} ~100 ms loops), ` +
            `one process (fastest overall: ${Math.min(...direct).toFixed(2)} → ${Math.min(...redirected).toFixed(2)} ns); ` +
            `jump ${jumpKind ?? 'unknown'}; ${toName} ${reach}` +
            (revertMissing ? `; revert: ${revertMissing}` : '') + (sumOk ? '' : '; sum_ok=0 seen: WRONG RESULTS'),
        });
      } finally {
        await session.detach().catch(() => {});
        target.kill();
      }
    }
    return rows;
  },
};
