// Issue 11, redirect any function: entries shorter than a 5-byte jump (a 2-byte jump to a hop in padding), endbr64
// entries kept for indirect callers, stacked patches reverted in any order, and a warning when nothing reaches the
// entry (a function gcc inlined).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startFixture, killAllFixtures, status, parseFields, patchPath, type Fixture } from './helpers/fixtures.js';
import { hotpatchOn } from './helpers/cli.js';
import { encodeJmpRel8, jumpTargetOf } from '../src/arch/x86_64/index.js';

after(killAllFixtures);

const hp = (f: Fixture, ...cmds: string[]) => hotpatchOn(f.pid, ...cmds);
const mapsOf = (f: Fixture) => readFileSync(`/proc/${f.pid}/maps`, 'utf8');

async function fresh(f: Fixture): Promise<Record<string, number>> {
  await f.waitForLine(/^n=/, 3000, f.lines.length);
  return parseFields(await f.waitForLine(/^n=/, 3000, f.lines.length));
}

function ok(r: { code: number | null; stdout: string; stderr: string; json: { ok: boolean; command: string; error?: unknown }[] }, what: string): void {
  const failed = r.json.find((j) => !j.ok);
  assert.equal(r.code, 0, `${what}: ${failed ? `${failed.command}: ${JSON.stringify(failed.error)}` : r.stderr}`);
}

test('jmp rel8: encoded within -128..+127 of the end of the 2 bytes, refused beyond, and read back', () => {
  const cases: [bigint, bigint, string | undefined][] = [
    [0x1000n, 0x1002n, 'eb00'],
    [0x1000n, 0x1081n, 'eb7f'],
    [0x1000n, 0x1082n, undefined],
    [0x1000n, 0x0f82n, 'eb80'],
    [0x1000n, 0x0f81n, undefined],
    [0x1444n, 0x143bn, 'ebf5'],
  ];
  for (const [from, to, want] of cases) {
    const got = encodeJmpRel8(from, to);
    assert.equal(got === undefined ? undefined : Buffer.from(got).toString('hex'), want, `${from} -> ${to}`);
    if (got) assert.deepEqual(jumpTargetOf(got, from), { kind: 'rel8', size: 2, target: to });
  }
});

test('entries: 2- and 4-byte functions with no padding get a jmp rel8 to a hop; endbr64 stays at the entry; revert puts every byte back', { timeout: 90_000 }, async (t) => {
  const f = await startFixture('entries');
  const before = mapsOf(f);
  const names = ['dozen', 'compute2', 'cet_small', 'cet_long'];
  const original = await hp(f, ...names.map((n) => `peek ${n} 8`));
  ok(original, 'peek');
  const r = await hp(f, `load ${patchPath('patch_entries')}`, ...names.map((n) => `redirect ${n} ${n}_v2`), 'disasm dozen 1', 'disasm cet_small 2', 'disasm cet_long 2');
  ok(r, 'redirects');
  const [dozen, compute2, cetSmall, cetLong] = names.map((_, i) => r.json[1 + i]!.result);
  assert.equal(dozen.before, 'ebfa', 'dozen was a 2-byte tail jump');
  assert.match(dozen.after, /^eb/, 'a jmp rel8 at dozen');
  assert.ok(dozen.hop, 'to a hop');
  assert.match(compute2.after, /^eb/);
  assert.ok(compute2.hop);
  assert.notEqual(dozen.hop.address, compute2.hop.address, 'two hops never share bytes');
  assert.equal(BigInt(cetSmall.at) - BigInt(cetSmall.from), 4n, 'the jump goes after the endbr64');
  assert.ok(cetSmall.hop, 'cet_small has 4 bytes after its endbr64: a hop');
  assert.equal(cetLong.hop, undefined, 'cet_long has room for the 5-byte jump after its endbr64');
  assert.match(cetLong.after, /^e9/);
  for (const p of [dozen, compute2, cetSmall, cetLong]) assert.match(p.trampolineBytes, /^f30f1efa/, 'a trampoline begins with endbr64 (reached through hp_orig_)');
  const dis = r.json[5]!.result;
  assert.equal(dis[0].mnemonic, 'jmp');
  assert.match(dis[0].comment ?? '', /hotpatch hop/, 'disasm names the hop');
  const cetDis = r.json[6]!.result;
  assert.equal(cetDis[0].mnemonic, 'endbr64');
  assert.equal(cetDis[1].mnemonic, 'jmp');
  const a = await fresh(f);
  assert.equal(a.dozen, a.n + 12 + 1000, 'dozen_v2 runs and calls the original through hp_orig_');
  assert.equal(a.c2, 2 * a.n + 1000);
  assert.equal(a.cs, 2 * a.n + 1000);
  assert.equal(a.cl, 5 * a.n + 7 * (a.n >> 3) - (a.n & 3) + 1000);
  const back = await hp(f, 'revert all', ...names.map((n) => `peek ${n} 8`), 'unload patch_entries.so', 'cleanup');
  ok(back, 'revert');
  for (let i = 0; i < names.length; i++) assert.equal(back.json[1 + i]!.result.hex, original.json[i]!.result.hex, `${names[i]} is itself again`);
  for (const p of [dozen, compute2, cetSmall]) {
    const hop = await hp(f, `peek ${p.hop.address} 5`);
    assert.equal(hop.json[0]!.result.hex, p.hop.before, 'the hop is padding again');
  }
  const b = await fresh(f);
  assert.deepEqual([b.dozen, b.c2, b.cs], [b.n + 12, 2 * b.n, 2 * b.n]);
  assert.equal(mapsOf(f), before, 'the map is as it was');
  t.diagnostic(`held: dozen (${dozen.before}) -> hop ${dozen.hop.address}, compute2 -> hop ${compute2.hop.address}, cet_small after endbr64 -> hop, cet_long after endbr64 rel32/veneer; all reverted byte for byte`);
});

test('entries: a tiny function with nothing in reach for a hop is refused, saying what was searched; nothing changes', { timeout: 60_000 }, async () => {
  const f = await startFixture('entries');
  const before = mapsOf(f);
  const code = await hp(f, 'peek lonely 8');
  const r = await hp(f, `load ${patchPath('patch_entries')}`, 'redirect lonely lonely_v2');
  assert.equal(r.json[1]!.ok, false);
  assert.equal(r.json[1]!.error!.code, 'E_NO_HOP');
  assert.match(r.json[1]!.error!.message, /searched padding between functions of entries within 0x[0-9a-f]+\.\.0x[0-9a-f]+/);
  const after_ = await hp(f, 'peek lonely 8', 'patches', 'unload patch_entries.so', 'cleanup');
  ok(after_, 'after');
  assert.equal(after_.json[0]!.result.hex, code.json[0]!.result.hex);
  assert.deepEqual(after_.json[1]!.result, []);
  assert.equal(mapsOf(f), before);
});

test('entries: stacked patches 200, 300, 400 on one function, reverted out of order by another hotpatch process each time', { timeout: 90_000 }, async (t) => {
  const f = await startFixture('entries');
  const before = mapsOf(f);
  const r = await hp(f, ...[200, 300, 400].map((n) => `load ${patchPath(`patch_layer_${n}`)}`), ...[200, 300, 400].map((n) => `redirect stackme patch_layer_${n}.so!layer_add`), 'patches');
  ok(r, 'stack');
  const [l200, l300, l400] = [r.json[3]!.result, r.json[4]!.result, r.json[5]!.result];
  assert.equal(l200.stackedOn, undefined);
  assert.equal(l300.stackedOn, l200.id);
  assert.equal(l400.stackedOn, l300.id);
  assert.equal(l400.trampoline, l200.trampoline, 'one trampoline for the whole stack');
  const shift = async () => {
    const s = await fresh(f);
    return s.stack - s.n;
  };
  assert.equal(await shift(), 900, 'each layer calls the one below through hp_orig_, the bottom one the original');
  const seen: number[] = [900];
  for (const [id, want] of [[l300.id, 600], [l200.id, 400], [l400.id, 0]] as [number, number][]) {
    const back = await hp(f, `revert ${id}`, 'patches');
    ok(back, `revert ${id}`);
    assert.equal(await shift(), want, `after reverting #${id}`);
    seen.push(want);
  }
  const end = await hp(f, 'patches', ...[200, 300, 400].map((n) => `unload patch_layer_${n}.so`), 'cleanup');
  ok(end, 'unload');
  assert.deepEqual(end.json[0]!.result, []);
  assert.equal(mapsOf(f), before);
  t.diagnostic(`held: stackme shifted by ${seen.join(' -> ')} (revert 300, 200, 400)`);
});

test('entries: 8 threads call a 4-byte function flat out while it is redirected through a hop and reverted 15 times: no wrong result', { timeout: 120_000 }, async (t) => {
  const f = await startFixture('entries', ['20', '8']);
  const cmds = [`load ${patchPath('patch_entries')}`];
  for (let i = 0; i < 15; i++) cmds.push('redirect compute2 compute2_same', 'revert compute2');
  cmds.push('unload patch_entries.so');
  const r = await hp(f, ...cmds);
  ok(r, 'cycles');
  const line = parseFields(await f.waitForLine(/^n=/, 3000, f.lines.length));
  assert.equal(line.wrong, 0, 'no worker saw a wrong result');
  assert.ok(line.calls > 1000, `the workers ran (${line.calls} calls)`);
  assert.equal(status(f.pid).tracerPid, 0);
  t.diagnostic(`held: wrong=0 over ${line.calls} calls, 30 writes`);
});

test('entries: a redirect of a function gcc inlined into its only caller warns that the jump changes nothing there', { timeout: 60_000 }, async () => {
  const f = await startFixture('entries');
  const r = await hp(f, `load ${patchPath('patch_entries')}`, 'redirect work work_v2', 'redirect compute2 compute2_v2');
  ok(r, 'redirects');
  const warnings: string[] = r.json[1]!.result.warnings;
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^work has no callers; main inlined it \(entries\.c:\d+\): the jump changes nothing there$/);
  assert.equal(r.json[2]!.result.warnings, undefined, 'compute2 has callers: no warning');
  const a = await fresh(f);
  assert.equal(a.work, 3 * a.n + 1, 'and indeed main prints the original');
  ok(await hp(f, 'revert all', 'unload patch_entries.so'), 'back');
});
