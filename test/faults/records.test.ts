// Issue 6, nothing lost: a target writing a numbered record every millisecond keeps an unbroken sequence through
// load/redirect/revert/unload cycles (20 here; 100 with HOTPATCH_SOAK=1, as `node scripts/faults-report.mjs --soak` runs it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, patchPath, parseFields } from '../helpers/fixtures.js';
import { hp, assertNoCrash, assertRunsFree, sleep } from './support.js';

after(killAllFixtures);

export const CYCLES = Number(process.env.HOTPATCH_FAULT_CYCLES ?? (process.env.HOTPATCH_SOAK === '1' ? 100 : 20));

/** The commands of one cycle: load (alternating dlopen and map), two redirects, revert, unload. */
export function cycleCommands(i: number): string[] {
  return [
    `load ${patchPath('fault_patch_records')} --method ${i % 2 ? 'dlopen' : 'map'}`,
    'redirect next_record next_record_v2',
    'redirect tick tick_v2',
    'revert all',
    'unload fault_patch_records.so',
  ];
}

/** First gap or duplicate in the file's numbers, or undefined when 1, 2, 3, … is unbroken. */
export function checkSequence(text: string): { count: number; problem?: string } {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  // The last line may be half-written at the moment we read: only whole lines count.
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== String(i + 1)) return { count: i, problem: `line ${i + 1} is "${lines[i]}" (after "${lines[i - 1] ?? ''}")` };
  }
  return { count: lines.length };
}

test(`records: ${CYCLES} load/redirect/revert/unload cycles while the target writes a record every millisecond: no gap, no duplicate`, { timeout: 900_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hp-records-'));
  const file = join(dir, 'records.txt');
  const f = await startFixture('fault_records', [file]);
  try {
    await f.waitForLine(/^records /);
    const cmds = [`load ${patchPath('patch_tick')} --method map`];
    for (let i = 0; i < CYCLES; i++) cmds.push(...cycleCommands(i));
    const started = Date.now();
    const r = await hp(f.pid, cmds, 600_000);
    const ms = Date.now() - started;
    assertNoCrash(r, 'records');
    assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
    const pauses = r.json.map((o) => o.pause?.micros ?? 0).sort((a, b) => a - b);
    // The patches really ran: ticks stepped by 2 while tick was redirected.
    await sleep(50);
    await assertRunsFree(f, /^records /, 'records');
    const seq = checkSequence(readFileSync(file, 'utf8'));
    assert.equal(seq.problem, undefined, seq.problem);
    const last = parseFields(f.latest(/^records /)!);
    assert.ok(last.ticks > last.n, `ticks ${last.ticks} > records ${last.n}: tick_v2 ran while redirected`);
    t.diagnostic(`held: ${seq.count} records 1..${seq.count} unbroken through ${CYCLES} cycles (${cmds.length} commands, ${ms} ms); worst pause ${(pauses.at(-1)! / 1000).toFixed(2)} ms`);
  } finally {
    await f.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
