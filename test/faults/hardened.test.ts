// Issue 6, hardened targets: Memory-Deny-Write-Execute (prctl PR_SET_MDWE, the kernel form of systemd's
// MemoryDenyWriteExecute=yes), systemd's own MemoryDenyWriteExecute filter (seccomp) and a seccomp filter forbidding
// mmap/mprotect: use what still works, or fail naming the cause.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, killAllFixtures, patchPath, parseFields, status } from '../helpers/fixtures.js';
import { hp, assertNoCrash, assertRunsFree, locate, snapshot } from './support.js';

after(killAllFixtures);

async function fresh(f: { waitForLine: (re: RegExp, ms?: number, from?: number) => Promise<string>; lines: string[] }): Promise<Record<string, number>> {
  await f.waitForLine(/^count=/, 3000, f.lines.length);
  return parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
}

test('hardened: under MDWE the map loader and redirect work (segments and code areas mapped with their final protection), and revert', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_mdwe', ['10']);
  const first = await fresh(f);
  assert.equal(first.mdwe, 1, 'PR_MDWE_REFUSE_EXEC_GAIN in force');
  assert.equal(first.probe, 13, 'the fixture itself cannot mprotect a page to exec (EACCES)');
  const r = await hp(f.pid, [`load ${patchPath('patch_tick')} --method map`, 'redirect tick tick_v2', `load ${patchPath('patch_compute')} --method map`, 'redirect compute compute_wrap']);
  assertNoCrash(r, 'mdwe');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.json[0]!.result.segments.map((s: any) => s.prot), ['r--', 'r-x', 'r--', 'rw-'], 'never w+x, exec from the start');
  const a = await fresh(f);
  const b = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
  assert.equal(a.compute, 1006, 'compute_wrap runs');
  assert.ok((b.count - a.count) % 2 === 0, 'tick_v2 steps by 2');
  const back = await hp(f.pid, ['revert all', 'unload patch_tick.so', 'unload patch_compute.so']);
  assert.equal(back.code, 0, back.stdout);
  assert.equal((await fresh(f)).compute, 6);
  await assertRunsFree(f, /^count=/, 'mdwe');
  t.diagnostic('held: MDWE on (mprotect +x refused in the target); map load r--/r-x/r--/rw-, redirect (rel32 + trampoline), revert, unload all ok');
});

test('hardened: under MDWE a dlopen load works too (ld.so maps the file with its final protections)', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_mdwe', ['10']);
  const r = await hp(f.pid, [`load ${patchPath('patch_compute')}`, 'redirect compute compute_v2']);
  assertNoCrash(r, 'mdwe dlopen');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((await fresh(f)).compute, 300);
  t.diagnostic('held: dlopen + veneer redirect under MDWE');
});

test('hardened: under a seccomp filter denying mmap/mprotect, load and redirect fail with EPERM naming seccomp; the target is untouched and runs on', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_seccomp', ['10']);
  const first = await fresh(f);
  assert.equal(first.probe, 1, 'mmap returns EPERM inside the target');
  const watched = await locate(f.pid, [['fault_seccomp.c:tick', 16], ['compute', 32], ['g_value', 4]]);
  const before = snapshot(f.pid, watched);
  const mapsBefore = status(f.pid).fields['VmSize'];
  const results: string[] = [];
  for (const cmd of [`load ${patchPath('patch_tick')} --method map`, `load ${patchPath('patch_tick')}`, 'redirect tick compute']) {
    const r = await hp(f.pid, [cmd]);
    assertNoCrash(r, cmd);
    assert.equal(r.code, 1, `${cmd}: ${r.stdout}`);
    const e = r.json[0]!.error!;
    results.push(`${cmd.replace(/\/\S+\//, '')}: ${e.code} ${e.message}`);
    if (cmd.includes('--method map') || cmd.startsWith('redirect')) {
      assert.equal(e.code, 'EPERM', JSON.stringify(e));
      assert.match(`${e.message} ${e.hint}`, /seccomp/i, 'names the likely cause');
    }
  }
  // What still works: reading, remote calls into existing code, writing data.
  const ok = await hp(f.pid, ['call compute 4', 'poke g_value --i32 5', 'peek g_value --as i32']);
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.json[0]!.result.int, 8);
  const after = snapshot(f.pid, watched);
  assert.equal(after['fault_seccomp.c:tick'], before['fault_seccomp.c:tick'], 'code untouched');
  assert.equal(after['compute'], before['compute'], 'code untouched');
  assert.equal(status(f.pid).fields['VmSize'], mapsBefore, 'nothing mapped');
  assert.equal((await fresh(f)).value, 5);
  await assertRunsFree(f, /^count=/, 'seccomp');
  t.diagnostic(`held: ${results.join(' | ')}; call/poke/peek still work; code and mappings unchanged`);
});

test('hardened: under seccomp both load methods name the filter (Seccomp: 2), and no hint suggests the other method', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_seccomp', ['10']);
  const said: string[] = [];
  for (const method of ['map', 'dlopen']) {
    const r = await hp(f.pid, [`load ${patchPath('patch_tick')} --method ${method}`]);
    assertNoCrash(r, method);
    assert.equal(r.code, 1, r.stdout);
    const e = r.json[0]!.error!;
    assert.match(`${e.message} ${e.hint}`, /seccomp/i, `${method}: ${JSON.stringify(e)}`);
    assert.doesNotMatch(e.hint ?? '', /--method/, `${method}: the hint points at a method that fails the same way`);
    said.push(`${method}: ${e.code}, hint "${e.hint}"`);
  }
  await assertRunsFree(f, /^count=/, 'seccomp hints');
  t.diagnostic(`held: ${said.join(' | ')}`);
});

test('hardened: under systemd’s MemoryDenyWriteExecute filter (seccomp: W+X mmap, mprotect +X refused) both loads, redirect, call, revert and unload work', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_seccomp', ['10', 'wx']);
  const first = await fresh(f);
  assert.equal(first.probe, 1, 'the filter refuses a W+X mmap in the target (EPERM)');
  assert.equal(first.rx, 0, 'and allows an R+X one');
  assert.equal(status(f.pid).fields['Seccomp'], '2');
  const r = await hp(f.pid, [
    `load ${patchPath('patch_tick')} --method map`, 'redirect fault_seccomp.c:tick tick_v2',
    `load ${patchPath('patch_compute')}`, 'redirect compute compute_v2', 'call compute 3',
  ]);
  assertNoCrash(r, 'systemd mdwe');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.json[0]!.result.segments.map((s: any) => s.prot), ['r--', 'r-x', 'r--', 'rw-'], 'never w+x');
  assert.equal(r.json[4]!.result.int, 300, 'the call returned through the stub page (mapped r-x)');
  const a = await fresh(f);
  const b = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
  assert.equal(a.compute, 300, 'compute_v2 runs');
  assert.ok((b.count - a.count) % 2 === 0, 'tick_v2 steps by 2');
  const back = await hp(f.pid, ['revert all', 'unload patch_tick.so', 'unload patch_compute.so']);
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal((await fresh(f)).compute, 6);
  await assertRunsFree(f, /^count=/, 'systemd mdwe');
  t.diagnostic('held: systemd-style MDWE filter on; map (r--/r-x/r--/rw-) and dlopen loads, rel32 and veneer redirects, a call, revert all, unload: all ok');
});
