// Names on live fixtures: every ambiguity lists spellings that each pick their own place; a plain name takes what the dynamic linker binds.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, patchPath, type Fixture } from './helpers/fixtures.js';
import { hotpatchOn, runCli } from './helpers/cli.js';

after(killAllFixtures);

const hp = (f: Fixture, ...cmds: string[]) => hotpatchOn(f.pid, ...cmds);

function assertLeftRunning(f: Fixture) {
  const st = status(f.pid);
  assert.equal(st.tracerPid, 0, 'not traced any more');
  assert.ok(!['t', 'T'].includes(st.state), `not stopped (${st.stateText})`);
}

/** The `spelling (0x…)` pairs an ambiguity error lists, as [spelling, address]. */
function listed(message: string): [string, string][] {
  return [...message.matchAll(/(\S+) \((0x[0-9a-f]+)\)/g)].map((m) => [m[1]!, m[2]!]);
}

test('three copies of one patch library (one mapped, two dlopened): each listed spelling, #ID and path, picks its own copy', async () => {
  const f = await startFixture('counter', ['50']);
  const dir = mkdtempSync(join(tmpdir(), 'hp-names-'));
  try {
    const copies = ['a', 'b', 'c'].map((d) => {
      mkdirSync(join(dir, d));
      const path = join(dir, d, 'patch_tick.so');
      copyFileSync(patchPath('patch_tick'), path);
      return path;
    });
    const loaded = await hp(f, `load ${copies[0]} --method map`, `load ${copies[1]}`, `load ${copies[2]}`, 'libs');
    assert.equal(loaded.code, 0, loaded.stdout + loaded.stderr);
    const ids = loaded.json[3]!.result.map((l: { id: number; path: string }) => [l.path, l.id]) as [string, number][];
    assert.deepEqual(ids.map(([path]) => path), copies);

    const bad = await hp(f, 'disasm tick_v2');
    assert.equal(bad.code, 1);
    const error = bad.json[0]!.error!;
    assert.equal(error.code, 'E_AMBIGUOUS_SYMBOL');
    assert.match(error.hint!, /^type one of the listed spellings to pick one, e\.g\. #\d+!tick_v2$/);
    const spellings = listed(error.message);
    assert.deepEqual(spellings.map(([s]) => s).sort(), ids.map(([, id]) => `#${id}!tick_v2`).sort(), error.message);
    assert.equal(new Set(spellings.map(([, a]) => a)).size, 3, 'three places');

    // Each listed spelling, and each copy's full path, resolves to that copy's address alone.
    const byPath = copies.map((p) => `${p}!tick_v2`);
    const peeks = await hp(f, ...spellings.map(([s]) => `peek ${s} 1`), ...byPath.map((s) => `peek ${s} 1`));
    assert.equal(peeks.code, 0, peeks.stdout + peeks.stderr);
    spellings.forEach(([s, address], i) => assert.equal(peeks.json[i]!.result.address, address, s));
    const addressOfId = new Map(spellings.map(([s, a]) => [Number(s.slice(1, s.indexOf('!'))), a]));
    byPath.forEach((s, i) => assert.equal(peeks.json[spellings.length + i]!.result.address, addressOfId.get(ids[i]![1]), s));

    // The copies are distinct code: calling each through its spelling runs it (tick_v2(x) = x + 2).
    const calls = await hp(f, ...spellings.map(([s]) => `call ${s} 40`));
    assert.equal(calls.code, 0, calls.stdout);
    for (const c of calls.json) assert.equal(c.result.int, 42);
    assert.deepEqual(calls.json.map((c) => c.result.address).sort(), spellings.map(([, a]) => a).sort());

    const unknown = await hp(f, 'peek #99!tick_v2');
    assert.equal(unknown.json[0]!.error!.code, 'E_UNKNOWN_MODULE');
    assert.match(unknown.json[0]!.error!.hint!, new RegExp(`#${ids[0]![1]} patch_tick.so`));
    assertLeftRunning(f);
  } finally {
    await f.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('binding a patch to a static defined twice lists spellings that --bind accepts as they are', async () => {
  const f = await startFixture('statics');
  const bad = await hp(f, `load ${patchPath('patch_ambig')}`);
  assert.equal(bad.code, 1);
  const error = bad.json[0]!.error!;
  assert.equal(error.code, 'E_AMBIGUOUS_SYMBOL');
  const spellings = listed(error.message);
  assert.deepEqual(spellings.map(([s]) => s).sort(), ['statics_a.c:counter', 'statics_b.c:counter']);
  const hinted = /--bind counter=(\S+)$/.exec(error.hint!);
  assert.ok(hinted && spellings.some(([s]) => s === hinted[1]), error.hint);
  const good = await hp(f, `load ${patchPath('patch_ambig')} --bind counter=${hinted![1]}`, 'libs');
  assert.equal(good.code, 0, good.stdout);
  const bound = good.json[0]!.result.bindings.find((b: { name: string }) => b.name === 'counter');
  assert.equal(bound.address, spellings.find(([s]) => s === hinted![1])![1]);
  assertLeftRunning(f);
});

test('a plain name takes the executable\'s exported definition first (load order), never a static; the choice is said', async () => {
  const f = await startFixture('interpose');
  const r = await hp(f, 'call getpid', 'peek getpid_calls --as i32', 'call getpagesize', 'call interpose.c:getpagesize', 'disasm getpid 1');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [pid, calls, page, staticPage, disasm] = r.json;
  assert.equal(pid!.result.function, 'interpose!getpid');
  assert.equal(pid!.result.int, f.pid);
  assert.match(pid!.notes?.[0] ?? '', /^getpid: [23] definitions; chose interpose!getpid \(what the dynamic linker binds\)$/);
  assert.deepEqual(calls!.result.values, [2], 'the executable\'s getpid ran: once at start, once for the call');
  // libc's getpagesize is exported; the executable's static one (returning 1) is not, and never wins this way.
  assert.equal(page!.result.function, 'libc.so.6!getpagesize');
  assert.equal(page!.result.int, 4096);
  assert.match(page!.notes?.[0] ?? '', /^getpagesize: 2 definitions; chose libc\.so\.6!getpagesize/);
  assert.equal(staticPage!.result.int, 1);
  assert.equal(staticPage!.notes, undefined, 'a qualified name chooses nothing');
  assert.match(disasm!.notes?.[0] ?? '', /chose interpose!getpid/);
  assert.equal(disasm!.result[0].address, pid!.result.address);

  const plain = await runCli(['-p', String(f.pid), '-e', 'call getpid']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^note: getpid: [23] definitions; chose interpose!getpid \(what the dynamic linker binds\)\ninterpose!getpid\(\) = \d+ /);
  assertLeftRunning(f);
});

test('getpid in a program that does not define it is libc\'s; two statics of one name stay ambiguous', async () => {
  const counter = await startFixture('counter', ['50']);
  const r = await hp(counter, 'syms getpid', 'call getpid');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const definitions = r.json[0]!.result.filter((s: { name: string }) => s.name === 'getpid');
  const call = r.json[1]!;
  assert.equal(call.result.int, counter.pid);
  if (definitions.length > 1) {
    // ld.so's own copy in its .symtab (most distributions keep it): the choice must be libc's, and said.
    assert.equal(call.result.function, 'libc.so.6!getpid');
    assert.match(call.notes?.[0] ?? '', /chose libc\.so\.6!getpid/);
  } else {
    assert.equal(call.result.function, 'getpid');
  }
  assertLeftRunning(counter);

  const statics = await startFixture('statics');
  const bad = await hp(statics, 'call helper 1');
  assert.equal(bad.code, 1);
  assert.equal(bad.json[0]!.error!.code, 'E_AMBIGUOUS_SYMBOL');
  assert.deepEqual(listed(bad.json[0]!.error!.message).map(([s]) => s).sort(), ['statics_a.c:helper', 'statics_b.c:helper']);
  assertLeftRunning(statics);
});
