// Issue 6, the tool dies during a remote call: the borrowed thread returns into our stub, which stops for the tracer
// while there is one and otherwise restores the thread itself (rt_sigreturn from the frame left on its stack). Also:
// a borrowed thread gets its whole vector state back (AVX, not only SSE), and the stub's signal never reaches the
// program while we trace it, while one sent by someone else does, once, after the call.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { NODE_FLAGS } from '../helpers/cli.js';
import { startFixture, killAllFixtures, isAlive, status, repoRoot, type Fixture } from '../helpers/fixtures.js';
import { Console, hp, locate, readTargetMemory, sleep, waitFor, waitForQuiet, assertNoCrash } from './support.js';

after(killAllFixtures);

const avx2 = /\bavx2\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
const noAvx = avx2 ? false : 'the CPU has no AVX2';

function sigBlk(pid: number, tid = pid): string {
  return /^SigBlk:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]!;
}

/** The system call a thread is blocked in (number), or undefined when it runs in user space. */
function syscallOf(pid: number, tid = pid): number | undefined {
  const first = readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').split(' ')[0]!;
  return /^\d+$/.test(first) ? Number(first) : undefined;
}

/** nanosleep (35) or clock_nanosleep (230): the sleep of nap_clobber, not the remote mmap that may come before it. */
const sleeping = (pid: number) => [35, 230].includes(syscallOf(pid) ?? -1);

async function rounds(pid: number, at: bigint): Promise<bigint> {
  return readTargetMemory(pid, at, 8).readBigUInt64LE();
}

/** fault_xstate's loop still checks ymm8 and counts: `rounds` goes up, no `bad` line. */
async function assertStillChecking(f: Fixture, roundsAt: bigint, what: string): Promise<void> {
  const a = await rounds(f.pid, roundsAt);
  await sleep(50);
  const b = await rounds(f.pid, roundsAt);
  assert.ok(b > a, `${what}: the checking loop runs (rounds ${a} -> ${b})`);
  assert.ok(!f.lines.some((l) => l.startsWith('bad')), `${what}: ymm8 changed under the program:\n${f.lines.join('\n')}`);
  assert.ok(isAlive(f.pid), `${what}: alive`);
}

test('returnstub: 30 remote calls that wipe ymm8 on the thread they borrow: the thread gets its AVX state, mask and run back', { skip: noAvx, timeout: 60_000 }, async (t) => {
  const f = await startFixture('fault_xstate');
  const [r] = await locate(f.pid, [['rounds', 8]]);
  const mask = sigBlk(f.pid);
  const cmds = Array.from({ length: 30 }, () => 'call clobber');
  const res = await hp(f.pid, cmds);
  assertNoCrash(res);
  assert.equal(res.code, 0, res.stdout + res.stderr);
  assert.ok(res.json.every((o) => o.result.int === 7), 'clobber ran each time');
  await assertStillChecking(f, r!.address, 'after the calls');
  assert.equal(sigBlk(f.pid), mask, 'signal mask as before (SIGUSR2 blocked)');
  assert.ok(!f.lines.some((l) => l.startsWith('urgs=')), 'the stub’s SIGURG never reached the program while traced');
  t.diagnostic(`held: 30 calls wiping ymm8 on the checking thread; ymm8 intact, SigBlk ${mask}, no SIGURG seen by the program`);
});

test('returnstub: a SIGURG sent by someone else during a remote call reaches the program once, after the call', { skip: noAvx, timeout: 60_000 }, async (t) => {
  const f = await startFixture('fault_xstate');
  const c = Console.attach(f.pid);
  try {
    assert.equal((await c.run('threads')).ok, true, c.stderr);
    c.send('call nap_clobber 600 --timeout 5000');
    await waitFor(() => sleeping(f.pid), 5000, 'the borrowed thread to sleep inside nap_clobber');
    process.kill(f.pid, 'SIGURG');
    await sleep(100);
    assert.ok(!f.lines.some((l) => l.startsWith('urgs=')), 'not delivered in the middle of our call');
    const out = (await c.results(2, 10_000))[1]!;
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.result.int, 600);
    await f.waitForLine(/^urgs=1$/, 3000);
    await sleep(200);
    assert.deepEqual(f.lines.filter((l) => l.startsWith('urgs=')), ['urgs=1'], 'delivered exactly once');
  } finally {
    await c.end();
  }
  t.diagnostic('held: the outside SIGURG waited for the call to end and arrived once');
});

test('returnstub: SIGKILL of hotpatch in the middle of a remote call: the thread returns through the stub to its own code, its nanosleep resumed', { timeout: 60_000 }, async (t) => {
  const f = await startFixture('fault_sleeper');
  const mask = sigBlk(f.pid);
  const c = Console.attach(f.pid);
  assert.equal((await c.run('threads')).ok, true, c.stderr);
  c.send('call nap 1200 --timeout 5000');
  // The main thread prints a tick every 20 ms; while it is borrowed, none comes.
  await waitForQuiet(f, 200, 5000, 'the ticks to pause (the thread borrowed for nap)');
  c.kill('SIGKILL');
  await c.waitExit(5000);
  await waitFor(() => !isAlive(f.pid) || status(f.pid).tracerPid === 0, 2000, 'the kernel to detach');
  const from = f.lines.length;
  await f.waitForLine(/^tick /, 3000, from); // the call ends after 1.2 s, then the ticks go on
  await sleep(100);
  assert.ok(isAlive(f.pid), `the target survived: ${JSON.stringify(f.exit())}`);
  assert.equal(sigBlk(f.pid), mask, 'its signal mask is its own again');
  const ns = f.lines.filter((l) => l.startsWith('tick ')).map((l) => Number(/n=(\d+)/.exec(l)![1]));
  assert.ok(ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1), `ticks without a gap or a repeat: ${ns.join(',')}`);
  t.diagnostic(`held: killed with the call in flight; the target ran on (ticks 1..${ns.at(-1)} unbroken, SigBlk ${mask}, untraced)`);
});

test('returnstub: SIGKILL of hotpatch while a call that wipes ymm8 runs: the stub restores the AVX state and the mask', { skip: noAvx, timeout: 60_000 }, async (t) => {
  const f = await startFixture('fault_xstate');
  const [r] = await locate(f.pid, [['rounds', 8]]);
  const mask = sigBlk(f.pid);
  const c = Console.attach(f.pid);
  assert.equal((await c.run('threads')).ok, true, c.stderr);
  c.send('call nap_clobber 800 --timeout 5000');
  await waitFor(() => sleeping(f.pid), 5000, 'the borrowed thread to sleep inside nap_clobber');
  c.kill('SIGKILL');
  await c.waitExit(5000);
  await waitFor(() => !isAlive(f.pid) || status(f.pid).tracerPid === 0, 2000, 'the kernel to detach');
  await waitFor(() => !isAlive(f.pid) || !sleeping(f.pid), 3000, 'nap_clobber to end');
  await sleep(50);
  assert.ok(isAlive(f.pid), `the target lives on: ${JSON.stringify(f.exit())}\n${f.lines.slice(-5).join('\n')}`);
  await assertStillChecking(f, r!.address, 'after the kill');
  assert.equal(sigBlk(f.pid), mask, 'signal mask as before the call');
  // Untraced, nothing stopped the stub's SIGURG: a program with a handler sees that one (documented in docs/faults.md).
  assert.ok(f.lines.filter((l) => l.startsWith('urgs=')).length <= 1);
  t.diagnostic(`held: killed inside nap_clobber; ymm8 intact, SigBlk ${mask}, ${f.lines.filter((l) => l.startsWith('urgs=')).length} SIGURG seen by the handler`);
});

test('returnstub: SIGKILL of hotpatch in the middle of a remote system call made through the stub page: the thread restores itself', { timeout: 60_000 }, async (t) => {
  const f = await startFixture('fault_sleeper');
  const mask = sigBlk(f.pid);
  // A tool process of our own: attach, make the stub page (a call), then a 1.5 s poll(NULL, 0, 1500) as a remote
  // system call, which goes through the page's own `syscall` now that it exists.
  const dir = mkdtempSync(join(tmpdir(), 'hp-stub-'));
  const script = join(dir, 'syscall.mjs');
  const dist = (p: string) => pathToFileURL(join(repoRoot, 'dist', 'src', p)).href;
  writeFileSync(script, [
    `import { Session } from ${JSON.stringify(dist('session.js'))};`,
    `import { runLine } from ${JSON.stringify(dist('cli/runner.js'))};`,
    'const session = new Session();',
    'const target = await session.attach(Number(process.argv[2]));',
    "const made = await runLine(session, 'call libc.so.6!getpid');",
    "if (!made?.ok || !(target.stub.known && target.stub.entries)) { console.log('no stub'); process.exit(3); }",
    "console.log('polling');",
    "await target.runSteps(target.borrowThread(), [{ kind: 'syscall', call: 7n, args: [0n, 0n, 1500n] }]);",
    "console.log('returned');",
  ].join('\n'));
  const tool = spawn(process.execPath, [...NODE_FLAGS, script, String(f.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  tool.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  tool.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  try {
    await waitFor(() => out.includes('polling') || out.includes('no stub'), 15_000, `the tool to reach its poll: ${out}`);
    assert.ok(out.includes('polling'), out);
    // poll is system call 7 on x86-64: the borrowed thread is inside it, entered from the stub page.
    await waitFor(() => syscallOf(f.pid) === 7, 5000, 'the thread to sit in poll');
    tool.kill('SIGKILL');
    await waitFor(() => !isAlive(f.pid) || status(f.pid).tracerPid === 0, 3000, 'the kernel to detach');
    const from = f.lines.length;
    await f.waitForLine(/^tick /, 4000, from); // the poll ends after 1.5 s, the stub puts the thread back
    await sleep(100);
    assert.ok(isAlive(f.pid), `the target lives on: ${JSON.stringify(f.exit())}`);
    assert.equal(sigBlk(f.pid), mask, 'its signal mask is its own again');
    const ns = f.lines.filter((l) => l.startsWith('tick ')).map((l) => Number(/n=(\d+)/.exec(l)![1]));
    assert.ok(ns.every((n, i) => i === 0 || n === ns[i - 1]! + 1), `ticks without a gap: ${ns.join(',')}`);
    assert.ok(!out.includes('returned'), 'the tool really died inside the system call');
    t.diagnostic(`held: killed inside a remote poll made through the stub; the target ran on (ticks 1..${ns.at(-1)})`);
  } finally {
    tool.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
