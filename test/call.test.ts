// call on a live fixture: whole 64-bit results (exact in JSON), --str and --type; every option documented; `revert all` with nothing.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startFixture, killAllFixtures, status, type Fixture } from './helpers/fixtures.js';
import { hotpatchOn, runCli } from './helpers/cli.js';
import { allCommands } from '../commands/index.js';

let f: Fixture;
before(async () => {
  f = await startFixture('counter', ['50']);
});
after(killAllFixtures);

const plain = async (...cmds: string[]) => {
  const r = await runCli(['-p', String(f.pid), ...cmds.flatMap((c) => ['-e', c])]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  // Each command's output, its pause line dropped.
  return r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('paused '));
};

test('64-bit results are shown whole: above 2^32, negative, beyond 2^53 (a string in JSON), and an int\'s -1 read as such', async () => {
  const r = await hotpatchOn(f.pid, 'call wide_value 3', 'call wide_value -1', 'call wide_value 0x12345678', 'call compute -1', 'call compute -1 --type int', 'call wide_value -1 --type long');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [above, negative, huge, int, asInt, asLong] = r.json.map((o) => o.result);
  assert.deepEqual([above.returned, above.value, above.unsigned, above.int], ['0x300000000', 12884901888, 12884901888, 0]);
  assert.deepEqual([negative.returned, negative.value, negative.unsigned], ['0xffffffff00000000', -4294967296, '18446744069414584320']);
  assert.deepEqual([huge.returned, huge.value, huge.unsigned], ['0x1234567800000000', '1311768464867721216', '1311768464867721216']);
  assert.equal(int.int, -2);
  assert.equal(asInt.type, 'int');
  assert.equal(asLong.value, -4294967296);

  const lines = await plain('call wide_value 3', 'call wide_value -1', 'call wide_value 0x12345678', 'call compute -1', 'call compute -1 --type int', 'call wide_value 1 --type void');
  assert.deepEqual(lines, [
    'wide_value(3) = 12884901888 (0x300000000)',
    'wide_value(-1) = -4294967296 (0xffffffff00000000)',
    'wide_value(0x12345678) = 1311768464867721216 (0x1234567800000000)',
    'compute(-1) = 4294967294 (0xfffffffe; as int -2)',
    'compute(-1) = -2 (0xfffffffe)',
    'wide_value(1) returned (void)',
  ]);
});

test('--str reads the returned char * from the process: quoted and escaped, NULL as NULL, an unreadable pointer said plainly', async () => {
  const r = await hotpatchOn(f.pid, 'call greeting --str', 'call compute 0 --str', 'call compute 8 --type str');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [text, nul, bad] = r.json.map((o) => o.result);
  assert.equal(text.string, 'hello "hotpatch"\n\ttab');
  assert.equal(text.type, 'str');
  assert.equal(nul.string, null);
  assert.equal(bad.string, null);
  assert.match(bad.stringError, /0x10 is not a readable address/);

  const lines = await plain('call greeting --str', 'call compute 0 --str', 'call compute 8 --str');
  assert.match(lines[0]!, /^greeting\(\) = 0x[0-9a-f]+ "hello \\"hotpatch\\"\\n\\ttab"$/);
  assert.equal(lines[1], 'compute(0) = NULL');
  assert.equal(lines[2], 'compute(8) = 0x10 (not a string: 0x10 is not a readable address)');

  const clash = await hotpatchOn(f.pid, 'call greeting --str --type int');
  assert.equal(clash.json[0]!.error!.code, 'E_USAGE');
  assert.equal(status(f.pid).tracerPid, 0);
});

test('every option of every command says what it does in `help COMMAND`', async () => {
  const undocumented = allCommands().flatMap((c) => (c.options ?? []).filter((o) => !o.help?.trim()).map((o) => `${c.name} --${o.name}`));
  assert.deepEqual(undocumented, []);
  const r = await runCli(['-e', 'help call']);
  assert.equal(r.code, 0, r.stderr);
  for (const option of ['--str', '--type', '--timeout MS']) assert.match(r.stdout, new RegExp(`${option}\\b`));
  assert.match(r.stdout, /give up after MS milliseconds/);
});

test('revert all with nothing applied says "nothing to revert"', async () => {
  assert.deepEqual(await plain('revert all'), ['nothing to revert']);
});
