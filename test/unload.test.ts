// Unloading a patch library while a thread is still inside it (preempted in a patch function, or asleep in something
// it called) would unmap code under that thread: unload waits for the thread to leave, or says it is busy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, killAllFixtures, status, parseFields, patchPath } from './helpers/fixtures.js';
import { hotpatchOn } from './helpers/cli.js';

after(killAllFixtures);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

for (const method of ['dlopen', 'map'] as const) {
  test(`unload (${method}) refuses while a thread sleeps inside a patch function (a return address into it on its stack), and works once it left`, { timeout: 60_000 }, async () => {
    const f = await startFixture('counter', ['5']);
    const r = await hotpatchOn(f.pid, `load ${patchPath('patch_sleepy')} --method ${method}`, 'redirect compute compute_sleepy');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // The main loop calls compute every 5 ms: it is soon asleep inside compute_sleepy (pc in libc's nanosleep).
    await sleep(200);
    const busy = await hotpatchOn(f.pid, 'revert compute', 'unload patch_sleepy.so', 'libs');
    assert.equal(busy.json[0]!.ok, true, JSON.stringify(busy.json[0]));
    assert.equal(busy.json[1]!.ok, false, 'unload refused');
    assert.equal(busy.json[1]!.error!.code, 'E_BUSY', JSON.stringify(busy.json[1]));
    assert.match(busy.json[1]!.error!.message, /patch_sleepy\.so/);
    // It is still there, still listed; the thread wakes, returns through it and goes on.
    await sleep(1200);
    const again = await hotpatchOn(f.pid, 'libs', 'unload patch_sleepy.so', 'cleanup');
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.json[0]!.result.length, 1);
    const line = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
    assert.equal(line.compute, 6, 'compute is itself again, and the process lives');
    assert.equal(status(f.pid).tracerPid, 0);
  });
}
