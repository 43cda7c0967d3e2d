// Issue 6, threads: threads born and dying while we work, a redirect under 8 threads calling flat out,
// and a target that forks children and execs itself while attached.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, killAllFixtures, patchPath, parseFields } from '../helpers/fixtures.js';
import { hp, Console, assertNoCrash, assertRunsFree, lastFields, sleep } from './support.js';

after(killAllFixtures);

test('threads: 100 register reads, memory reads and maps while threads are created and exit every few hundred µs', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_churn');
  await f.waitForLine(/^churn /);
  const before = lastFields(f, /^churn /);
  const cmds: string[] = [];
  for (let i = 0; i < 34; i++) cmds.push('regs', 'maps', 'peek $rsp 16');
  const started = Date.now();
  const r = await hp(f.pid, cmds, 60_000);
  const ms = Date.now() - started;
  assertNoCrash(r, 'churn');
  assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
  const now = parseFields(await f.waitForLine(/^churn /, 3000, f.lines.length));
  assert.equal(now.bad, 0, 'every thread was created, ran and joined correctly');
  assert.ok(now.joined - before.joined > 200, `threads kept coming and going (${now.joined - before.joined} joined)`);
  await assertRunsFree(f, /^churn /, 'after churn');
  t.diagnostic(`held: ${cmds.length} commands in ${ms} ms while ${now.joined - before.joined} threads came and went; bad=0`);
});

test('threads: commands that stop every thread (threads, stop/cont) work while threads are created and exit', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_churn');
  await f.waitForLine(/^churn /);
  const cmds: string[] = [];
  for (let i = 0; i < 20; i++) cmds.push('threads', 'stop', 'cont');
  const r = await hp(f.pid, cmds, 60_000);
  assertNoCrash(r, 'churn stop-all');
  assert.equal(r.code, 0, r.stdout.slice(-1000) + r.stderr);
  const line = parseFields(await f.waitForLine(/^churn /, 3000, f.lines.length));
  assert.equal(line.bad, 0, 'every thread was created, ran and joined correctly');
  await assertRunsFree(f, /^churn /, 'after churn stop-all');
  t.diagnostic(`held: ${cmds.length} stop-all commands ok while threads came and went; bad=0`);
});

test('threads: remote calls on a target that creates threads leave it healthy', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_churn');
  await f.waitForLine(/^churn /);
  const cmds: string[] = [];
  for (let i = 0; i < 40; i++) cmds.push('call libc.so.6!getpid');
  const r = await hp(f.pid, cmds, 60_000);
  await sleep(200);
  assert.equal(f.exit(), undefined, `the target died: ${JSON.stringify(f.exit())}`);
  assert.equal(r.code, 0, r.stdout.slice(-1000) + r.stderr);
  assert.ok(r.json.every((o) => o.result?.int === f.pid));
  const line = parseFields(await f.waitForLine(/^churn /, 3000, f.lines.length));
  assert.equal(line.bad, 0, 'no pthread_create/join failed');
  await assertRunsFree(f, /^churn /, 'after calls on a churning target');
  t.diagnostic(`held: ${cmds.length} remote calls returned the pid; the target lived on, bad=0`);
});

test('threads: 12 redirect/revert cycles of a function 8 threads call flat out never give a wrong result', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_hammer');
  await f.waitForLine(/^hammer /);
  const cmds = [`load ${patchPath('fault_patch_hammer')} --method map`];
  for (let i = 0; i < 12; i++) cmds.push('redirect hammer hammer_v2', 'revert hammer');
  cmds.push(`unload fault_patch_hammer.so`);
  const started = Date.now();
  const r = await hp(f.pid, cmds, 90_000);
  const ms = Date.now() - started;
  assertNoCrash(r, 'hammer');
  assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
  const pauses = r.json.filter((o) => o.command.startsWith('redirect')).map((o) => o.pause!.micros);
  assert.ok(r.json.filter((o) => o.command.startsWith('redirect')).every((o) => o.pause!.threads === 9), 'all 9 threads stopped for each write');
  const line = parseFields(await f.waitForLine(/^hammer /, 3000, f.lines.length));
  assert.equal(line.wrong, 0, 'no worker ever saw a wrong result');
  await assertRunsFree(f, /^hammer /, 'after hammer');
  pauses.sort((a, b) => a - b);
  t.diagnostic(`held: wrong=0 over ${line.calls} calls; 24 writes in ${ms} ms; redirect pause median ${pauses[6]!.toFixed(0)} µs, max ${pauses[11]!.toFixed(0)} µs`);
});

test('threads: a target forking a child every 50 ms keeps working while attached (children are not traced)', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_forkexec');
  await f.waitForLine(/^forks /);
  const before = lastFields(f, /^forks /);
  const cmds: string[] = [];
  for (let i = 0; i < 30; i++) cmds.push('threads', 'call forks_so_far', 'regs');
  const r = await hp(f.pid, [`load ${patchPath('patch_tick')}`, ...cmds, 'unload patch_tick.so'], 60_000);
  assertNoCrash(r, 'forks');
  assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
  const line = parseFields(await f.waitForLine(/^forks /, 3000, f.lines.length));
  assert.equal(line.ok, line.n, 'every child exec\'d /bin/true and exited 0');
  assert.ok(line.n > before.n);
  await assertRunsFree(f, /^forks /, 'after forks');
  t.diagnostic(`held: ${line.n - before.n} forks during the session, all children exited 0; ${cmds.length + 2} commands ok`);
});

test('threads: the target execs itself while attached: hotpatch notices and goes on with the new image', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_forkexec', ['-1']);
  const c = Console.attach(f.pid);
  try {
    assert.equal((await c.run('threads')).ok, true, c.stderr);
    process.kill(f.pid, 'SIGUSR2'); // exec now: attached for sure
    await f.waitForLine(/^execed pid=/, 5000);
    await f.waitForLine(/gen=1$/, 3000);
    const th = await c.run('threads');
    assert.equal(th.ok, true, JSON.stringify(th));
    const regs = await c.run('regs');
    assert.equal(regs.ok, true, JSON.stringify(regs));
    const peek = await c.run('peek g_forks --as i32');
    assert.equal(peek.ok, true, JSON.stringify(peek));
    // g_forks of the new image, which counts again from 0 (the old image's ran past 20 before the exec).
    const printed = parseFields(f.latest(/gen=1$/)!).n;
    assert.ok(Math.abs(peek.result.values[0] - printed) <= 3, `peek ${peek.result.values[0]} vs the new image's last line n=${printed}`);
    const end = await c.end();
    assert.equal(end.code, 0, c.stderr);
    assert.match(c.stderr, /called exec/);
    await assertRunsFree(f, /^forks .* gen=1$/, 'after exec');
    t.diagnostic('held: exec while attached reported ("called exec: symbols reloaded"); threads, regs, peek of the new image ok');
  } finally {
    c.kill('SIGKILL');
  }
});

test('threads: after the target execs, remote calls and writes work on the new image', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_forkexec', ['-1']);
  const c = Console.attach(f.pid);
  try {
    assert.equal((await c.run('threads')).ok, true, c.stderr);
    process.kill(f.pid, 'SIGUSR2');
    await f.waitForLine(/^execed pid=/, 5000);
    const call = await c.run('call forks_so_far');
    assert.equal(call.ok, true, JSON.stringify(call));
    const poke = await c.run('poke g_forks --i32 1000');
    assert.equal(poke.ok, true, JSON.stringify(poke));
    // The new image counts on from the poked value.
    const next = parseFields(await f.waitForLine(/^forks .* gen=1$/, 3000, f.lines.length));
    assert.ok(next.n > 1000, `the poke reached the new image: n=${next.n}`);
    const end = await c.end();
    assert.equal(end.code, 0, c.stderr);
    await assertRunsFree(f, /^forks .* gen=1$/, 'after writes to the new image');
    t.diagnostic(`held: after exec, call forks_so_far = ${call.result.int}, poke g_forks 1000 -> the target printed n=${next.n}`);
  } finally {
    c.kill('SIGKILL');
    await sleep(50);
  }
});

test('threads: after the target execs, the patch record of the old image is gone (libs and patches are empty)', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('fault_forkexec', ['-1']);
  const c = Console.attach(f.pid);
  try {
    const load = await c.run(`load ${patchPath('patch_tick')}`);
    assert.equal(load.ok, true, JSON.stringify(load));
    process.kill(f.pid, 'SIGUSR2');
    await f.waitForLine(/^execed pid=/, 5000);
    await f.waitForLine(/gen=1$/, 3000);
    const libs = await c.run('libs');
    assert.equal(libs.ok, true);
    assert.deepEqual(libs.result, [], 'the new image has no library of ours');
    const patches = await c.run('patches');
    assert.equal(patches.ok, true);
    assert.deepEqual(patches.result, [], 'and no patch');
    // Loading into the new image works (a fresh record is made there).
    const again = await c.run(`load ${patchPath('patch_tick')}`);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.equal((await c.run('libs')).result.length, 1);
    assert.equal((await c.end()).code, 0, c.stderr);
    t.diagnostic('held: after exec, libs and patches empty; a new load into the new image recorded alone');
  } finally {
    c.kill('SIGKILL');
    await sleep(50);
  }
});
