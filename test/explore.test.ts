// Issue 2 end to end: attach to real fixture processes with the hotpatch binary, explore them, leave them as found.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, parseFields, fixturePath, patchPath } from './helpers/fixtures.js';
import { runCli, runCliJson, cliPath, NODE_FLAGS, type JsonOutcome } from './helpers/cli.js';
import { spawn } from 'node:child_process';

after(killAllFixtures);


async function assertRunsUntraced(pid: number) {
  const st = status(pid);
  assert.equal(st.tracerPid, 0, 'the target is no longer traced');
  assert.notEqual(st.state, 't', 'the target is not left in a tracing stop');
  assert.notEqual(st.state, 'T', 'the target is not left stopped');
}

test('syms finds a static function with its source file, at its run-time address', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'syms tick --local']);
  assert.equal(r.code, 0, r.stderr);
  const tick = r.json[0].result.find((s: any) => s.name === 'tick');
  assert.ok(tick, 'tick listed');
  assert.equal(tick.bind, 'local');
  assert.equal(tick.file, 'counter.c');
  assert.equal(tick.module, 'counter');
  // PIE: the run-time address lies inside the executable's mapping, not at its small file address.
  const maps = (await import('node:fs')).readFileSync(`/proc/${f.pid}/maps`, 'utf8');
  const exeLine = maps.split('\n').find((l) => l.endsWith('/counter') && l.includes('r-xp'))!;
  const [lo, hi] = exeLine.split(' ')[0].split('-').map((x) => BigInt('0x' + x));
  const addr = BigInt(tick.address);
  assert.ok(addr >= lo && addr < hi, `${tick.address} inside ${exeLine}`);
  await assertRunsUntraced(f.pid);
});

test('disasm names calls into the PLT (printf@plt) and a redirected 4-byte function shows its whole 5-byte jump', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm main', '-e', 'syms *@plt --module counter', '-e', 'disasm printf@plt 1',
    '-e', `load ${patchPath('patch_tick')} --method map`, '-e', 'redirect counter.c:tick tick_v2', '-e', 'disasm counter.c:tick', '-e', 'revert tick']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const comments = r.json[0].result.map((l: any) => l.comment).filter(Boolean);
  assert.ok(comments.includes('printf@plt'), `calls named by their PLT stub: ${comments.join(', ')}`);
  assert.ok(r.json[1].result.some((s: any) => s.name === 'printf@plt' && s.size === 16));
  assert.equal(r.json[2].result[0].mnemonic, 'jmp', 'a PLT entry starts with its jump through the GOT');
  const tick = r.json[5].result;
  assert.equal(tick.length, 1, 'one instruction: the jump');
  assert.equal(tick[0].mnemonic, 'jmp');
  assert.equal(tick[0].bytes.split(' ').length, 5);
});

test('syms with no match says so and suggests close names', async () => {
  const f = await startFixture('counter');
  const r = await runCli(['-p', String(f.pid), '-e', 'syms tikc', '-e', 'syms zzqqxx', '-e', 'syms ick*', '-e', 'syms zzqq*']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /0 symbols\ndid you mean: [^\n]*\btick\b/);
  assert.match(r.stdout, /0 symbols\nno similar names are loaded/);
  // A glob: the names that contain its letters, from the same quick screen (no fuzzy index built).
  assert.match(r.stdout, /0 symbols\nno name matches ick\* whole; names containing ick: [^\n]*\btick\b/);
  assert.match(r.stdout, /0 symbols\nno name matches zzqq\*/);
  assert.doesNotMatch(r.stdout, /address.*size.*type/, 'no empty table');
});

test('the target keeps running while attached and between commands', async () => {
  const f = await startFixture('counter', ['5']);
  const before = parseFields(await f.waitForLine(/^count=/)).count;
  const r = await runCli(['-p', String(f.pid), '-e', 'threads', '-e', 'regs', '-e', 'maps'], { timeoutMs: 20000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /paused \d+\.\d+ ms \(1 thread\)/);
  const idx = f.lines.length;
  const later = parseFields(await f.waitForLine(/^count=/, 3000, idx)).count;
  assert.ok(later > before, `count advanced (${before} -> ${later})`);
  await assertRunsUntraced(f.pid);
});

test('disasm of a static function by file:name shows its instructions', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm counter.c:tick']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.json[0].result;
  assert.equal(lines[0].mnemonic, 'lea');
  assert.match(lines[0].operands, /rdi \+ 1/);
  assert.equal(lines[1].mnemonic, 'ret');
  assert.equal(lines.length, 2, 'whole function by its symbol size (4 bytes)');
  assert.equal(lines[0].location, 'tick');
});

test('disasm annotates call targets with their symbol', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm main']);
  assert.equal(r.code, 0, r.stderr);
  const calls = r.json[0].result.filter((l: any) => l.mnemonic === 'call');
  assert.ok(calls.some((l: any) => l.comment === 'tick'), 'a call to tick is annotated: ' + JSON.stringify(calls.map((c: any) => c.comment)));
});

test('peek reads globals and statics without stopping; typed views', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'peek s_secret 4 --as i32', '-e', 'peek g_scale --as u32', '-e', 'peek counter.c:count 16']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json[0].result.values, [42]);
  assert.deepEqual(r.json[1].result.values, [2]);
  assert.equal(r.json[2].result.length, 16);
  assert.equal(r.json[0].pause, undefined, 'reading memory does not stop the target');
});

test('peek --out dumps memory to a file byte for byte; an unmapped range fails and leaves no file', async () => {
  const f = await startFixture('counter');
  const dir = mkdtempSync(join(tmpdir(), 'hp-dump-'));
  const file = join(dir, 'main.bin');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', `peek libc.so.6!malloc 1200000 --out ${file}`, '-e', 'peek libc.so.6!malloc 64']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const dumped = readFileSync(file);
  assert.equal(dumped.length, 1200000, 'dumps across several 1 MiB chunks');
  assert.equal(dumped.subarray(0, 64).toString('hex'), r.json[1].result.hex, 'the same bytes as a plain peek');
  const bad = join(dir, 'bad.bin');
  const u = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', `peek 0x10 4096 --out ${bad}`]);
  assert.equal(u.code, 1);
  assert.equal(u.json[0].error!.code, 'EFAULT');
  assert.ok(!existsSync(bad), 'no partial file is left');
});

test('poke a global changes behaviour; poke code shows bytes before and after', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'poke g_value --u32 1234']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json[0].result.after, 'd2040000');
  await f.waitForLine(/value=1234/, 3000, f.lines.length);
  // tick: lea eax,[rdi+1] → lea eax,[rdi+2] by changing its displacement byte (code page, read-only in the target).
  const code = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'peek tick 4', '-e', 'poke tick+2 02']);
  assert.equal(code.code, 0, code.stderr);
  assert.equal(code.json[0].result.hex, '8d4701c3');
  assert.equal(code.json[1].result.before, '01');
  assert.equal(code.json[1].result.after, '02');
  assert.ok(code.json[1].pause, 'a code write reports its pause');
  const a = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length)).count;
  const b = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.indexOf(f.latest(/^count=/)!) + 1)).count;
  assert.equal((b - a) % 2, 0, 'count now steps by 2');
  await assertRunsUntraced(f.pid);
});

test('threads and regs of a multi-threaded target', async () => {
  const f = await startFixture('threads');
  await f.waitForLine(/^threads=/);
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'threads', '-e', 'regs']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json[0].result.length, status(f.pid).threads);
  assert.ok(r.json[0].result.length >= 7);
  assert.match(r.json[1].result.registers.rip, /^0x[0-9a-f]+$/);
  assert.ok(r.json[0].pause!.threads >= 7);
  // The workers never saw a wrong result, and the sleeper no EINTR.
  const idx = f.lines.length;
  const line = await f.waitForLine(/^wrong=/, 3000, idx);
  assert.equal(parseFields(line).wrong, 0);
  assert.ok(!f.lines.some((l) => /EINTR/.test(l)), 'no EINTR seen by the target');
});

test('static functions of the same name in two files: ambiguous, then picked by file', async () => {
  const f = await startFixture('statics');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm helper']);
  assert.equal(r.code, 1);
  assert.equal(r.json[0].error!.code, 'E_AMBIGUOUS_SYMBOL');
  assert.match(r.json[0].error!.message, /statics_a\.c:helper/);
  assert.match(r.json[0].error!.message, /statics_b\.c:helper/);
  const a = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'peek statics_a.c:counter --as i32', '-e', 'peek statics_b.c:counter --as i32', '-e', 'syms counter --local']);
  assert.equal(a.code, 0, a.stderr);
  const named = a.json[2].result.filter((s: any) => s.name === 'counter');
  assert.deepEqual(named.map((s: any) => s.file).sort(), ['statics_a.c', 'statics_b.c']);
  assert.notEqual(named[0].address, named[1].address);
  assert.equal(a.json[0].result.values.length, 1);
});

test('a stripped binary gets its symbols from the separate debug file', async () => {
  const f = await startFixture('stripped');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'syms tick --local', '-e', 'peek s_secret --as i32']);
  assert.equal(r.code, 0, r.stderr + JSON.stringify(r.json));
  assert.equal(r.json[0].result[0].file, 'counter.c');
  assert.deepEqual(r.json[1].result.values, [42]);
  const named = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', `symbols stripped ${fixturePath('stripped.debug')}`, '-e', 'syms tick']);
  assert.equal(named.code, 0, named.stderr + JSON.stringify(named.json));
  assert.ok(named.json[0].result.symbols > 10);
});

test('commands from stdin and from a file (-x) with comments', async () => {
  const f = await startFixture('counter');
  const piped = await runCli(['-p', String(f.pid)], { input: 'syms main\n# a comment\nthreads\n' });
  assert.equal(piped.code, 0, piped.stderr);
  assert.match(piped.stdout, /main/);
  const dir = mkdtempSync(join(tmpdir(), 'hp-'));
  const file = join(dir, 'explore.hp');
  writeFileSync(file, '# explore\nsyms compute\n\npeek g_scale --as u32\n');
  const x = await runCli(['-x', file, '-p', String(f.pid)]);
  assert.equal(x.code, 0, x.stderr);
  assert.match(x.stdout, /compute/);
  await assertRunsUntraced(f.pid);
});

test('stop freezes, cont releases', async () => {
  const f = await startFixture('counter', ['5']);
  await f.waitForLine(/^count=/);
  const r = await runCli(['-p', String(f.pid), '-e', 'stop', '-e', 'threads', '-e', 'cont']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /frozen/);
  await f.waitForLine(/^count=/, 3000, f.lines.length);
  await assertRunsUntraced(f.pid);
});

test('errors: one line, errno names kept, exit 1, target unharmed', async () => {
  const f = await startFixture('counter');
  const cases: [string[], string, RegExp][] = [
    [['-p', '999999', '-e', 'threads'], 'ESRCH', /^process 999999 is gone \(no such process\)$/],
    [['-p', String(f.pid), '-e', 'syms', '-e', 'disasm no_such_function'], 'E_UNKNOWN_SYMBOL', /unknown symbol/],
    [['-p', String(f.pid), '-e', 'peek 0x10 16'], 'EFAULT', /not mapped/],
    [['-p', String(f.pid), '-e', 'peek main --as bogus'], 'E_USAGE', /must be one of/],
    [['-p', String(f.pid), '-e', 'frobnicate'], 'E_UNKNOWN_COMMAND', /unknown command/],
    // (`disasm` alone is gdb's `disas`: the code at the main thread's pc; `peek` has no such default.)
    [['-p', String(f.pid), '-e', 'peek'], 'E_USAGE', /missing where/],
    [['-p', String(f.pid), '-e', 'poke main zz'], 'E_USAGE', /not hex bytes/],
    [['-p', String(f.pid), '-e', 'regs 1'], 'ESRCH', /not a thread/],
  ];
  for (const [args, code, message] of cases) {
    const r = await runCliJson<JsonOutcome>([...args, '--json']);
    assert.equal(r.code, 1, `${args.join(' ')}: exit 1 (${r.stdout}${r.stderr})`);
    const last = r.json[r.json.length - 1];
    assert.equal(last.ok, false);
    assert.equal(last.error!.code, code, args.join(' '));
    assert.match(last.error!.message, message);
    const plain = await runCli(args);
    assert.equal(plain.stdout.trim().split('\n').filter((l) => l.startsWith('error')).length, 1);
    assert.doesNotMatch(plain.stdout + plain.stderr, /\n\s+at /, 'no stack trace');
  }
  const unknown = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm tikc']);
  assert.match(JSON.stringify(unknown.json[0].error), /tick/, 'suggests the closest name');
  await assertRunsUntraced(f.pid);
  assert.ok(parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length)).count > 0);
});

test('a batch stops at the first failing command and does not run the rest', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'syms main', '-e', 'peek 0x8 4', '-e', 'poke g_value --u32 7']);
  assert.equal(r.code, 1);
  assert.equal(r.json.length, 2);
  await new Promise((res) => setTimeout(res, 100));
  assert.ok(!f.lines.some((l) => /value=7\b/.test(l)), 'the poke after the failure did not run');
});

test('usage errors exit 2', async () => {
  for (const args of [['-p'], ['-p', '12,abc'], ['-p', '0'], ['--bogus'], ['1', '2']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /error E_USAGE/);
  }
  // -p NAME is a name, as `hotpatch NAME` is: none by that name is an error of the run (1), not of its usage.
  const named = await runCli(['-p', 'no-such-program-here', '-e', 'threads']);
  assert.equal(named.code, 1, named.stderr);
  assert.match(named.stdout + named.stderr, /error E_NO_PROCESS: no process named no-such-program-here/);
});

test('a process already traced by another tool is refused, naming the tracer', async () => {
  const f = await startFixture('counter');
  const { spawn } = await import('node:child_process');
  const gdb = spawn('gdb', ['-q', '-nx', '-batch', '-p', String(f.pid), '-ex', 'shell sleep 20'], { stdio: 'ignore' });
  try {
    let tracer = 0;
    for (let i = 0; i < 400 && tracer === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      tracer = status(f.pid).tracerPid;
    }
    assert.ok(tracer > 0, 'gdb attached');
    const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'threads']);
    assert.equal(r.code, 1);
    assert.equal(r.json[0].error!.code, 'EBUSY');
    assert.match(r.json[0].error!.message, new RegExp(`traced by pid ${tracer} \\(gdb\\)`));
  } finally {
    gdb.kill('SIGKILL');
    await new Promise((r) => gdb.on('exit', r));
  }
});


test('the target exiting while attached is reported; the next command says so', async () => {
  const f = await startFixture('counter');
  const { spawn } = await import('node:child_process');
  const { cliPath } = await import('./helpers/cli.js');
  const cli = spawn(process.execPath, [cliPath, '-p', String(f.pid), '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  cli.stdout.on('data', (d) => (out += d));
  cli.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => cli.on('exit', (code) => r(code)));
  cli.stdin.write('threads\n');
  for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(out, /"ok":true/);
  await f.stop();
  await new Promise((r) => setTimeout(r, 100));
  cli.stdin.write('threads\n');
  cli.stdin.end();
  const code = await exited;
  assert.equal(code, 1);
  const last = JSON.parse(out.trim().split('\n').pop()!);
  assert.equal(last.ok, false);
  assert.equal(last.error.code, 'ESRCH');
  assert.match(last.error.message, new RegExp(`^process ${f.pid} is gone \\(.*(killed by signal 9|exited)`));
  assert.match(err, /killed by signal 9|exited/);
});

test('a batch whose reader goes away (| head) detaches and exits 141 at once, as a process killed by SIGPIPE would', async () => {
  const f = await startFixture('counter');
  const child = spawn(process.execPath, [...NODE_FLAGS, cliPath, '-p', String(f.pid), '-e', 'syms *', '-e', 'syms *', '-e', 'syms *', '-e', 'syms *'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  // Read the first chunk, then close our end, as `head -1` does.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000); // a guard against a hang, not a timing check
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  assert.equal(signal, null, `it exited on its own (stderr: ${stderr})`);
  assert.equal(code, 141);
  assert.doesNotMatch(stderr, /internal error|at .+:\d+:\d+/, 'no crash report');
  await assertRunsUntraced(f.pid);
});
