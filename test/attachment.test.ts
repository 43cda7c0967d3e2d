// What hotpatch learns about a process (its stub page, its libc's `syscall`, its patch record) belongs to that one
// attachment: a second process that gets the same pid after the first exited starts from nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { startFixture, killAllFixtures, patchPath, type Fixture } from './helpers/fixtures.js';
import { Console } from './faults/support.js';

after(killAllFixtures);

const NS_LAST_PID = '/proc/sys/kernel/ns_last_pid';

/** A fixture started with the pid `pid` (the kernel's next pid set just before, as CRIU does), or undefined. */
async function startWithPid(name: string, pid: number): Promise<Fixture | undefined> {
  for (let attempt = 0; attempt < 30; attempt++) {
    writeFileSync(NS_LAST_PID, String(pid - 1));
    const f = await startFixture(name);
    if (f.pid === pid) return f;
    await f.stop(); // another process took the pid first: try again
  }
  return undefined;
}

function canSetNextPid(): boolean {
  try {
    writeFileSync(NS_LAST_PID, readFileSync(NS_LAST_PID, 'utf8').trim());
    return true;
  } catch {
    return false;
  }
}

test('attachment: after a detach, a new process with the same pid reuses nothing of the old one (stub page, libc syscall, record)', { skip: canSetNextPid() ? false : `cannot write ${NS_LAST_PID} (needs root): pid reuse cannot be arranged`, timeout: 120_000 }, async (t) => {
  const first = await startFixture('layout');
  const pid = first.pid;
  const c = Console.attach(pid);
  try {
    // The first process gets a stub page (a call), a record and a library, and a system call through libc's `syscall`.
    for (const cmd of [`load ${patchPath('patch_clock')} --method map`, 'call libc.so.6!getpid', 'maps hotpatch', 'detach']) {
      const r = await c.run(cmd);
      assert.equal(r.ok, true, `${cmd}: ${JSON.stringify(r)}`);
    }
    await first.stop();
    const second = await startWithPid('layout', pid);
    if (!second) {
      t.skip(`pid ${pid} was taken by other processes 30 times in a row`);
      return;
    }
    // A map load first: its mmaps go through libc's `syscall` (no stub page yet), which must be this libc's.
    const cmds = [`attach ${pid}`, 'maps hotpatch', 'libs', 'patches', `load ${patchPath('patch_clock')} --method map`, 'call libc.so.6!getpid', 'libs', 'unload patch_clock.so', 'cleanup', 'maps hotpatch'];
    const results: any[] = [];
    for (const cmd of cmds) {
      const r = await c.run(cmd);
      assert.equal(r.ok, true, `${cmd}: ${JSON.stringify(r)}`);
      results.push(r.result);
    }
    assert.deepEqual(results[1], [], 'the new process has none of our pages');
    assert.deepEqual([results[2], results[3]], [[], []], 'nor a record of the old one');
    assert.equal(results[5].int, pid, 'a call works: its own stub page, its own libc');
    assert.deepEqual(results[6].map((l: { id: number; name: string }) => [l.id, l.name]), [[1, 'patch_clock.so']], 'the new record starts at #1');
    assert.deepEqual(results[9], [], 'and cleanup took out all it made');
    await second.stop();
  } finally {
    c.kill('SIGKILL');
  }
});
