// Issue 10: patches that read and write the program's `__thread` variables, by both load methods and both TLS models; refusals before anything happens, with no hint circle.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { openElf } from '../src/elf/reader.js';
import { PT_TLS } from '../src/elf/constants.js';
import { executableTlsBlockOffset, executableThreadPointerOffset } from '../src/arch/x86_64/index.js';
import { startFixture, killAllFixtures, fixtureBuildDir, fixturePath, parseFields, patchPath, status, type Fixture } from './helpers/fixtures.js';
import { hotpatchOn } from './helpers/cli.js';

after(killAllFixtures);

const hp = (f: Fixture, ...cmds: string[]) => hotpatchOn(f.pid, ...cmds);

// ---------------------------------------------------------------------------------------------------------------
// the pure part: where ld.so puts the executable's TLS block

test('executable TLS block offset from PT_TLS, as ld.so computes l_tls_offset for the first module', () => {
  const cases: [string, { vaddr: bigint; memsz: bigint; align: bigint }, bigint][] = [
    ['aligned image, size a multiple of the alignment', { vaddr: 0x3db8n, memsz: 0x20n, align: 8n }, 0x20n],
    ['size rounded up to the alignment', { vaddr: 0x3db8n, memsz: 0x1cn, align: 8n }, 0x20n],
    ['a large alignment', { vaddr: 0x4000n, memsz: 0x44n, align: 64n }, 0x80n],
    ['an image that starts 4 bytes past an 8-byte boundary keeps that remainder', { vaddr: 0x3db4n, memsz: 0x1cn, align: 8n }, 0x1cn],
    ['misaligned by 12 in 16', { vaddr: 0x100cn, memsz: 0x30n, align: 16n }, 0x34n],
    ['p_align 0 counts as 1', { vaddr: 0x1003n, memsz: 5n, align: 0n }, 5n],
    ['p_align 1', { vaddr: 0x1003n, memsz: 5n, align: 1n }, 5n],
  ];
  for (const [what, segment, offset] of cases) {
    const got = executableTlsBlockOffset(segment);
    assert.equal(got, offset, what);
    // The invariants ld.so keeps: the block fits below the thread pointer, and (with an aligned thread pointer)
    // starts at an address congruent to p_vaddr modulo p_align.
    const align = segment.align || 1n;
    assert.ok(got >= segment.memsz, `${what}: the block fits`);
    assert.equal(((-got % align) + align) % align, segment.vaddr % align, `${what}: alignment kept`);
  }
  assert.equal(executableThreadPointerOffset({ vaddr: 0x3db8n, memsz: 0x20n, align: 8n }, 0x1cn), -4n);
});

test('the computed thread-pointer offset matches every thread of the running program (fs_base and &tls_counter)', async () => {
  const f = await startFixture('tls_main');
  const elf = openElf(fixturePath('tls_main'));
  const segment = elf.segments.find((s) => s.type === PT_TLS)!;
  const counter = elf.symbols().find((s) => s.name === 'tls_counter' && s.type === 'tls')!;
  assert.ok(counter.value > 0n, 'tls_counter does not sit at the start of the block (tls_pad is before it)');
  const offset = executableThreadPointerOffset(segment, counter.value);
  const workers = f.lines.filter((l) => l.startsWith('tls id=')).map((l) => ({ tid: Number(/tid=(\d+)/.exec(l)![1]), addr: BigInt(/addr=(0x[0-9a-f]+)/.exec(l)![1]!) }));
  assert.equal(workers.length, 3, f.lines.join('\n'));
  const r = await hp(f, ...workers.map((w) => `regs ${w.tid}`));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const [i, w] of workers.entries()) {
    const fsBase = BigInt(r.json[i]!.result.registers.fs_base);
    assert.equal(fsBase + offset, w.addr, `thread ${w.tid}: fs_base 0x${fsBase.toString(16)} + (${offset}) is &tls_counter`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// reading and writing each thread's own variable

/** The next line of each worker (1..3) printed after `from`, skipping the one that may have been under way. */
async function workerLines(f: Fixture, from: number): Promise<Map<number, Record<string, number>>> {
  const out = new Map<number, Record<string, number>>();
  for (const id of [1, 2, 3]) {
    const re = new RegExp(`^id=${id} `);
    const first = await f.waitForLine(re, 3000, from);
    const second = await f.waitForLine(re, 3000, f.lines.indexOf(first, from) + 1);
    out.set(id, parseFields(second));
  }
  return out;
}

for (const method of ['dlopen', 'map'] as const) {
  for (const [model, patch] of [['general dynamic', 'patch_tls'], ['initial exec', 'patch_tls_ie']] as const) {
    test(`${method}, ${model}: the patch reads and writes each thread's own static __thread variable`, async () => {
      const f = await startFixture('tls_main');
      const r = await hp(f, `load ${patchPath(patch)} --method ${method}`, 'call read_tls', 'redirect bump bump_v2');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lib = r.json[0]!.result;
      const counter = lib.bindings.find((b: any) => b.name === 'tls_counter');
      assert.deepEqual({ description: counter.description, tlsOffset: counter.tlsOffset, hidden: counter.hidden, address: counter.address },
        { description: 'tls_counter', tlsOffset: '0x1c', hidden: true, address: undefined }, 'bound by offset, never by an address');
      const global = lib.bindings.find((b: any) => b.name === 'tls_global');
      assert.equal(global.hidden, false, 'the exported tls_global is one the dynamic linker can bind');
      // `call` borrows the main thread (asleep in pause), whose tls_counter is 42.
      assert.equal(r.json[1]!.result.tid, f.pid);
      assert.equal(r.json[1]!.result.int, 42, 'the patch read the borrowed thread\'s variable');
      const lines = await workerLines(f, f.lines.length);
      for (const [id, l] of lines) {
        assert.equal(Math.floor(l.before! / 1_000_000), id, `thread ${id} has its own value: ${JSON.stringify(l)}`);
        assert.equal(l.ret, l.before, `thread ${id}: the patch saw this thread's value`);
        assert.equal(l.after, l.before! + 1000, `thread ${id}: the patch's write landed in this thread's variable`);
        assert.equal(l.global, l.before, `thread ${id}: and in its tls_global`);
      }
      // Recorded like any other load: revert and unload work.
      const back = await hp(f, 'revert bump', `unload ${patch}.so`, 'libs');
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.deepEqual(back.json[2]!.result, []);
      for (const [id, l] of await workerLines(f, f.lines.length)) assert.equal(l.ret, l.before! + 1, `thread ${id}: the original bump again`);
      assert.equal(status(f.pid).tracerPid, 0);
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// refusals: before anything happens in the target, and never a hint towards a method that refuses too

let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hp-tls-'));
  const sources: Record<string, string> = {
    // A library of the target with a static and an exported thread-local variable, and a program using it.
    'dep.c': 'static __thread int dep_hidden = 7;\n__thread int dep_public = 9;\nint dep_touch(void) { return ++dep_hidden + dep_public; }\n',
    'user.c': '#include <stdio.h>\n#include <unistd.h>\nint dep_touch(void);\nint main(void) { setvbuf(stdout, NULL, _IOLBF, 0); dep_touch(); printf("ready pid=%d\\n", (int)getpid()); for (;;) pause(); }\n',
    'lib_hidden.c': 'extern __thread int dep_hidden __attribute__((weak));\nint read_hidden(void) { return dep_hidden; }\n',
    'lib_public.c': 'extern __thread int dep_public;\nint read_public(void) { return dep_public; }\n',
    // Both methods refuse: its own __thread (map) and a strong reference to a static function (dlopen).
    'both.c': 'extern int bump(void);\n__thread int mine;\nint both(void) { return bump() + ++mine; }\n',
    // dlopen refuses (a strong reference to a static thread-local), map accepts.
    'strong.c': 'extern __thread int tls_counter;\nint read_strong(void) { return tls_counter; }\n',
    // Declared without __thread: not what the program has.
    'plain.c': 'extern int tls_counter __attribute__((weak));\nint read_plain(void) { return tls_counter; }\n',
  };
  for (const [name, text] of Object.entries(sources)) writeFileSync(join(dir, name), text);
  const gcc = (args: string[]) => execFileSync('gcc', ['-O2', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  gcc(['-shared', '-fPIC', '-o', 'libtlsdep.so', 'dep.c']);
  gcc(['-o', 'tlsuser', 'user.c', '-L.', '-ltlsdep', '-Wl,-rpath,$ORIGIN']);
  for (const base of ['lib_hidden', 'lib_public', 'both', 'strong', 'plain']) gcc(['-shared', '-fPIC', '-o', `${base}.so`, `${base}.c`]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const maps = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8');

/** Runs a load that must be refused and checks the process is exactly as it was: same mappings, nothing recorded. */
async function refused(f: Fixture, cmd: string, code: string): Promise<{ message: string; hint: string }> {
  const before = maps(f.pid);
  const r = await hp(f, cmd);
  assert.equal(r.code, 1, `${cmd}: ${r.stdout}`);
  const e = r.json[0]!.error!;
  assert.equal(e.code, code, `${cmd}: ${JSON.stringify(e)}`);
  assert.equal(maps(f.pid), before, `${cmd}: the target's mappings are exactly as before`);
  const libs = await hp(f, 'libs');
  assert.deepEqual(libs.json[0]!.result, [], `${cmd}: nothing recorded`);
  return { message: e.message, hint: e.hint ?? '' };
}

test('a library\'s static thread-local: both methods refuse before touching the target, the hint names neither', async () => {
  const f = await startFixture(relative(fixtureBuildDir, join(dir, 'tlsuser')));
  for (const method of ['dlopen', 'map']) {
    const e = await refused(f, `load ${join(dir, 'lib_hidden.so')} --method ${method}`, 'E_UNSUPPORTED_RELOC');
    assert.match(e.message, /dep_hidden is a thread-local variable of libtlsdep\.so, not of the executable/);
    assert.match(e.message, /executable's thread-local variables only/, 'names what is supported');
    assert.doesNotMatch(e.hint, /--method/, `no circle: ${e.hint}`);
    assert.match(e.hint, /cannot either, for the same reason/);
  }
});

test('a library\'s exported thread-local: map refuses and points to dlopen, which loads it and the dynamic linker binds it', async () => {
  const f = await startFixture(relative(fixtureBuildDir, join(dir, 'tlsuser')));
  const e = await refused(f, `load ${join(dir, 'lib_public.so')} --method map`, 'E_UNSUPPORTED_RELOC');
  assert.match(e.message, /dep_public is a thread-local variable of libtlsdep\.so/);
  assert.match(e.hint, /--method dlopen, which accepts it/);
  const ok = await hp(f, `load ${join(dir, 'lib_public.so')}`, 'call read_public');
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.json[1]!.result.int, 9);
});

test('both methods refuse the same file: each says why the other cannot either; dlopen-only and map-only refusals point to the other', async () => {
  const f = await startFixture('tls_main');
  const viaDlopen = await refused(f, `load ${join(dir, 'both.so')} --method dlopen`, 'E_NEEDS_WEAK');
  const viaMap = await refused(f, `load ${join(dir, 'both.so')} --method map`, 'E_UNSUPPORTED_RELOC');
  for (const e of [viaDlopen, viaMap]) {
    assert.doesNotMatch(e.hint, /--method/, `no circle: ${e.hint}`);
    assert.match(e.hint, /refuses it too: /);
  }
  assert.match(viaDlopen.hint, /PT_TLS/, 'why map cannot');
  assert.match(viaMap.hint, /bump/, 'why dlopen cannot');

  // A strong reference to the static tls_counter: the dynamic linker cannot bind it, the map loader can.
  const strong = await refused(f, `load ${join(dir, 'strong.so')}`, 'E_NEEDS_WEAK');
  assert.match(strong.hint, /--method map, which accepts it/);
  const ok = await hp(f, `load ${join(dir, 'strong.so')} --method map`, 'call read_strong');
  assert.equal(ok.code, 0, ok.stdout);
  assert.equal(ok.json[1]!.result.int, 42);

  // Declared without __thread: refused as a mismatch, by name.
  const plain = await hp(f, `load ${join(dir, 'plain.so')}`);
  assert.equal(plain.json[0]!.error!.code, 'E_TLS_MISMATCH');
  assert.match(plain.json[0]!.error!.hint!, /extern __thread/);
});

test('syms lists thread-local variables by offset; peek refuses one with where a thread\'s copy lies; --bind picks one', async () => {
  const f = await startFixture('tls_main');
  const r = await hp(f, 'syms tls_counter', 'syms --type tls --module tls_main');
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json[0]!.result.map((s: any) => [s.name, s.tlsOffset, s.type, s.file, s.address]), [['tls_counter', '0x1c', 'tls', 'tls_main.c', undefined]]);
  assert.deepEqual(r.json[1]!.result.map((s: any) => s.name).sort(), ['tls_counter', 'tls_global', 'tls_pad']);
  const peek = await hp(f, 'peek tls_counter');
  const e = peek.json[0]!.error!;
  assert.equal(e.code, 'E_TLS_SYMBOL');
  assert.match(e.message, /thread-local variable .*no single address/);
  assert.match(e.hint!, /\$fs_base-0x4/);
  const main = await hp(f, 'peek $fs_base-0x4 4 --as i32');
  assert.deepEqual(main.json[0]!.result.values, [42], 'the hint leads to the main thread\'s copy');
  const bound = await hp(f, `load ${patchPath('patch_tls')} --bind tls_counter=tls_main.c:tls_counter`, 'call read_tls');
  assert.equal(bound.code, 0, bound.stdout);
  assert.equal(bound.json[0]!.result.bindings.find((b: any) => b.name === 'tls_counter').tlsOffset, '0x1c');
  assert.equal(bound.json[1]!.result.int, 42);
});
