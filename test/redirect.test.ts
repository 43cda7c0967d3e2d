// Issue 5: redirect and revert on live fixtures: tiny statics, rip-relative entries, libraries, GOT slots, threads.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, parseFields, patchPath, freshLine as fresh, type Fixture } from './helpers/fixtures.js';
import { hotpatchOn } from './helpers/cli.js';

after(killAllFixtures);

const hp = (f: Fixture, ...cmds: string[]) => hotpatchOn(f.pid, ...cmds);


async function countStep(f: Fixture): Promise<number> {
  const a = await fresh(f, /^count=/);
  const b = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
  return b.count - a.count;
}

test('a 4-byte static function is redirected using its padding, and reverted', async () => {
  const f = await startFixture('counter', ['5']);
  const r = await hp(f, `load ${patchPath('patch_tick')}`, 'redirect counter.c:tick tick_v2', 'disasm tick 1');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const p = r.json[1].result;
  assert.equal(p.kind, 'jump');
  assert.equal(p.before, '8d4701c366', 'the 4 bytes of tick and one byte of padding');
  assert.match(p.after, /^e9/);
  assert.equal(p.jumpKind, 'veneer', 'a dlopened library is over 2 GiB from a PIE executable');
  assert.equal(r.json[2].result[0].mnemonic, 'jmp');
  assert.ok(r.json[1].pause!.micros > 0);
  const step = await countStep(f);
  assert.equal(step % 2, 0, `count steps by 2 now (step ${step})`);
  const back = await hp(f, 'revert tick', 'peek tick 5');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal(back.json[1].result.hex, '8d4701c366');
  const after = await fresh(f, /^count=/);
  assert.ok(after.count > 0);
  assert.equal(status(f.pid).tracerPid, 0);
});

test('hp_orig_: the new function calls the original through the trampoline', async () => {
  const f = await startFixture('counter', ['5']);
  const r = await hp(f, `load ${patchPath('patch_tick')}`, 'redirect tick tick_wrap', 'peek hp_orig_tick --as ptr');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(BigInt(r.json[2].result.values[0]), BigInt(r.json[1].result.trampoline));
  const step = await countStep(f);
  assert.equal(step % 11, 0, `tick_wrap = original + 10: count steps by 11 (step ${step})`);
});

for (const method of ['map', 'dlopen'] as const) {
  test(`rip-relative first instruction (compute), library by ${method}: jump kind ${method === 'map' ? 'rel32' : 'veneer'}`, async () => {
    const f = await startFixture('counter');
    const r = await hp(f, `load ${patchPath('patch_compute')} --method ${method}`, 'redirect compute compute_wrap');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.json[1].result.jumpKind, method === 'map' ? 'rel32' : 'veneer');
    assert.equal((await fresh(f, /^count=/)).compute, 1006, 'compute_wrap = original compute(3) + 1000: the moved rip-relative load still reads g_scale');
    const again = await hp(f, 'redirect compute compute_v2', 'patches');
    assert.equal(again.code, 0, again.stdout);
    // compute_v2 comes from compute_wrap's library, whose one hp_orig_compute cannot lead both down (compute_wrap would
    // call itself): it takes the top layer's place rather than stacking.
    assert.equal(again.json[0].result.replaced, true, 'same library: in place of the top layer');
    assert.equal(again.json[0].result.stackedOn, undefined);
    assert.equal(again.json[1].result.length, 1, 'one layer');
    assert.equal(BigInt(again.json[0].result.origPointer.address), BigInt(r.json[1].result.origPointer.address));
    assert.equal((await fresh(f, /^count=/)).compute, 300);
    const back = await hp(f, 'revert all', 'patches');
    assert.equal(back.code, 0);
    assert.deepEqual(back.json[1].result, []);
    assert.equal((await fresh(f, /^count=/)).compute, 6);
  });
}

test('stacking: each library has its own hp_orig_; a function from a lower layer\'s library is refused (E_SHARED_ORIG) and nothing changes', async () => {
  const f = await startFixture('counter');
  const r = await hp(f, `load ${patchPath('patch_compute')} --method map`, `load ${patchPath('patch_compute_b')} --method map`,
    'redirect compute patch_compute.so!compute_wrap', 'redirect compute patch_compute_b.so!compute_wrap');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json[3].result.stackedOn, r.json[2].result.id);
  assert.equal((await fresh(f, /^count=/)).compute, 2006, 'two wrappers: the original 6, + 1000, + 1000');
  const maps = readFileSync(`/proc/${f.pid}/maps`, 'utf8');
  const bad = await hp(f, 'redirect compute patch_compute.so!compute_v2');
  assert.equal(bad.code, 1);
  assert.equal(bad.json[0].error?.code, 'E_SHARED_ORIG', bad.stdout);
  assert.match(bad.json[0].error!.message, /hp_orig_compute/);
  assert.equal(readFileSync(`/proc/${f.pid}/maps`, 'utf8'), maps, 'no page made');
  const list = await hp(f, 'patches');
  assert.equal(list.json[0].result.length, 2, 'the stack as it was');
  assert.equal((await fresh(f, /^count=/)).compute, 2006);
  const back = await hp(f, 'revert all');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal((await fresh(f, /^count=/)).compute, 6);
});

test('a function in a shared library (foo: rip-relative add then jmp rel8)', async () => {
  const f = await startFixture('uselib');
  const r = await hp(f, `load ${patchPath('patch_foo')}`, 'redirect libfoo.so!foo foo_v2');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((await fresh(f, /^foo=/)).foo, 63);
  const back = await hp(f, 'revert libfoo.so!foo');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  assert.equal((await fresh(f, /^foo=/)).foo, 42);
});

test('GOT redirect of a libc function (malloc) interposes every caller, and reverts', async () => {
  const f = await startFixture('locks');
  await f.waitForLine(/^alive/);
  const r = await hp(f, `load ${patchPath('patch_malloc')}`, 'redirect --got libc.so.6!malloc my_malloc');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json[1].result.kind, 'got');
  assert.ok(r.json[1].result.slots.some((s: any) => s.module === 'locks'), 'the program’s own slot');
  await new Promise((res) => setTimeout(res, 100));
  const calls = await hp(f, 'call patch_malloc.so!malloc_calls');
  assert.ok(calls.json[0].result.int > 0, 'my_malloc was called');
  const back = await hp(f, 'revert malloc', 'call patch_malloc.so!malloc_calls', 'call patch_malloc.so!malloc_calls');
  assert.equal(back.code, 0, back.stdout + back.stderr);
  await new Promise((res) => setTimeout(res, 50));
  const later = await hp(f, 'call patch_malloc.so!malloc_calls');
  assert.equal(later.json[0].result.int, back.json[2].result.int, 'no more calls after revert');
  assert.ok(parseFields((await f.waitForLine(/^alive/, 3000, f.lines.length)).replace(/^alive \d+ /, '')).mallocs > 0);
});

test('8 threads calling the function flat out through 100 redirect/revert cycles never see a wrong result', async () => {
  const f = await startFixture('threads');
  await f.waitForLine(/^wrong=/);
  const dir = mkdtempSync(join(tmpdir(), 'hp-work-'));
  writeFileSync(join(dir, 'work2.c'), 'extern int g_work_bias;\nint work_v2(int x) { return 2 * x + g_work_bias; }\n');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', join(dir, 'work2.so'), join(dir, 'work2.c')]);
  const cycles: string[] = [];
  for (let i = 0; i < 100; i++) cycles.push('redirect work work_v2', 'revert work');
  const r = await hp(f, `load ${join(dir, 'work2.so')} --method map`, ...cycles);
  assert.equal(r.code, 0, r.stdout.slice(-2000));
  const pauses = r.json.slice(1).map((o) => o.pause!.micros);
  assert.equal(pauses.length, 200);
  const line = parseFields(await f.waitForLine(/^wrong=/, 3000, f.lines.length));
  assert.equal(line.wrong, 0, 'no wrong result in any worker');
  assert.ok(line.calls > 0);
  assert.ok(!f.lines.some((l) => /EINTR/.test(l)));
  rmSync(dir, { recursive: true });
});

test('patches outlive the session: a second hotpatch process lists and reverts them', async () => {
  const f = await startFixture('counter', ['5']);
  const one = await hp(f, `load ${patchPath('patch_compute')} --method map`, 'redirect compute compute_v2');
  assert.equal(one.code, 0, one.stdout + one.stderr);
  const two = await hp(f, 'patches', 'libs');
  assert.equal(two.json[0].result.length, 1);
  assert.equal(two.json[0].result[0].fromName, 'compute');
  assert.equal(two.json[1].result[0].method, 'map');
  const three = await hp(f, `revert ${two.json[0].result[0].id}`);
  assert.equal(three.code, 0, three.stdout);
  assert.equal((await fresh(f, /^count=/)).compute, 6);
});

test('refusals: not a function start, bytes changed by someone else, unknown patch', async () => {
  const f = await startFixture('counter');
  const r = await hp(f, `load ${patchPath('patch_compute')} --method map`, 'redirect main+1 compute_v2');
  assert.equal(r.json[1].error!.code, 'E_NOT_FUNCTION');
  const ok = await hp(f, 'redirect compute compute_v2');
  // Someone else writes another jump there (to compute_wrap, by hand): revert must not write over it.
  const wrap = await hp(f, 'syms compute_wrap');
  const from = BigInt(ok.json[0].result.from);
  const rel = (BigInt(wrap.json[0].result[0].address) - (from + 5n)) & 0xffffffffn;
  const jump = 'e9' + [0n, 8n, 16n, 24n].map((b) => ((rel >> b) & 0xffn).toString(16).padStart(2, '0')).join('');
  const other = await hp(f, `poke compute ${jump}`, 'revert compute');
  assert.equal(other.json[1].error!.code, 'E_CHANGED');
  assert.equal((await fresh(f, /^count=/)).compute, 1006, 'the hand-written jump to compute_wrap stays');
  // Someone puts the original bytes back by hand: nothing to write, the patch only leaves the record.
  const back = await hp(f, `poke compute ${ok.json[0].result.before}`, 'revert compute', 'patches');
  assert.equal(back.code, 0, back.stdout);
  assert.equal(back.json[1].result.reverted[0].alreadyOriginal, true);
  assert.equal(back.json[2].result.length, 0);
  assert.equal((await fresh(f, /^count=/)).compute, 6);
  const none = await hp(f, 'revert tick');
  assert.equal(none.json[0].error!.code, 'E_NO_PATCH');
  assert.equal(status(f.pid).tracerPid, 0);
});

for (const method of ['map', 'dlopen'] as const) {
  test(`cleanup (${method}): refused while a patch is active; after revert and unload the memory map is as before the first command`, async () => {
    const f = await startFixture('counter', ['5']);
    const before = readFileSync(`/proc/${f.pid}/maps`, 'utf8');
    const r = await hp(f, `load ${patchPath('patch_tick')} --method ${method}`, 'redirect counter.c:tick tick_v2', 'call tick_v2 1', 'maps hotpatch', 'cleanup');
    assert.equal(r.code, 1, 'cleanup refused');
    // The first redirect maps its code area in a stop of its own before the stop of every thread: both are reported.
    const pause = r.json[1].pause as { micros: number; stops?: number; longestMicros?: number };
    assert.equal(pause.stops, 2, JSON.stringify(pause));
    assert.ok(pause.longestMicros! > 0 && pause.longestMicros! < pause.micros, JSON.stringify(pause));
    assert.deepEqual(r.json[3].result.map((m: any) => m.path).sort(), ['[hotpatch code area]', '[hotpatch record]', '[hotpatch return stub]'], 'maps names our pages');
    assert.equal(r.json[4].error!.code, 'E_IN_USE');
    assert.notEqual(readFileSync(`/proc/${f.pid}/maps`, 'utf8'), before, 'our pages are there meanwhile');
    const back = await hp(f, 'revert all', 'unload patch_tick.so', 'cleanup', 'patches', 'cleanup', 'peek counter.c:tick 5');
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.deepEqual(back.json[2].result.map((p: any) => p.what).sort(), ['code area', 'record', 'return stub']);
    assert.deepEqual(back.json[3].result, []);
    assert.deepEqual(back.json[4].result, [], 'nothing left the second time');
    assert.equal(readFileSync(`/proc/${f.pid}/maps`, 'utf8'), before, 'the memory map is as it was');
    assert.equal(back.json[5].result.hex, '8d4701c366', 'tick is itself again');
    assert.ok((await fresh(f, /^count=/)).count > 0, 'the target runs on');
    assert.equal(status(f.pid).tracerPid, 0);
  });
}
