// Many processes at once (docs/fleet.md): -p with several pids, --all NAME, --mapping MODULE, skipped processes,
// --all-or-none, a re-run that changes nothing, and hotpatch apply [--revert] FIX.json with build-id checks. Each test
// starts its own copies of uselib under a name and directory of this run, so other runs' processes are never chosen.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, fixturePath, patchPath, repoRoot, type Fixture } from './helpers/fixtures.js';
import { runCli } from './helpers/cli.js';
import { openElf } from '../src/elf/reader.js';

const scratch = mkdtempSync(join(tmpdir(), 'hotpatch-fleet-'));
/** comm holds 15 characters: a name of this run's own. */
const NAME = `flt${process.pid}`.slice(0, 15);
const here = join(scratch, 'a');
const other = join(scratch, 'other');
const program = join(here, NAME);
const otherProgram = join(other, NAME);

before(() => {
  mkdirSync(here);
  mkdirSync(other);
  // uselib finds libfoo.so next to itself ($ORIGIN): one copy with the fixture's libfoo, one with another build of it.
  copyFileSync(fixturePath('uselib'), program);
  copyFileSync(fixturePath('libfoo.so'), join(here, 'libfoo.so'));
  copyFileSync(fixturePath('uselib'), otherProgram);
  execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-Wl,--build-id=0xdeadbeef', '-o', join(other, 'libfoo.so'), join(repoRoot, 'fixtures', 'libfoo.c')]);
});

after(async () => {
  await killAllFixtures();
  rmSync(scratch, { recursive: true, force: true });
});

async function start(n: number, path = program): Promise<Fixture[]> {
  const list: Fixture[] = [];
  for (let i = 0; i < n; i++) list.push(await startFixture(path));
  return list;
}

async function stopAll(list: Fixture[]) {
  for (const f of list) await f.stop();
}

const jsonLines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

/** The process prints foo(21) every 20 ms: 63 once foo is redirected to foo_v2, 42 before and after. */
async function seesFoo(f: Fixture, value: number) {
  await f.waitForLine(new RegExp(`^foo=${value}$`), 3000, f.lines.length);
}

const LOAD = `load ${patchPath('patch_foo')}`;
const REDIRECT = 'redirect libfoo.so!foo foo_v2';

test('fleet: -p with several pids runs the commands in each; run again it changes nothing; JSON lines carry the pid', async () => {
  const procs = await start(3);
  try {
    const pids = procs.map((p) => p.pid);
    const first = await runCli(['-p', pids.join(','), '--json', '-e', LOAD, '-e', REDIRECT]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const lines = jsonLines(first.stdout);
    const summary = lines.at(-1)!;
    assert.equal(summary.summary, true);
    assert.deepEqual([summary.processes, summary.succeeded, summary.failed, summary.changed], [3, 3, 0, 3]);
    for (const pid of pids) {
      const mine = lines.filter((l) => l.pid === pid);
      assert.deepEqual(mine.map((l) => [l.command, l.ok, l.changed]), [[LOAD, true, true], [REDIRECT, true, true]]);
    }
    for (const p of procs) await seesFoo(p, 63);

    // The same rollout again: the same file is loaded and the same redirect is on top, so nothing changes.
    const again = await runCli(['-p', pids.join(','), '--json', '-e', LOAD, '-e', REDIRECT]);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    const second = jsonLines(again.stdout);
    assert.ok(second.filter((l) => !l.summary).every((l) => l.ok && l.changed === false), again.stdout);
    assert.deepEqual([second.at(-1)!.changed, second.at(-1)!.unchanged], [0, 3]);

    // A redirect of foo to another TO still stacks (only the identical one on top is a no-op).
    const stack = await runCli(['-p', String(pids[0]), '--json', '-e', 'redirect libfoo.so!foo libc.so.6!abs']);
    assert.equal(stack.code, 0, stack.stdout + stack.stderr);
    const stacked = jsonLines(stack.stdout)[0]!;
    assert.equal(stacked.changed, true);
    assert.equal(typeof stacked.result.stackedOn, 'number');
    await seesFoo(procs[0]!, 21);

    const off = await runCli(['-p', pids.join(','), '-e', 'revert all', '-e', 'unload patch_foo.so']);
    assert.equal(off.code, 0, off.stdout + off.stderr);
    assert.match(off.stdout, /3 processes: 3 succeeded \(3 changed, 0 unchanged\), 0 failed, 0 skipped/, off.stdout);
    for (const p of procs) await seesFoo(p, 42);
  } finally {
    await stopAll(procs);
  }
});

test('fleet: --all NAME and --mapping MODULE choose every process with that name, or that maps the library', async () => {
  const procs = await start(2);
  try {
    const pids = procs.map((p) => p.pid).sort((a, b) => a - b);
    const byName = await runCli(['--all', NAME, '--json', '-e', 'threads']);
    assert.equal(byName.code, 0, byName.stdout + byName.stderr);
    assert.deepEqual([...new Set(jsonLines(byName.stdout).filter((l) => !l.summary).map((l) => l.pid))].sort((a, b) => a - b), pids);

    const byPath = await runCli(['--mapping', join(here, 'libfoo.so'), '--json', '-e', 'threads']);
    assert.equal(byPath.code, 0, byPath.stdout + byPath.stderr);
    assert.deepEqual([...new Set(jsonLines(byPath.stdout).filter((l) => !l.summary).map((l) => l.pid))].sort((a, b) => a - b), pids);

    const none = await runCli(['--all', 'no-such-process-xyz', '-e', 'threads']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /E_NO_PROCESS/);
  } finally {
    await stopAll(procs);
  }
});

test('fleet: processes a run may not touch are skipped with the reason: pid 1, a kernel thread, the tool\'s own parent', async () => {
  const [f] = await start(1);
  try {
    const res = await runCli(['-p', `${f!.pid},1,2,${process.pid}`, '--json', '-e', 'threads']);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    const lines = jsonLines(res.stdout);
    const skip = (pid: number) => lines.find((l) => l.pid === pid && l.skipped)?.reason as string;
    assert.match(skip(1), /pid 1/);
    assert.match(skip(2), /kernel thread/);
    assert.match(skip(process.pid), /ancestor/);
    assert.ok(lines.some((l) => l.pid === f!.pid && l.ok), res.stdout);
    assert.deepEqual([lines.at(-1)!.succeeded, lines.at(-1)!.skipped], [1, 3]);
    // Usage errors exit 2.
    assert.equal((await runCli(['-p', '1,x', '-e', 'threads'])).code, 2);
    assert.equal((await runCli(['--all-or-none', '-p', String(f!.pid), '-e', 'threads'])).code, 2);
  } finally {
    await stopAll([f!]);
  }
});

// In one process, and shared among worker processes (--procs 2: the failure is told from one worker to the other).
for (const workers of [undefined, 2]) test(`fleet: --all-or-none${workers ? ` with ${workers} workers` : ''}: one process failing undoes what the run did in the others, and says so per process`, async () => {
  const procs = await start(3);
  const fix = join(scratch, 'fix.so');
  try {
    const pids = procs.map((p) => p.pid).sort((a, b) => a - b);
    const last = pids.at(-1)!;
    // The last process already has fix.so loaded with other content: loading the new fix.so there fails (E_LOADED).
    copyFileSync(patchPath('patch_foo'), fix);
    const pre = await runCli(['-p', String(last), '-e', `load ${fix}`]);
    assert.equal(pre.code, 0, pre.stdout + pre.stderr);
    execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-Wl,--build-id=0x1234', '-o', `${fix}.new`, join(repoRoot, 'fixtures', 'patch_foo.c')]);
    renameSync(`${fix}.new`, fix);

    const res = await runCli(['-p', pids.join(','), '--jobs', '1', '--all-or-none', '--json', ...(workers ? ['--procs', String(workers)] : []),
      '-e', `load ${fix}`, '-e', 'redirect libfoo.so!foo foo_v2']);
    assert.equal(res.code, 1, res.stdout + res.stderr);
    const lines = jsonLines(res.stdout);
    const failedLine = lines.find((l) => l.pid === last && l.ok === false)!;
    assert.equal(failedLine.error.code, 'E_LOADED');
    let undone = 0;
    for (const pid of pids.slice(0, 2)) {
      const undo = lines.filter((l) => l.pid === pid && l.undo);
      // A worker that heard of the failure before it reached a process leaves that process alone, and says why.
      const notRun = lines.find((l) => l.pid === pid && l.skipped && /not run: process \d+ failed/.test(String(l.reason)));
      if (workers && notRun && undo.length === 0) continue;
      assert.deepEqual(undo.map((l) => [l.command.split(' ')[0], l.ok]), [['revert', true], ['unload', true]], res.stdout);
      undone++;
    }
    if (!workers) assert.equal(undone, 2);
    const summary = lines.at(-1)!;
    assert.deepEqual([summary.ok, summary.failed, summary.undone, summary.failedPids], [false, 1, undone, [last]]);
    assert.equal(lines.filter((l) => l.summary).length, 1, 'one summary line for the whole run, workers or not');
    for (const p of procs) await seesFoo(p, 42);
    // The undone processes hold nothing of the run; the failed one keeps only what it had before.
    const libs = await runCli(['-p', pids.join(','), '--json', '-e', 'libs']);
    const held = jsonLines(libs.stdout).filter((l) => l.command === 'libs').map((l) => [l.pid, (l.result as unknown[]).length]);
    assert.deepEqual(held.sort((a, b) => a[0] - b[0]), pids.map((pid) => [pid, pid === last ? 1 : 0]));
  } finally {
    await stopAll(procs);
  }
});

/** A process left neither stopped nor traced: its state is not t/T and it has no tracer. */
function runsFree(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(status, /^TracerPid:\s+0$/m, `process ${pid} is still traced`);
  assert.doesNotMatch(status, /^State:\s+[tT]/m, `process ${pid} is left stopped`);
}

for (const allOrNone of [false, true]) {
  test(`fleet: a process killed in the middle of a rollout fails as gone (ESRCH)${allOrNone ? '; --all-or-none undoes the others' : '; the others are done'}; no hang, nothing left stopped or traced`, async () => {
    const procs = await start(3);
    try {
      const pids = procs.map((p) => p.pid).sort((a, b) => a - b);
      const victim = pids[1]!;
      // One at a time, with a library whose constructor sleeps 1.5 s: the middle process is killed during its dlopen.
      const run = runCli(['-p', pids.join(','), '--jobs', '1', ...(allOrNone ? ['--all-or-none'] : []), '--json',
        '-e', LOAD, '-e', `load ${patchPath('patch_slowinit')} --timeout 5000`, '-e', REDIRECT], { timeoutMs: 30_000 });
      const deadline = Date.now() + 15_000;
      while (!readFileSync(`/proc/${victim}/maps`, 'utf8').includes('patch_slowinit.so')) {
        assert.ok(Date.now() < deadline, 'the rollout never reached the middle process');
        await new Promise((r) => setTimeout(r, 10));
      }
      process.kill(victim, 'SIGKILL');
      const res = await run;
      assert.equal(res.code, 1, res.stdout + res.stderr);
      const lines = jsonLines(res.stdout);
      const failed = lines.find((l) => l.pid === victim && l.ok === false);
      assert.equal(failed?.error.code, 'ESRCH', res.stdout);
      const summary = lines.at(-1)!;
      assert.deepEqual(summary.failedPids, [victim]);
      const others = procs.filter((p) => p.pid !== victim);
      if (allOrNone) {
        // The first was done and is undone; the last was not started.
        const undo = lines.filter((l) => l.pid === pids[0] && l.undo);
        assert.deepEqual(undo.map((l) => [l.command.split(' ')[0], l.ok]), [['revert', true], ['unload', true], ['unload', true]], res.stdout);
        assert.ok(lines.some((l) => l.pid === pids[2] && l.skipped && /not run/.test(l.reason)), res.stdout);
        assert.deepEqual([summary.succeeded, summary.failed, summary.undone], [1, 1, 1]);
        for (const p of others) await seesFoo(p, 42);
      } else {
        // The killed one counts as changed too: its first load went in before it died.
        assert.deepEqual([summary.succeeded, summary.failed, summary.changed], [2, 1, 3]);
        for (const p of others) await seesFoo(p, 63);
      }
      for (const p of others) runsFree(p.pid);
    } finally {
      await stopAll(procs);
    }
  });
}

function manifest(path: string, buildId: string | undefined) {
  writeFileSync(path, JSON.stringify({
    format: 'hotpatch-fix/1',
    name: 'foo-triples',
    targets: [{ module: 'libfoo.so', ...(buildId ? { buildId } : {}), libraries: [{ path: patchPath('patch_foo') }], redirects: [{ from: 'foo', to: 'foo_v2' }] }],
  }));
}

test('fleet: hotpatch apply FIX.json brings each process to the fix, again changes nothing, --revert takes it off; another build is skipped', async () => {
  const procs = await start(2);
  const [odd] = await start(1, otherProgram);
  const fixFile = join(scratch, 'foo-fix.json');
  const buildId = openElf(join(here, 'libfoo.so')).buildId!;
  manifest(fixFile, buildId);
  try {
    const pids = [...procs, odd!].map((p) => p.pid).join(',');
    const first = await runCli(['apply', fixFile, '-p', pids, '--json']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    let lines = jsonLines(first.stdout);
    for (const p of procs) {
      const line = lines.find((l) => l.pid === p.pid)!;
      assert.equal(line.changed, true, first.stdout);
      assert.deepEqual(line.result.steps.map((s: any) => [s.kind, s.changed]), [['load', true], ['redirect', true]]);
      await seesFoo(p, 63);
    }
    const skipped = lines.find((l) => l.pid === odd!.pid)!;
    assert.equal(skipped.skipped, true);
    assert.match(skipped.reason, /another build of libfoo\.so .*deadbeef/);
    await seesFoo(odd!, 42);

    const again = await runCli(['apply', fixFile, '-p', pids, '--json']);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    lines = jsonLines(again.stdout);
    assert.deepEqual([lines.at(-1)!.changed, lines.at(-1)!.unchanged, lines.at(-1)!.skipped], [0, 2, 1]);

    const off = await runCli(['apply', '--revert', fixFile, '-p', pids, '--json']);
    assert.equal(off.code, 0, off.stdout + off.stderr);
    lines = jsonLines(off.stdout);
    assert.deepEqual(lines.find((l) => l.pid === procs[0]!.pid)!.result.steps.map((s: any) => [s.kind, s.changed]), [['revert', true], ['unload', true]]);
    for (const p of procs) await seesFoo(p, 42);
    const offAgain = await runCli(['apply', '--revert', fixFile, '-p', pids, '--json']);
    assert.equal(offAgain.code, 0);
    assert.equal(jsonLines(offAgain.stdout).at(-1)!.changed, 0);

    // Without -p: every process mapping the module the fix is for (here and elsewhere: only ours have this build).
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'hotpatch-fix/1', targets: [{ module: 'libfoo.so', libraries: [{ path: 12 }] }] }));
    const refused = await runCli(['apply', bad, '-p', pids]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /E_MANIFEST: .*libraries\[0\]\.path must be a non-empty string/);
  } finally {
    await stopAll([...procs, odd!]);
  }
});
