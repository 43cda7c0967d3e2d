// Issue 6, bad input: every command with missing, extra and malformed arguments, fuzzed address expressions and
// mutated patch libraries: always one clear error line, exit 1 or 2, no stack trace, no hang, no write to the target.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allCommands } from '../../commands/index.js';
import type { CommandSpec } from '../../src/command.js';
import { parseAddress } from '../../src/symbols/expr.js';
import { HotpatchError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { startFixture, killAllFixtures, patchPath, isAlive, status, type Fixture } from '../helpers/fixtures.js';
import { locate, snapshot, prng, assertNoCrash, assertRunsFree, startOrphan, type Watched } from './support.js';
import { Session } from '../../src/session.js';
import { runLine } from '../../src/cli/runner.js';

const WATCH: [string, number][] = [['counter.c:tick', 16], ['compute', 32], ['g_value', 4], ['g_scale', 4]];

after(killAllFixtures);

const PLACEHOLDER: Record<string, string> = { address: 'compute', number: '1', string: 'x', path: '/nonexistent/x.so', symbol: 'tick', module: 'counter' };
const BAD_ADDRESSES = ['0xZZ', '::', 'libc.so.6!', '!tick', '$nosuchreg', 'tick+', '*tick', 'a:b:c', '0x1ffffffffffffffff', 'no_such_symbol_xyz'];

/** Lines that must all fail: derived from each command's own argument spec. */
export function badLines(specs: CommandSpec[]): string[] {
  const lines = new Set<string>();
  for (const spec of specs) {
    const required = spec.args.filter((a) => !a.optional && !a.rest);
    const fill = (upTo: number) => spec.args.slice(0, upTo).filter((a) => !a.rest).map((a) => PLACEHOLDER[a.kind]);
    // Missing: each required argument left out in turn (the ones before it given).
    for (let i = 0; i < required.length; i++) lines.add([spec.name, ...fill(spec.args.indexOf(required[i]!))].join(' '));
    // Extra: more words than the spec takes (a rest argument swallows them: give it too many or bad ones).
    const hasRest = spec.args.some((a) => a.rest);
    if (!hasRest) lines.add([spec.name, ...fill(spec.args.length), 'extra1', 'extra2'].join(' '));
    // Malformed positionals.
    spec.args.forEach((a, i) => {
      if (a.rest) return;
      const before = fill(i);
      const after = spec.args.slice(i + 1).filter((x) => !x.optional && !x.rest).map((x) => PLACEHOLDER[x.kind]);
      if (a.kind === 'number') for (const bad of ['x12', '-1', '1.5', '0x']) lines.add([spec.name, ...before, bad, ...after].join(' '));
      if (a.kind === 'address') for (const bad of BAD_ADDRESSES) lines.add([spec.name, ...before, `'${bad}'`, ...after].join(' '));
    });
    // Options: unknown, missing value, value not allowed, a flag given a value.
    const base = [spec.name, ...fill(spec.args.length)].join(' ');
    lines.add(`${base} --no-such-option`);
    for (const o of spec.options ?? []) {
      if (o.kind === 'flag') lines.add(`${base} --${o.name}=1`);
      else lines.add(`${base} --${o.name}`);
      if (o.values) lines.add(`${base} --${o.name} bogus`);
      if (o.kind === 'number') lines.add(`${base} --${o.name} abc`);
    }
  }
  lines.add('nosuchcommand');
  lines.add(`'unterminated`);
  lines.add('call compute 1 2 3 4 5 6 7');
  lines.add('call compute notanumber_or_symbol');
  lines.add('poke g_value zz');
  lines.add('poke g_value --u32 99999999999');
  lines.add('poke g_value --i32 abc');
  lines.add('peek g_value 99999999999999');
  lines.add('disasm compute 0');
  lines.add('revert no_such_patch');
  lines.add('unload no_such.so');
  lines.add('regs 999999');
  lines.add('redirect compute compute');
  lines.add(`load ${patchPath('not_elf.so')}`);
  lines.add(`load ${patchPath('elf32.so')} --method map`);
  return [...lines];
}

/** Runs each line as its own hotpatch -p PID -e LINE, several targets side by side. */
async function runLanes(targets: Fixture[], lines: string[], check: (line: string, r: Awaited<ReturnType<typeof runCli>>) => void): Promise<void> {
  let next = 0;
  await Promise.all(
    targets.map(async (f) => {
      while (next < lines.length) {
        const line = lines[next++]!;
        const r = await runCli(['-p', String(f.pid), '-e', line], { timeoutMs: 15_000 });
        check(line, r);
      }
    }),
  );
}

test('bad input: every command with missing, extra and malformed arguments and options: a HotpatchError each, target untouched (in-process, all of them)', { timeout: 120_000 }, async (t) => {
  const lines = badLines(allCommands());
  const target = await startOrphan('counter', ['50']);
  try {
    const watched = await locate(target.pid, WATCH);
    const before = snapshot(target.pid, watched);
    const session = new Session();
    await session.attach(target.pid);
    const codes = new Map<string, number>();
    const succeeded: string[] = [];
    for (const line of lines) {
      if (!session.target?.attached) await session.attach(target.pid);
      const outcome = await runLine(session, line);
      assert.ok(outcome, line);
      if (outcome.ok) {
        succeeded.push(line);
        continue;
      }
      assert.ok(outcome.error instanceof HotpatchError, `${line}: ${String(outcome.error)}`);
      assert.match(outcome.error.code, /^(E_[A-Z_]+|E[A-Z]+)$/, line);
      assert.ok(outcome.error.message.length > 0 && !outcome.error.message.includes('\n'), `${line}: one-line message: ${outcome.error.message}`);
      codes.set(outcome.error.code, (codes.get(outcome.error.code) ?? 0) + 1);
    }
    await session.detach();
    assert.deepEqual(snapshot(target.pid, watched), before, 'tick, compute, g_value and g_scale unchanged');
    assert.equal(status(target.pid).tracerPid, 0);
    const allowed = /^(help|explain|tour|maps|syms|quit|detach|libs|patches|threads)\b/;
    assert.deepEqual(succeeded.filter((l) => !allowed.test(l)), [], 'malformed commands that succeeded');
    t.diagnostic(`held: ${lines.length} lines; ${lines.length - succeeded.length} refused (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}); answered: ${succeeded.join(' | ') || 'none'}`);
  } finally {
    target.stop();
  }
});

test('bad input: a sample of those lines through the CLI: one `error` line, exit 1, no stack trace, target memory unchanged', { timeout: 120_000 }, async (t) => {
  const all = badLines(allCommands());
  const lines = all.filter((_, i) => i % Math.ceil(all.length / 16) === 0);
  const targets = await Promise.all([startFixture('counter', ['50']), startFixture('counter', ['50'])]);
  const watched = new Map<number, Watched[]>();
  const before = new Map<number, Record<string, string>>();
  for (const f of targets) {
    watched.set(f.pid, await locate(f.pid, WATCH));
    before.set(f.pid, snapshot(f.pid, watched.get(f.pid)!));
  }
  const codes = new Map<string, number>();
  const started = Date.now();
  await runLanes(targets, lines, (line, r) => {
    assertNoCrash(r, line);
    assert.ok(r.code === 1 || r.code === 2, `${line}: exit ${r.code}`);
    const out = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
    const errors = out.filter((l) => l.startsWith('error '));
    assert.equal(errors.length, 1, `${line}: one error line\n${out.join('\n')}`);
    assert.deepEqual(out.filter((l) => !l.startsWith('error ') && !l.startsWith('note: ')), [], `${line}: nothing but the error`);
    const code = /^error (\S+):/.exec(errors[0]!)![1]!;
    codes.set(code, (codes.get(code) ?? 0) + 1);
  });
  const ms = Date.now() - started;
  for (const f of targets) {
    assert.ok(isAlive(f.pid));
    assert.equal(status(f.pid).tracerPid, 0);
    assert.deepEqual(snapshot(f.pid, watched.get(f.pid)!), before.get(f.pid), 'tick, compute, g_value and g_scale unchanged');
    await f.waitForLine(/^count=/, 2000, f.lines.length);
  }
  t.diagnostic(`held: ${lines.length} runs in ${ms} ms, each one error line and exit 1 (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}); memory unchanged`);
});

/** Strings that look like address expressions, half-broken: pieces of the grammar glued at random. */
function fuzzAddress(random: () => number): string {
  const pieces = ['0x', '0X', '1', 'f', 'ff', '0x401136', '18446744073709551615', 'main', 'tick', 'counter.c', 'libc.so.6', '!', ':', '::', '+', '-', ' ', '$', 'rip', 'rsp', '*', '.', '@', 'é', '\u0000', '\t', '"', "'", '(', ')', '[', ']', '~', 'a'.repeat(300), '9'.repeat(40), '-0x10', '+ 8', 'std::vector<int>', 'foo@GLIBC_2.2.5'];
  const n = 1 + Math.floor(random() * 6);
  let s = '';
  for (let i = 0; i < n; i++) {
    if (random() < 0.15) s += String.fromCharCode(Math.floor(random() * 0x250));
    else s += pieces[Math.floor(random() * pieces.length)];
  }
  return s;
}

test('bad input: 20000 fuzzed address expressions parse or throw a HotpatchError (E_BAD_ADDRESS), nothing else', { timeout: 60_000 }, (t) => {
  const random = prng(20260601);
  const started = Date.now();
  let parsed = 0;
  const other = new Map<string, string>();
  for (let i = 0; i < 20_000; i++) {
    const text = fuzzAddress(random);
    try {
      const e = parseAddress(text);
      assert.ok(e.base && typeof e.offset === 'bigint', `parseAddress(${JSON.stringify(text)}) gave ${JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
      if (e.base.kind === 'number') assert.ok(e.base.value >= 0n && e.base.value < 1n << 64n, `${JSON.stringify(text)}: number out of range`);
      parsed++;
    } catch (err) {
      assert.ok(err instanceof HotpatchError, `parseAddress(${JSON.stringify(text)}) threw ${String(err)}`);
      if (!/[\r\n]/.test(text)) assert.ok(!err.message.includes('\n'), `one line: ${JSON.stringify(err.message)}`);
      if (err.code !== 'E_BAD_ADDRESS') other.set(err.code, text);
    }
  }
  const ms = Date.now() - started;
  t.diagnostic(`held: 20000 strings in ${ms} ms, ${parsed} parsed, the rest E_BAD_ADDRESS${other.size ? ` (also ${[...other.keys()].join(', ')})` : ''}`);
});

test('bad input: 20 fuzzed addresses through the CLI (peek, disasm, call, redirect, poke): clear errors, target memory unchanged', { timeout: 120_000 }, async (t) => {
  const random = prng(4242);
  const targets = await Promise.all([startFixture('counter', ['50']), startFixture('counter', ['50'])]);
  const watch: [string, number][] = [['counter.c:tick', 16], ['compute', 32], ['g_value', 4], ['g_scale', 4]];
  const watched = new Map<number, Watched[]>();
  const before = new Map<number, Record<string, string>>();
  for (const f of targets) {
    watched.set(f.pid, await locate(f.pid, watch));
    before.set(f.pid, snapshot(f.pid, watched.get(f.pid)!));
  }
  const verbs = ['peek %s 1', 'disasm %s 1', 'call %s', 'redirect %s compute', 'poke %s 90'];
  const lines: string[] = [];
  while (lines.length < 20) {
    const text = fuzzAddress(random);
    let parses = true;
    try {
      parseAddress(text);
    } catch {
      parses = false;
    }
    // Keep the ones that break (most), and some that parse but name nothing in the target.
    if (parses && random() < 0.7) continue;
    lines.push(verbs[lines.length % verbs.length]!.replace('%s', JSON.stringify(text.replace(/\u0000/g, ''))));
  }
  const outcomes: Record<string, number> = {};
  await runLanes(targets, lines, (line, r) => {
    assertNoCrash(r, line);
    assert.equal(r.code, 1, `${line}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('error '));
    assert.equal(errors.length, 1, `${line}\n${r.stdout}`);
    const code = /^error (\S+):/.exec(errors[0]!)![1]!;
    outcomes[code] = (outcomes[code] ?? 0) + 1;
  });
  for (const f of targets) assert.deepEqual(snapshot(f.pid, watched.get(f.pid)!), before.get(f.pid));
  t.diagnostic(`held: 20 runs, exit 1, ${Object.entries(outcomes).map(([c, n]) => `${c} ${n}`).join(', ')}; memory unchanged`);
});

test('bad input: 24 mutated patch libraries loaded by map and dlopen: a clear error or a clean load, never a write to the program’s own code or data', { timeout: 120_000 }, async (t) => {
  const random = prng(777);
  const dir = mkdtempSync(join(tmpdir(), 'hp-mutant-'));
  const base = readFileSync(patchPath('patch_tick'));
  const targets = await Promise.all([startFixture('counter', ['20']), startFixture('counter', ['20'])]);
  const watch: [string, number][] = [['counter.c:tick', 16], ['compute', 32], ['g_value', 4], ['g_scale', 4]];
  const watched = new Map<number, Watched[]>();
  const before = new Map<number, Record<string, string>>();
  for (const f of targets) {
    watched.set(f.pid, await locate(f.pid, watch));
    before.set(f.pid, snapshot(f.pid, watched.get(f.pid)!));
  }
  const lines: string[] = [];
  for (let i = 0; i < 24; i++) {
    const bytes = Buffer.from(base);
    if (i % 4 === 3) {
      writeFileSync(join(dir, `m${i}.so`), bytes.subarray(0, Math.floor(random() * bytes.length)));
    } else {
      // Headers, program headers and the first pages: where structure lives.
      for (let k = 0; k < 1 + Math.floor(random() * 8); k++) {
        const at = Math.floor(random() * Math.min(bytes.length, 0x3000));
        bytes[at] = Math.floor(random() * 256);
      }
      writeFileSync(join(dir, `m${i}.so`), bytes);
    }
    lines.push(`load ${join(dir, `m${i}.so`)} --method ${i % 2 ? 'dlopen' : 'map'} --timeout 3000`);
  }
  const outcomes: Record<string, number> = {};
  const deaths: string[] = [];
  await runLanes(targets, lines, (line, r) => {
    assertNoCrash({ stdout: r.stdout.replace(/\(Segmentation fault at/, '(SIGSEGV at'), stderr: r.stderr }, line);
    assert.ok(r.code === 0 || r.code === 1, `${line}: exit ${r.code}`);
    const code = r.code === 0 ? 'loaded' : /^error (\S+):/m.exec(r.stdout)?.[1] ?? 'no error line';
    outcomes[code] = (outcomes[code] ?? 0) + 1;
  });
  for (const f of targets) {
    if (!isAlive(f.pid)) {
      deaths.push(`${f.pid}: ${JSON.stringify(f.exit())}`);
      continue;
    }
    assert.equal(status(f.pid).tracerPid, 0);
    assert.deepEqual(snapshot(f.pid, watched.get(f.pid)!), before.get(f.pid), 'the program’s own code and data unchanged');
  }
  rmSync(dir, { recursive: true, force: true });
  assert.ok(!('no error line' in outcomes));
  // After all that, each target's own dlopen still works (a fault inside ld.so must not leave its lock held).
  const loaderAfter: string[] = [];
  for (const f of targets) {
    if (!isAlive(f.pid)) continue;
    const again = await runCli(['-p', String(f.pid), '--json', '-e', `load ${patchPath('patch_compute')} --timeout 3000`], { timeoutMs: 20_000 });
    loaderAfter.push(again.code === 0 ? 'ok' : again.stdout.trim());
  }
  assert.deepEqual(deaths, [], 'no mutant killed a target');
  assert.deepEqual(loaderAfter.filter((l) => l !== 'ok'), [], 'the target can still dlopen after the mutants');
  t.diagnostic(`held: ${Object.entries(outcomes).map(([c, n]) => `${c} ${n}`).join(', ')}; both targets alive, untraced, tick/compute/g_value unchanged; dlopen afterwards: ${loaderAfter.join(', ')}`);
});

test('bad input: a library whose PT_GNU_RELRO reaches far past its segments is refused before dlopen (ld.so would mprotect the target’s other mappings read-only)', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hp-relro-'));
  const bytes = Buffer.from(readFileSync(patchPath('patch_tick')));
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phnum = bytes.readUInt16LE(0x38);
  let found = false;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    if (bytes.readUInt32LE(at) === 0x6474e552) {
      bytes.writeBigUInt64LE(0xbb00000001a0n, at + 40); // p_memsz
      found = true;
    }
  }
  assert.ok(found, 'patch_tick.so has a PT_GNU_RELRO');
  const path = join(dir, 'relro.so');
  writeFileSync(path, bytes);
  const f = await startFixture('counter', ['10']);
  try {
    const outs: string[] = [];
    for (const method of ['dlopen', 'map']) {
      const r = await runCli(['-p', String(f.pid), '--json', '-e', `load ${path} --method ${method}`], { timeoutMs: 20_000 });
      assert.equal(r.code, 1, r.stdout);
      const e = JSON.parse(r.stdout.trim()).error;
      assert.equal(e.code, 'E_ELF_BAD', r.stdout);
      assert.match(e.message, /RELRO/);
      outs.push(`${method}: ${e.code} ${e.message.replace(/^\S*\//, '')}`);
    }
    await f.waitForLine(/^count=/, 3000, f.lines.length);
    assert.equal(f.exit(), undefined, `the target died: ${JSON.stringify(f.exit())}`);
    await assertRunsFree(f, /^count=/, 'after the RELRO library');
    t.diagnostic(`held: ${outs.join('; ')}; the target runs on`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
