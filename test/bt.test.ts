// bt: backtraces of a running process's threads, checked against gdb's `thread apply all bt` and eu-stack on the same
// process (one tracer at a time: hotpatch has detached before either attaches), and on hotpatch's own code.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { startFixture, killAllFixtures, status, threadStates, patchPath, fixturePath } from './helpers/fixtures.js';
import { hotpatchOn, type JsonOutcome } from './helpers/cli.js';
import { backtrace, type OwnCode } from '../src/symbols/backtrace.js';
import { openElf } from '../src/elf/reader.js';
import { X86_64_DWARF_REGISTERS } from '../src/arch/x86_64/dwarf.js';
import type { AddressSpace } from '../src/symbols/space.js';

after(killAllFixtures);

const hasGdb = spawnSync('gdb', ['--version']).status === 0;
const hasEuStack = spawnSync('eu-stack', ['--version']).status === 0;

interface Frame {
  level: number;
  pc: string;
  function?: string;
  offset?: string;
  inlined: boolean;
  samePcAsInner?: boolean;
  file?: string;
  line?: number;
  module?: string;
  hotpatch?: boolean;
}
interface Thread {
  tid: number;
  name: string;
  frames: Frame[];
  end: { reason: string; limit?: number; bytes?: number; message?: string };
}

/** One name for one function whatever the tool: glibc's __GI_ aliases, leading underscores, @VERSION, .constprop.N. */
function normal(name: string): string {
  return name.replace(/^__GI_/, '').replace(/^_+/, '').replace(/@.*$/, '').replace(/\+0x[0-9a-f]+$/, '').replace(/\.(constprop|isra|part|cold)\.\d+$/, '');
}

/** gdb's `thread apply all bt`: per LWP, the function of each frame (inlined ones included), innermost first. */
function parseGdb(text: string): Map<number, string[]> {
  const threads = new Map<number, string[]>();
  let frames: string[] | undefined;
  for (const line of text.split('\n')) {
    const head = /^Thread \d+ \(.*\(LWP (\d+)\)/.exec(line);
    if (head) {
      frames = [];
      threads.set(Number(head[1]), frames);
      continue;
    }
    const frame = /^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(/.exec(line);
    if (frame && frames) frames.push(frame[1]!);
  }
  return threads;
}

/** eu-stack -p: per TID, the pc of each (machine) frame. */
function parseEuStack(text: string): Map<number, bigint[]> {
  const threads = new Map<number, bigint[]>();
  let pcs: bigint[] | undefined;
  for (const line of text.split('\n')) {
    const head = /^TID (\d+):/.exec(line);
    if (head) {
      pcs = [];
      threads.set(Number(head[1]), pcs);
      continue;
    }
    const frame = /^#\d+\s+0x([0-9a-f]+)/.exec(line);
    if (frame && pcs) pcs.push(BigInt(`0x${frame[1]}`));
  }
  return threads;
}

function btOf(outcome: JsonOutcome | undefined): Thread[] {
  assert.ok(outcome?.ok, `bt failed: ${JSON.stringify(outcome?.error)}`);
  return outcome.result.threads as Thread[];
}

async function untracedAndRunning(pid: number): Promise<void> {
  for (let i = 0; i < 100 && status(pid).tracerPid !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(status(pid).tracerPid, 0, 'detached');
  for (const [tid, state] of threadStates(pid)) assert.ok(state !== 't' && state !== 'T', `thread ${tid} left stopped (${state})`);
}

test('bt all: every thread of bt_threads, the same functions in the same order as gdb, the same pcs as eu-stack', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('bt_threads');
  // Give the main thread time to go from printing "ready" into its nanosleep.
  await new Promise((r) => setTimeout(r, 100));
  const run = await hotpatchOn(f.pid, 'bt all');
  assert.equal(run.code, 0, run.stderr);
  const threads = btOf(run.json[0]);
  await untracedAndRunning(f.pid);
  assert.equal(run.json[0]!.pause?.threads, 4, 'one stop of all 4 threads');

  const byTid = new Map(threads.map((th) => [th.tid, th]));
  assert.equal(threads[0]!.tid, f.pid, 'the main thread first');
  const names = (th: Thread) => th.frames.map((fr) => normal(fr.function ?? '??'));
  const chains = threads.map(names);
  const find = (fn: string) => chains.find((c) => c.includes(fn));
  // The chains the fixture sets up, each to its outermost frame.
  assert.deepEqual(chains[0], ['clock_nanosleep', 'nanosleep', 'level_b', 'level_a', 'main', 'libc_start_call_main', 'libc_start_main_impl', 'start']);
  assert.deepEqual(find('poll_helper'), ['poll', 'wait_in_poll', 'poll_helper', 'poll_worker', 'start_thread', 'clone3']);
  assert.deepEqual(find('recurse'), ['libc_pause', ...Array(6).fill('recurse'), 'recurse_worker', 'start_thread', 'clone3']);
  assert.deepEqual(find('read_blocked'), ['libc_read', 'libc_read', 'read_blocked', 'read_worker', 'start_thread', 'clone3']);
  for (const th of threads) assert.deepEqual(th.end, { reason: 'outermost' }, `thread ${th.tid} ends at its outermost frame`);

  // The inlined call is a frame of its own at the pc of the function that holds it, with the line of the call.
  const poller = threads.find((th) => names(th).includes('poll_helper'))!;
  const inlined = poller.frames[1]!;
  assert.equal(inlined.inlined, true);
  assert.equal(poller.frames[2]!.samePcAsInner, true, 'poll_helper shares the inlined frame’s pc');
  assert.match(`${inlined.file}:${inlined.line}`, /bt_threads\.c:\d+$/);
  // A static function is named, with its source line.
  assert.match(`${poller.frames[2]!.file}`, /bt_threads\.c$/);
  // The recursion, each level at the line of its call.
  const recursion = threads.find((th) => names(th).includes('recurse'))!;
  assert.deepEqual(new Set(recursion.frames.slice(2, 7).map((fr) => fr.line)).size, 1, 'one call site for levels 1..5');

  if (!hasGdb) {
    t.diagnostic('gdb not installed: the comparison with gdb is skipped');
  } else {
    const gdb = execFileSync('gdb', ['-batch', '-nx', '-p', String(f.pid), '-ex', 'thread apply all bt'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    const theirs = parseGdb(gdb);
    assert.deepEqual([...theirs.keys()].sort(), [...byTid.keys()].sort(), `the same threads\n${gdb}`);
    for (const [tid, frames] of theirs) {
      const ours = names(byTid.get(tid)!);
      // gdb stops at main (backtrace past-main is off); the rest it shows frame by frame.
      const upToMain = ours.includes('main') ? ours.slice(0, ours.indexOf('main') + 1) : ours;
      assert.deepEqual(upToMain, frames.map(normal), `thread ${tid}: ours ${ours.join(' < ')}\ngdb:\n${gdb}`);
    }
    await untracedAndRunning(f.pid);
  }

  if (!hasEuStack) {
    t.diagnostic('eu-stack not installed: the comparison with it is skipped');
  } else {
    const eu = execFileSync('eu-stack', ['-p', String(f.pid)], { encoding: 'utf8', timeout: 60_000 });
    for (const [tid, pcs] of parseEuStack(eu)) {
      const ours = byTid.get(tid)!.frames.filter((fr) => !fr.samePcAsInner).map((fr) => BigInt(fr.pc));
      assert.deepEqual(ours, pcs, `thread ${tid}: the machine frames' pcs\n${eu}`);
    }
    await untracedAndRunning(f.pid);
  }
  await f.stop();
});

test('bt TID stops that thread alone; --limit and a small --stack end the walk and say why', { timeout: 60_000 }, async () => {
  const f = await startFixture('bt_threads');
  await new Promise((r) => setTimeout(r, 100));
  const all = btOf((await hotpatchOn(f.pid, 'bt all')).json[0]);
  const recursive = all.find((th) => th.frames.some((fr) => fr.function === 'recurse'))!;
  const reader = all.find((th) => th.frames.some((fr) => fr.function === 'read_blocked'))!;

  const run = await hotpatchOn(f.pid, `bt ${recursive.tid}`, `bt ${recursive.tid} --limit 3`, `bt ${reader.tid} --stack 8`, 'bt', 'bt 1');
  const [one, limited, windowed, main, missing] = run.json;
  assert.deepEqual(btOf(one).map((th) => th.tid), [recursive.tid]);
  assert.equal(one!.pause?.threads, 1, 'only that thread stopped');
  assert.deepEqual(btOf(one)[0]!.frames.map((fr) => fr.function), recursive.frames.map((fr) => fr.function), 'the same stack as in bt all');

  const short = btOf(limited)[0]!;
  assert.equal(short.frames.length, 3);
  assert.deepEqual(short.end, { reason: 'limit', limit: 3 });

  // read_worker keeps 16 KiB of locals: with 8 KiB read at the stop, its caller's return address is out of reach.
  const cut = btOf(windowed)[0]!;
  assert.deepEqual(cut.frames.map((fr) => normal(fr.function ?? '??')).slice(-2), ['read_blocked', 'read_worker']);
  assert.deepEqual(cut.end, { reason: 'window', bytes: 8192 });

  assert.deepEqual(btOf(main).map((th) => th.tid), [f.pid], 'bt alone: the main thread');
  assert.equal(missing!.ok, false);
  assert.equal(missing!.error?.code, 'ESRCH');
  await untracedAndRunning(f.pid);
  await f.stop();
});

test('bt through a patch: a thread asleep in a replacement loaded with --method map (anonymous memory) is named from its file', { timeout: 60_000 }, async () => {
  // counter calls compute at each print; compute_sleepy sleeps 800 ms in it, so the main thread is nearly always there.
  const f = await startFixture('counter');
  const loaded = await hotpatchOn(f.pid, `load ${patchPath('patch_sleepy')} --method map`, 'redirect compute compute_sleepy');
  assert.equal(loaded.code, 0, loaded.stdout + loaded.stderr);
  let names: string[] = [];
  let frames: Frame[] = [];
  for (let attempt = 0; attempt < 5 && !names.includes('compute_sleepy'); attempt++) {
    await new Promise((r) => setTimeout(r, 100));
    frames = btOf((await hotpatchOn(f.pid, 'bt')).json[0])[0]!.frames;
    names = frames.map((fr) => normal(fr.function ?? '??'));
  }
  assert.deepEqual(names.slice(names.indexOf('compute_sleepy'), names.indexOf('main') + 1), ['compute_sleepy', 'main'], names.join(' < '));
  const patched = frames.find((fr) => fr.function === 'compute_sleepy')!;
  assert.equal(patched.module, 'patch_sleepy.so');
  assert.match(`${patched.file}:${patched.line}`, /patch_sleepy\.c:\d+$/);
  const undo = await hotpatchOn(f.pid, 'revert compute');
  assert.equal(undo.code, 0, undo.stdout);
  await untracedAndRunning(f.pid);
  await f.stop();
});

test('backtrace() over a made-up snapshot: a veneer and a trampoline are named for what they are and unwound; JIT code by its frame pointer', () => {
  const elf = openElf(fixturePath('bt_threads'));
  const bias = 0x5555_5555_4000n;
  const loads = elf.segments.filter((s) => s.type === 1);
  const module = {
    name: 'bt_threads', path: elf.path, loadBias: bias, maps: [],
    start: bias + loads.reduce((lo, s) => (s.vaddr < lo ? s.vaddr : lo), 1n << 60n),
    end: bias + loads.reduce((hi, s) => (s.vaddr + s.memsz > hi ? s.vaddr + s.memsz : hi), 0n),
  };
  // Only what backtrace() asks of an address space: names come from the fixture's debug information here.
  const space = { maps: [], modules: [module], elfOf: () => elf, symbolizeMany: (as: bigint[]) => as.map((a) => ({ address: a, offset: a })) } as unknown as AddressSpace;
  const symbol = (name: string) => bias + elf.symbols().find((s) => s.name === name)!.value;
  const veneer = 0x7000_0000_0000n;
  const trampoline = 0x7000_0000_1000n;
  const ownCode = (pc: bigint): OwnCode | undefined =>
    pc >= veneer && pc < veneer + 14n ? { name: 'hotpatch veneer -> level_b_v2 (patch #1)' }
      : pc >= trampoline && pc < trampoline + 32n ? { name: 'hotpatch trampoline: the original level_b (patch #2)', cfiAddress: symbol('level_b') + (pc - trampoline) }
        : undefined;
  const sp = 0x7ffc_0000_0000n;
  // A return address inside level_a (after its call), then nothing: level_a's caller's slot holds 0, the end.
  const returnIntoA = symbol('level_a') + 4n;
  const stackWith = (words: bigint[]) => {
    const b = Buffer.alloc(256);
    words.forEach((w, i) => b.writeBigUInt64LE(w, i * 8));
    return b;
  };
  const sources = { space, registerTable: X86_64_DWARF_REGISTERS, readTarget: () => Buffer.alloc(0), ownCode };
  const walk = (registers: Record<string, bigint>, words: bigint[]) =>
    backtrace({ registers, stack: stackWith(words), stackBytesAsked: 256 }, sources);

  // At a veneer (one jump): nothing pushed, the return address on top of the stack.
  const atVeneer = walk({ rip: veneer, rsp: sp, rbp: 0n }, [returnIntoA]);
  assert.deepEqual(atVeneer.frames.map((f) => [f.function, f.hotpatch ?? false]), [['hotpatch veneer -> level_b_v2 (patch #1)', true], ['level_a', false]]);
  assert.deepEqual(atVeneer.end, { reason: 'outermost' });

  // At a trampoline's first byte: level_b's own CFI at its entry applies.
  const atTrampoline = walk({ rip: trampoline, rsp: sp, rbp: 0n }, [returnIntoA]);
  assert.deepEqual(atTrampoline.frames.map((f) => f.function), ['hotpatch trampoline: the original level_b (patch #2)', 'level_a']);
  assert.equal(atTrampoline.frames[1]!.module, 'bt_threads');
  assert.match(`${atTrampoline.frames[1]!.file}:${atTrampoline.frames[1]!.line}`, /bt_threads\.c:\d+$/);

  // Code in no module and without CFI (JIT): rbp leads to the saved rbp and the return address above it.
  const jit = walk({ rip: 0x6000_0000_0000n, rsp: sp, rbp: sp + 16n }, [0n, 0n, 0n, returnIntoA]);
  assert.equal(jit.frames[0]!.function, undefined);
  assert.equal(jit.frames[0]!.viaFramePointer, true);
  assert.equal(jit.frames[1]!.function, 'level_a');

  // The same without a usable frame pointer: the walk says where it got stuck.
  const lost = walk({ rip: 0x6000_0000_0000n, rsp: sp, rbp: 0n }, []);
  assert.equal(lost.frames.length, 1);
  assert.equal(lost.end.reason, 'stuck');
  assert.match((lost.end as { message: string }).message, /no call frame information covers 0x600000000000 \(no module\)/);
});

test('bt all on node: C++ frames are demangled in one batch (node::Start, no _Z names), every thread named', { timeout: 60_000 }, async () => {
  const target = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const run = await hotpatchOn(target.pid!, 'bt all');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const threads = run.json[0].result.threads as { frames: { function?: string }[] }[];
    assert.ok(threads.length > 1, 'node runs several threads');
    const names = threads.flatMap((t) => t.frames.map((f) => f.function ?? ''));
    assert.ok(names.some((n) => n.startsWith('node::')), `a demangled node:: frame among ${names.join(', ')}`);
    assert.deepEqual(names.filter((n) => n.startsWith('_Z')), [], 'no mangled name left');
    assert.ok(!JSON.stringify(run.json[0].result).includes('"mangled"'), 'the bookkeeping stays out of the result');
    assert.equal(status(target.pid!).tracerPid, 0);
  } finally {
    process.kill(target.pid!, 'SIGKILL');
  }
});
