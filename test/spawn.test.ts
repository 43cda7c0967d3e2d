// Attach by name (pgrep's meaning), Tab after `attach`, and starting a program: hotpatch -- PROG ARGS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath, status } from './helpers/fixtures.js';
import { runCli, runCliJson, type JsonOutcome } from './helpers/cli.js';
import { complete, type CompletionSource } from '../src/ui/complete.js';
import { allCommands } from '../commands/index.js';
import { listProcesses, processesNamed } from '../src/process/find.js';
import { openingLine, parseCli } from '../src/cli/args.js';
import { splitWords } from '../src/command.js';

const dir = mkdtempSync(join(tmpdir(), 'hotpatch-spawn-'));
// A name no other process has (other tests run fixtures named counter): the counter fixture under it.
const unique = `hpn${process.pid}`.slice(0, 15);
const program = join(dir, unique);
copyFileSync(fixturePath('counter'), program);
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a copy of the counter named `unique`; resolves once it runs as that program (its exec done). */
async function startCopy(...args: string[]): Promise<number> {
  const child = spawn(program, args, { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  const named = () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === unique;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 500 && !named(); i++) await new Promise((r) => setTimeout(r, 10));
  return pid;
}

const gone = (pid: number) => !existsSync(`/proc/${pid}`) || status(pid).state === 'Z';

test('attach NAME: one process of that name is attached to, by the CLI and by the attach command', async () => {
  const pid = await startCopy();
  const r = await runCliJson<JsonOutcome>([unique, '--json', '-e', 'syms tick', '-e', 'detach'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json[0]!.ok, true);
  assert.equal(r.json[1]!.result.pid, pid, 'the process of that name was the one attached');
  const again = await runCliJson<JsonOutcome>(['--json', '-e', `attach ${unique}`, '-e', 'detach'], { timeoutMs: 60_000 });
  assert.equal(again.json[0]!.result.pid, pid, 'the attach command takes a name too');
  assert.equal(status(pid).tracerPid, 0, 'detached');
});

test('attach NAME: several processes of that name are listed with their command lines, and a pid is asked for', async () => {
  const first = await startCopy('1000');
  const second = await startCopy('2000');
  const r = await runCli([unique, '-e', 'syms tick'], { timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, new RegExp(`^error E_AMBIGUOUS_PROCESS: \\d+ processes named ${unique}; give one of their pids:$`));
  assert.ok(lines.some((l) => l.includes(String(first)) && l.endsWith(`${program} 1000`)), r.stdout);
  assert.ok(lines.some((l) => l.includes(String(second)) && l.endsWith(`${program} 2000`)), r.stdout);
  assert.equal(status(first).tracerPid, 0);
  assert.equal(status(second).tracerPid, 0);
});

test('attach NAME: no such process is one line with a hint; our own process is never picked', async () => {
  const r = await runCli(['no-such-process-xyz', '-e', 'syms tick']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^error E_NO_PROCESS: no process named no-such-process-xyz \(.*hotpatch -- PROG ARGS\)\n$/);
  assert.ok(!listProcesses().some((p) => p.pid === process.pid), 'our own process is not a candidate');
  assert.ok(!processesNamed('node').matches.some((p) => p.pid === process.pid));
});

test('hotpatch -e CMD -- PROG ARGS: starts the program, runs the commands on it from its start, then stops it', async () => {
  const state = join(dir, 'state');
  const r = await runCliJson<JsonOutcome>(['--json', '-e', 'peek count', '-e', 'threads', '--', program, '--not-our-option'],
    { timeoutMs: 60_000, env: { XDG_STATE_HOME: state } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [, started, log] = /note: started (\d+); its output goes to (\S+)/.exec(r.stderr) ?? [];
  const pid = Number(started);
  assert.equal(log, join(state, 'hotpatch', 'logs', `${unique}.${pid}.log`), r.stderr);
  assert.ok(r.json.every((o) => o.ok), r.stdout);
  assert.equal((r.json[1]!.result as { tid: number }[])[0]!.tid, pid, 'threads lists the started program');
  assert.match(r.stderr, new RegExp(`note: stopped ${pid}, which hotpatch started`));
  assert.ok(existsSync(log), 'the log file is there');
  for (let i = 0; i < 200 && !gone(pid); i++) await new Promise((res) => setTimeout(res, 10));
  assert.ok(gone(pid), 'the program we started is stopped at the end of the batch');
});

test('hotpatch -- PROG: a program that cannot be started is one line', async () => {
  const r = await runCli(['-e', 'threads', '--', join(dir, 'missing')]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^error E_SPAWN: cannot start .*missing: no executable file there/);
});

test('command line: NAME, pid and -- PROG ARGS open with the right line, quoted to read back the same', () => {
  assert.equal(openingLine(parseCli(['demo'])), 'attach demo');
  assert.equal(openingLine(parseCli(['42'])), 'attach 42');
  assert.equal(openingLine(parseCli(['-p', 'demo'])), 'attach demo', '-p NAME as gdb users type it');
  assert.deepEqual(parseCli(['-p', '10,11']).pids, [10, 11]);
  assert.throws(() => parseCli(['-p', '10,x']), /"x" is not a process id/);
  const line = openingLine(parseCli(['-e', 'threads', '--', './prog', 'two words', '-e', 'x']))!;
  assert.deepEqual(splitWords(line), ['spawn', '--', './prog', 'two words', '-e', 'x']);
  assert.deepEqual(parseCli(['-e', 'threads', '--', './prog', '-e', 'x']).commands, ['threads'], "the program's -e is its own");
  assert.throws(() => parseCli(['demo', '42']), /give one process/);
});

test('Tab after attach: process names, and pids once a digit is typed', async () => {
  const source: CompletionSource = {
    commands: allCommands(),
    symbols: () => [],
    modules: () => [],
    registers: () => [],
    files: () => [],
    processes: () => [{ pid: 1200, comm: 'counter' }, { pid: 1234, comm: 'counter' }, { pid: 77, comm: 'cron' }, { pid: 1300, comm: 'bash' }],
  };
  assert.deepEqual(complete('attach co', 9, source).candidates, ['counter']);
  assert.deepEqual(complete('attach c', 8, source).candidates, ['counter', 'cron']);
  assert.deepEqual(complete('attach 12', 9, source).candidates, ['1200', '1234']);
  // The real list: a running process's name and pid are offered.
  const pid = await startCopy();
  const { sessionSource } = await import('../src/ui/source.js');
  const { Session } = await import('../src/session.js');
  const live = sessionSource(new Session());
  assert.deepEqual(complete(`attach ${unique}`, 7 + unique.length, live).candidates, [unique]);
  assert.ok(complete(`attach ${pid}`, 7 + String(pid).length, live).candidates.includes(String(pid)));
});
