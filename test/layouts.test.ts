// Issue 10, placement and rollback: the memory layouts that broke on real programs (ET_EXEC at 0x400000 like node, PIE
// like perl and sqlite3, the gap below the executable taken), plans that fail half way, a load the tool was killed
// in, pages no record lists: each leaves the process as it was found, or cleanup takes the rest out.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, parseFields, patchPath, freshLine as fresh, type Fixture } from './helpers/fixtures.js';
import { assertBatchOk, hotpatchOn, cliPath, NODE_FLAGS } from './helpers/cli.js';

after(killAllFixtures);

const hp = (f: Fixture, ...cmds: string[]) => hotpatchOn(f.pid, ...cmds);
const mapsOf = (f: Fixture) => readFileSync(`/proc/${f.pid}/maps`, 'utf8');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const LAYOUTS: [string, string, string[]][] = [
  ['ET_EXEC at 0x400000 (node)', 'layout_nopie', []],
  ['PIE, the gap below the executable taken (no gap left)', 'layout', ['20', 'fill', '0']],
  ['PIE, a 3-page gap below the executable (room for the stub, not the record)', 'layout', ['20', 'fill', '3']],
  ['PIE, a 40-page gap below the executable', 'layout', ['20', 'fill', '40']],
];

for (const [what, fixture, args] of LAYOUTS) {
  test(`layouts: ${what}: load by both methods, redirect and --got with hp_orig_, revert, unload, cleanup; the map ends as it began`, { timeout: 120_000 }, async (t) => {
    const f = await startFixture(fixture, args);
    const dir = mkdtempSync(join(tmpdir(), 'hp-layout-'));
    try {
      const copy = join(dir, 'clock_map.so');
      copyFileSync(patchPath('patch_clock'), copy);
      const before = mapsOf(f);
      // A first load makes the record and the stub page in its own stop: they must not aim at the same gap.
      const r = await hp(f, `load ${patchPath('patch_clock')}`, `load ${copy} --method map`, 'maps hotpatch',
        'redirect twice patch_clock.so!twice_wrap', 'redirect --got time patch_clock.so!time_wrap', 'poke g_use_time --i32 1');
      assertBatchOk(r, 'load and redirect');
      const ours = r.json[2]!.result.map((m: any) => m.path).sort();
      assert.deepEqual(ours, ['[hotpatch record]', '[hotpatch return stub]']);
      assert.equal(r.json[4]!.result.origPointer !== undefined, true, 'hp_orig_time set by --got');
      const a = await fresh(f);
      assert.equal(a.v, 2 * a.n + 1, 'twice_wrap runs and calls the original through hp_orig_twice');
      const now = Math.floor(Date.now() / 1000);
      assert.ok(Math.abs(a.t - (now + 1e9)) < 30, `time_wrap (a lazy, ifunc slot) calls the real time(): t=${a.t}`);
      const m = await hp(f, 'revert all', 'redirect twice clock_map.so!twice_wrap', 'redirect --got time clock_map.so!time_wrap');
      assertBatchOk(m, 'the mapped copy');
      const b = await fresh(f);
      assert.equal(b.v, 2 * b.n + 1);
      assert.ok(Math.abs(b.t - (now + 1e9)) < 30, `a bound slot: t=${b.t}`);
      const back = await hp(f, 'revert all', 'unload patch_clock.so', 'unload clock_map.so', 'cleanup', 'patches', 'libs');
      assertBatchOk(back, 'revert, unload, cleanup');
      const c = await fresh(f);
      assert.equal(c.v, 2 * c.n);
      assert.ok(Math.abs(c.t - Math.floor(Date.now() / 1000)) < 30);
      assert.equal(mapsOf(f), before, 'the memory map is as it was');
      assert.equal(status(f.pid).tracerPid, 0);
      t.diagnostic(`held on ${fixture} ${args.join(' ')}: every step, the map as before`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('layouts: a first load whose plan fails half way (stub page made, record page refused by seccomp) unmaps what it made', { timeout: 60_000 }, async () => {
  const f = await startFixture('fault_seccomp', ['20', 'x']);
  const first = parseFields(await f.waitForLine(/^count=/, 3000));
  assert.deepEqual([first.probe, first.rx], [1, 0], 'only executable mappings are allowed');
  const before = mapsOf(f);
  const r = await hp(f, `load ${patchPath('patch_tick')}`);
  assert.equal(r.code, 1);
  assert.equal(r.json[0]!.error!.code, 'E_DLOPEN', JSON.stringify(r.json[0]));
  assert.equal(mapsOf(f), before, 'no zero-filled stub page, no record page');
  const after = await hp(f, 'libs', 'patches', 'maps hotpatch', 'call compute 4');
  assertBatchOk(after, 'after');
  assert.deepEqual([after.json[0]!.result, after.json[1]!.result, after.json[2]!.result], [[], [], []]);
  assert.equal(after.json[3]!.result.returned, '0x8', 'a call works, through a stub page that holds the stub');
  assertBatchOk(await hp(f, 'cleanup'), 'cleanup');
  assert.equal(mapsOf(f), before);
  assert.ok(parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length)).count > first.count, 'runs on');
});

test('layouts: a dlopen that fails in the target leaves no page, no library and no record behind', { timeout: 60_000 }, async () => {
  const f = await startFixture('layout');
  const before = mapsOf(f);
  const r = await hp(f, `load ${patchPath('patch_needs_missing')}`);
  assert.equal(r.json[0]!.error!.code, 'E_DLOPEN');
  assert.match(r.json[0]!.error!.message, /libfoo\.so/);
  assert.equal(mapsOf(f), before);
  const again = await hp(f, 'libs', 'maps hotpatch');
  assert.deepEqual([again.json[0]!.result, again.json[1]!.result], [[], []]);
});

test('layouts: hotpatch killed during a dlopen: the record lists the load as interrupted, and cleanup closes it', { timeout: 60_000 }, async () => {
  const f = await startFixture('layout');
  const before = mapsOf(f);
  const tool = spawn(process.execPath, [...NODE_FLAGS, cliPath, '-p', String(f.pid), '-e', `load ${patchPath('patch_slowinit')} --timeout 5000`], { stdio: 'ignore' });
  // The constructor sleeps 1.5 s once the library is mapped: kill the tool inside the call, then let the call finish
  // on its own (it returns into our stub page, which puts the thread back).
  const deadline = Date.now() + 15_000;
  while (!/patch_slowinit\.so/.test(mapsOf(f))) {
    assert.ok(Date.now() < deadline, 'the dlopen never started');
    await sleep(20);
  }
  tool.kill('SIGKILL');
  await new Promise((r) => tool.once('exit', r));
  await sleep(2000);
  assert.equal(status(f.pid).tracerPid, 0, 'the kernel detached the dead tool');
  assert.match(mapsOf(f), /patch_slowinit\.so/, 'the library got in');
  const r = await hp(f, 'libs', 'cleanup', 'libs');
  assertBatchOk(r, 'libs, cleanup');
  assert.equal(r.json[0]!.result[0].pending, true, 'listed, as interrupted');
  const removed = r.json[1]!.result;
  assert.equal(removed[0].what, 'interrupted load');
  assert.match(removed[0].done, /closed patch_slowinit\.so/);
  assert.deepEqual(r.json[2]!.result, []);
  assert.equal(mapsOf(f), before, 'the library, the record and the stub page are gone');
  const a = await fresh(f);
  assert.equal(a.v, 2 * a.n, 'runs on');
});

test('layouts: cleanup finds a code area by its magic when no record lists it (a redirect killed before its record)', { timeout: 60_000 }, async () => {
  const f = await startFixture('layout');
  const before = mapsOf(f);
  const made = await hp(f, 'call libc.so.6!mmap 0 65536 5 34 -1 0');
  assertBatchOk(made, 'mmap');
  const at = made.json[0]!.result.returned as string;
  // The header a code area starts with: 'HPAREA', version 1, then its size (64 KiB).
  const r = await hp(f, `poke ${at} 48504152454100010000010000000000`, 'cleanup');
  assertBatchOk(r, 'poke, cleanup');
  const rows = r.json[1]!.result;
  assert.ok(rows.some((p: any) => p.what === 'code area' && p.start === at && p.orphan === true), JSON.stringify(rows));
  assert.equal(mapsOf(f), before);
});
