// Issue 6, security: exactly ptrace's rights, a target traced by someone else refused, a reused pid never mistaken
// for the process we patched, and (as root) patch libraries that others could change refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, patchPath, status, fixturePath, isAlive } from '../helpers/fixtures.js';
import { cliPath, NODE_FLAGS } from '../helpers/cli.js';
import { Console, hp, assertNoCrash, waitFor, sleep } from './support.js';

after(killAllFixtures);

const isRoot = process.getuid?.() === 0;

function hasGdb(): boolean {
  try {
    execFileSync('gdb', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('security: a target that gdb attached to after our detach is refused with EBUSY naming gdb, and left to gdb', { timeout: 120_000, skip: !hasGdb() && 'gdb is not installed' }, async (t) => {
  const f = await startFixture('counter', ['10']);
  const c = Console.attach(f.pid);
  let gdb: ReturnType<typeof spawn> | undefined;
  try {
    assert.equal((await c.run('threads')).ok, true, c.stderr);
    assert.equal((await c.run('detach')).ok, true);
    gdb = spawn('gdb', ['-nx', '-q', '-p', String(f.pid), '-batch', '-ex', 'shell sleep 3'], { stdio: 'ignore' });
    await waitFor(() => status(f.pid).tracerPid !== 0, 10_000, 'gdb to attach');
    const again = await c.run(`attach ${f.pid}`);
    assert.equal(again.ok, false, 'the same session may not attach');
    assert.equal(again.error!.code, 'EBUSY', JSON.stringify(again));
    assert.match(again.error!.message, /gdb/);
    const fresh = await hp(f.pid, ['threads']);
    assertNoCrash(fresh, 'EBUSY');
    assert.equal(fresh.code, 1);
    assert.equal(fresh.json[0]!.error!.code, 'EBUSY');
    assert.equal(status(f.pid).tracerPid, gdb.pid, 'gdb still holds it: we did not disturb it');
    await c.end();
    await new Promise((res) => gdb!.on('close', res));
    await waitFor(() => status(f.pid).tracerPid === 0, 5000, 'gdb to detach');
    await f.waitForLine(/^count=/, 2000, f.lines.length);
    t.diagnostic(`held: ${again.error!.message}`);
  } finally {
    c.kill('SIGKILL');
    if (gdb?.pid && gdb.exitCode === null) process.kill(gdb.pid, 'SIGKILL');
  }
});

test('security: a pid reused by a new process between attaches never shows the old process’s libraries or patches', { timeout: 120_000, skip: !isRoot && 'needs root to set ns_last_pid' }, async (t) => {
  const a = await startFixture('counter', ['10']);
  const c = Console.attach(a.pid);
  try {
    assert.equal((await c.run(`load ${patchPath('patch_tick')} --method map`)).ok, true, c.stderr);
    assert.equal((await c.run('redirect tick tick_v2')).ok, true);
    assert.equal((await c.run('detach')).ok, true);
    const pid = a.pid;
    await a.stop();
    // Make the kernel hand the same pid to the next process (as CRIU does); other processes may race us: retry.
    let b;
    for (let attempt = 0; attempt < 60 && !b; attempt++) {
      try {
        writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
      } catch (err) {
        t.skip(`cannot write ns_last_pid: ${(err as Error).message}`);
        return;
      }
      const candidate = await startFixture('counter', ['10']);
      if (candidate.pid === pid) b = candidate;
      else await candidate.stop();
    }
    if (!b) {
      t.skip('could not get the same pid again (busy machine)');
      return;
    }
    const attach = await c.run(`attach ${pid}`);
    assert.equal(attach.ok, true, JSON.stringify(attach));
    const libs = await c.run('libs');
    const patches = await c.run('patches');
    assert.deepEqual(libs.result, [], 'no library of the old process');
    assert.deepEqual(patches.result, [], 'no patch of the old process');
    const revert = await c.run('revert tick');
    assert.equal(revert.ok, false, 'nothing to revert in the new process');
    const end = await c.end();
    assert.equal(end.code, 1);
    assert.ok(isAlive(b.pid));
    t.diagnostic(`held: pid ${pid} reused; the same session found no libs/patches there and refused revert (${revert.error!.code})`);
  } finally {
    c.kill('SIGKILL');
  }
});

test('security: without root, attaching needs ptrace rights: another user’s process is refused (EPERM or EACCES), one’s own is fine', { timeout: 120_000, skip: !isRoot && 'needs root to switch user' }, async (t) => {
  const mine = await startFixture('counter', ['20']); // root's
  const asNobody = (args: string[]) =>
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  let refused = '';
  try {
    asNobody([process.execPath, ...NODE_FLAGS, cliPath, '-p', String(mine.pid), '--json', '-e', 'threads']);
    assert.fail('nobody attached to a root process');
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    assert.equal(e.status, 1, e.stdout + e.stderr);
    const out = JSON.parse(e.stdout.trim().split('\n')[0]!);
    assert.ok(['EPERM', 'EACCES'].includes(out.error.code), e.stdout);
    assert.match(`${out.error.message} ${out.error.hint}`, /permission|same user|root/i);
    refused = `${out.error.code} ${out.error.message}`;
  }
  assert.equal(status(mine.pid).tracerPid, 0);
  // nobody's own process: a shell owned by nobody starts the fixture and hands its pid back.
  const pid = Number(asNobody(['sh', '-c', `${fixturePath('counter')} 20 >/dev/null 2>&1 & echo $!`]).trim());
  try {
    await sleep(100);
    const out = asNobody([process.execPath, ...NODE_FLAGS, cliPath, '-p', String(pid), '--json', '-e', 'threads', '-e', 'peek g_value 4']);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.every((l) => l.ok), out);
    assert.equal(status(pid).tracerPid, 0);
  } finally {
    process.kill(pid, 'SIGKILL');
  }
  t.diagnostic(`held: nobody -> root's process: ${refused}; nobody -> nobody's process: ok`);
});

/** A copy of patch_tick.so at path, with the directories made first. */
function placeLibrary(path: string): void {
  copyFileSync(patchPath('patch_tick'), path);
  chmodSync(path, 0o644);
}

const insecureCases: { name: string; make: (dir: string) => string }[] = [
  { name: 'the file is writable by every user (0666)', make: (d) => { const p = join(d, 'open.so'); placeLibrary(p); chmodSync(p, 0o666); return p; } },
  { name: 'its directory is writable by every user, no sticky bit (0777)', make: (d) => { const sub = join(d, 'open-dir'); mkdirSync(sub); chmodSync(sub, 0o777); const p = join(sub, 'lib.so'); placeLibrary(p); return p; } },
  {
    name: 'a directory above it is writable by every user (the directory itself can be swapped)',
    make: (d) => { const top = join(d, 'open-top'); mkdirSync(join(top, 'safe'), { recursive: true }); chmodSync(top, 0o777); const p = join(top, 'safe', 'lib.so'); placeLibrary(p); return p; },
  },
  {
    name: 'a symlink in a safe directory pointing into a directory writable by every user',
    make: (d) => { const open = join(d, 'open-real'); mkdirSync(open); chmodSync(open, 0o777); placeLibrary(join(open, 'lib.so')); const safe = join(d, 'safe'); mkdirSync(safe); symlinkSync(join(open, 'lib.so'), join(safe, 'link.so')); return join(safe, 'link.so'); },
  },
  {
    name: 'the file belongs to another (unprivileged) user, who may rewrite it',
    make: (d) => { const p = join(d, 'theirs.so'); placeLibrary(p); chownSync(p, 65534, 65534); return p; },
  },
  {
    name: 'the file is group-writable by a group other than root',
    make: (d) => { const p = join(d, 'group.so'); placeLibrary(p); chownSync(p, 0, 65534); chmodSync(p, 0o664); return p; },
  },
];

for (const c of insecureCases) {
  test(`security: as root, a library is refused when ${c.name}`, { timeout: 120_000, skip: !isRoot && 'the check applies to root only' }, async () => {
    const f = await startFixture('counter', ['20']);
    // /tmp itself is sticky and writable by all: build the cases under a private root-owned directory.
    const dir = mkdtempSync(join(tmpdir(), 'hp-sec-'));
    chmodSync(dir, 0o755);
    try {
      const path = c.make(dir);
      for (const method of ['dlopen', 'map']) {
        const r = await hp(f.pid, [`load ${path} --method ${method}`]);
        assertNoCrash(r, c.name);
        assert.equal(r.code, 1, `${method}: loaded: ${r.stdout}`);
        assert.equal(r.json[0]!.error!.code, 'E_INSECURE', JSON.stringify(r.json[0]));
      }
      // --force is the way to say "I trust it".
      const forced = await hp(f.pid, [`load ${path} --force`]);
      assert.equal(forced.code, 0, forced.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('security: as root, a library in a root-owned 0755 directory, or in a sticky world-writable one owned by root, loads', { timeout: 120_000, skip: !isRoot && 'root only' }, async () => {
  const f = await startFixture('counter', ['20']);
  const dir = mkdtempSync(join(tmpdir(), 'hp-sec-ok-'));
  chmodSync(dir, 0o755);
  try {
    const sticky = join(dir, 'sticky');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const a = join(dir, 'a.so');
    const b = join(sticky, 'b.so');
    placeLibrary(a);
    placeLibrary(b);
    const r = await hp(f.pid, [`load ${a}`, `load ${b} --method map`]);
    assert.equal(r.code, 0, r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
