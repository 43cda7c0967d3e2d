// Issue 6, system calls: threads blocked in read, nanosleep, poll, futex and accept see no EINTR from us,
// however often we stop them, read their registers, or borrow a thread for calls and loads.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startFixture, killAllFixtures, patchPath, status, type Fixture } from '../helpers/fixtures.js';
import { hp, Console, assertNoCrash, assertRunsFree, startOrphan, waitFor } from './support.js';
import { Session } from '../../src/session.js';
import { findFunction } from '../../src/patch/functions.js';

after(killAllFixtures);

const BAD = /EINTR|error|spurious/;

function tids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number).sort((a, b) => a - b);
}

async function wakeAndCheck(f: Fixture): Promise<void> {
  const from = f.lines.length;
  process.kill(f.pid, 'SIGUSR1');
  for (const name of ['read', 'poll', 'cond', 'accept']) {
    await f.waitForLine(new RegExp(`^${name} (ok|EINTR|error|spurious)`), 3000, from);
  }
  const woke = f.lines.slice(from);
  for (const name of ['read', 'poll', 'cond', 'accept']) {
    assert.ok(woke.includes(`${name} ok`), `${name} ok after SIGUSR1:\n${woke.join('\n')}`);
  }
}

function sleepTimes(f: Fixture, from = 0): number[] {
  return f.lines.slice(from).filter((l) => l.startsWith('sleep ')).map((l) => Number(/ms=(\d+)/.exec(l)![1]));
}

test('syscalls: 380 register reads, thread lists, stops, remote calls and dlopen/map loads leave read/nanosleep/poll/futex/accept undisturbed', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('blocking');
  await wakeAndCheck(f); // the fixture itself works
  const from = f.lines.length;
  const all = tids(f.pid);
  assert.equal(all.length, 6);

  const cmds: string[] = [];
  for (let round = 0; round < 40; round++) {
    for (const tid of all) cmds.push(`regs ${tid}`);
    cmds.push('threads', 'call libc.so.6!getpid');
    if (round % 4 === 0) cmds.push('stop', 'regs', 'cont');
    if (round % 8 === 0) cmds.push(`load ${patchPath('patch_tick')}`, 'call tick_v2 41', 'unload patch_tick.so');
    if (round % 8 === 4) cmds.push(`load ${patchPath('patch_tick')} --method map`, 'call tick_v2 41', 'unload patch_tick.so');
  }
  const started = Date.now();
  const r = await hp(f.pid, cmds, 90_000);
  const ms = Date.now() - started;
  assertNoCrash(r, 'the storm');
  assert.equal(r.code, 0, r.stdout.slice(-3000) + r.stderr);
  assert.equal(r.json.length, cmds.length);
  const getpid = r.json.filter((o) => o.command === 'call libc.so.6!getpid');
  assert.ok(getpid.every((o) => o.result.int === f.pid), 'getpid on a borrowed thread returns the pid');
  assert.ok(r.json.filter((o) => o.command === 'call tick_v2 41').every((o) => o.result.int === 43), 'the loaded code ran');

  await wakeAndCheck(f);
  // The sleep that was under way when the storm ended spanned part of it: wait for it (on a quiet machine the storm
  // may take less than one 1 s sleep).
  await f.waitForLine(/^sleep /, 3000, from);
  const lines = f.lines.slice(from);
  const bad = lines.filter((l) => BAD.test(l));
  assert.deepEqual(bad, [], 'no EINTR, error or spurious wake-up');
  const sleeps = sleepTimes(f, from);
  assert.ok(sleeps.length >= 1, `no sleep finished during the ${ms} ms storm or within 3 s of it`);
  // Never cut short (an EINTR would end a sleep early).
  for (const s of sleeps) assert.ok(s >= 999, `nanosleep(1 s) took ${s} ms`);
  await assertRunsFree(f, /^sleep ok/, 'after the storm');
  t.diagnostic(`held: ${cmds.length} commands in ${ms} ms; no EINTR/error/spurious; sleeps ${sleeps.join(',')} ms; read/poll/cond/accept ok after SIGUSR1`);
});

test('syscalls: SIGUSR1 while we hold every thread stopped: each blocked call completes once we let go, without EINTR', { timeout: 60_000 }, async (t) => {
  const f = await startFixture('blocking');
  const from = f.lines.length;
  const c = Console.attach(f.pid);
  try {
    assert.equal((await c.run('stop')).ok, true);
    process.kill(f.pid, 'SIGUSR1'); // main (the one thread that takes it) is stopped: the wake-up waits
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(f.lines.slice(from).filter((l) => !l.startsWith('sleep')).length, 0, 'nothing ran while stopped');
    assert.equal((await c.run('regs')).ok, true);
    assert.equal((await c.run('cont')).ok, true);
    for (const name of ['read', 'poll', 'cond', 'accept']) await f.waitForLine(new RegExp(`^${name} `), 3000, from);
    const end = await c.end();
    assert.equal(end.code, 0, c.stderr);
    const lines = f.lines.slice(from);
    assert.deepEqual(lines.filter((l) => BAD.test(l)), []);
    // Never short (an EINTR would cut it); it may be longer by the time we held it frozen.
    for (const s of sleepTimes(f, from)) assert.ok(s >= 999, `nanosleep(1 s) took ${s} ms`);
    t.diagnostic('held: a signal sent while frozen was delivered after cont; every blocked call finished ok');
  } finally {
    c.kill('SIGKILL');
  }
});

/** What each thread of `blocking` sits in, from /proc/PID/task/TID/syscall (x86-64 numbers). */
function blockedIn(pid: number, tid: number): string {
  const nr = Number(readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]);
  const names: Record<number, string> = { 0: 'read', 7: 'poll', 35: 'nanosleep', 43: 'accept', 128: 'sigwait', 202: 'futex', 230: 'nanosleep', 271: 'poll', 288: 'accept' };
  return names[nr] ?? `syscall ${nr}`;
}

test('syscalls: each blocked thread itself borrowed 25 times for a remote call (in read, nanosleep, poll, futex, accept): its own call goes on, no EINTR', { timeout: 120_000 }, async (t) => {
  // In-process (the CLI picks the thread itself): the fixture must not be our child, so a shell starts it.
  const o = await startOrphan('blocking');
  const session = new Session();
  try {
    const target = await session.attach(o.pid);
    const getpid = findFunction(session, ['getpid'])!.address;
    const kinds = new Map<number, string>();
    await waitFor(() => {
      for (const tid of tids(o.pid)) kinds.set(tid, blockedIn(o.pid, tid));
      return [...kinds.values()].filter((k) => ['read', 'nanosleep', 'poll', 'futex', 'accept'].includes(k)).length === 5;
    }, 5000, `every thread in its blocking call (${[...kinds.values()].join(', ')})`);
    const from = o.lines().length;
    const borrowed: string[] = [];
    for (const [tid, kind] of kinds) {
      if (kind === 'sigwait') continue;
      for (let i = 0; i < 25; i++) {
        const res = await target.run({ stopAll: false, ops: [{ kind: 'call', tid, addr: getpid, args: [], timeoutMs: 5000 }] });
        assert.equal(Number(res.results[0]!.value), o.pid, `getpid on the ${kind} thread`);
      }
      borrowed.push(kind);
    }
    // Woken by the fixture's own SIGUSR1 path: each call returns normally, exactly once.
    process.kill(o.pid, 'SIGUSR1');
    await waitFor(() => ['read', 'poll', 'cond', 'accept'].every((n) => o.lines().slice(from).some((l) => l.startsWith(`${n} `))), 5000, 'the blocked calls to return');
    await waitFor(() => o.lines().slice(from).some((l) => l.startsWith('sleep ')), 5000, 'a sleep to end');
    await session.detach();
    const lines = o.lines().slice(from);
    assert.deepEqual(lines.filter((l) => BAD.test(l)), [], 'no EINTR, error or spurious wake-up');
    for (const name of ['read', 'poll', 'cond', 'accept']) assert.ok(lines.includes(`${name} ok`), `${name} ok:\n${lines.join('\n')}`);
    const sleeps = lines.filter((l) => l.startsWith('sleep ')).map((l) => Number(/ms=(\d+)/.exec(l)![1]));
    for (const s of sleeps) assert.ok(s >= 999, `nanosleep(1 s) took ${s} ms`);
    assert.equal(status(o.pid).tracerPid, 0);
    t.diagnostic(`held: 25 getpid calls on each of the ${borrowed.join(', ')} threads returned the pid; then read/poll/cond/accept ok, sleeps ${sleeps.join(',')} ms, no EINTR`);
  } finally {
    if (session.target?.attached) await session.detach();
    o.stop();
  }
});
