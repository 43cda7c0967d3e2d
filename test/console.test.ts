// Issue 12, the troubleshooting console: output for pipes and people (plain rows, --format, tables fitted to the width),
// names (syms WORD vs GLOB, file.c: completion, disasm naming rip-relative data), gdb habits, -x files, counted nouns.
// Integration tests attach to real fixtures with the built hotpatch binary (or an in-process Session).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, startDetachedFixture, killAllFixtures, status, patchPath } from './helpers/fixtures.js';
import { runCli, runCliJson, type JsonOutcome } from './helpers/cli.js';
import { plainTable, fittedTable, shortenPath, wrapWords, PLAIN_PAD_CAP } from '../src/cli/table.js';
import { namePattern } from '../src/symbols/pattern.js';
import { counted } from '../src/words.js';
import { complete } from '../src/ui/complete.js';
import { sessionSource } from '../src/ui/source.js';
import { Session } from '../src/session.js';
import { runLine } from '../src/cli/runner.js';

after(killAllFixtures);


/** A table rule: a run of box-drawing characters or of dashes/pipes, as boxed tables draw them. */
const RULE = /[─│┌┐└┘├┤┬┴┼═]|^[-+|=\s]{6,}$/m;

async function assertUntraced(pid: number) {
  const st = status(pid);
  assert.equal(st.tracerPid, 0, 'the target is no longer traced');
  assert.notEqual(st.state, 't');
  assert.notEqual(st.state, 'T');
}

// ---- plain output: one row a line, no rules, padding capped ----

test('plain output (stdout a pipe): syms and maps are one row a line, no rules, every row as many fields, greppable', async () => {
  const f = await startFixture('counter');
  const syms = await runCli(['-p', String(f.pid), '-e', 'syms tick']);
  assert.equal(syms.code, 0, syms.stderr);
  const lines = syms.stdout.trimEnd().split('\n');
  assert.doesNotMatch(syms.stdout, RULE, 'no rules between rows');
  assert.match(lines[0]!, /^address\s+size\s+type\s+bind\s+name\s+file\s+module$/, 'a heading row first');
  // `grep -w tick` finds the one row, whole: address, size, type, bind, name, file, module as fields.
  const tickRows = lines.filter((l) => /(^|\s)tick(\s|$)/.test(l));
  assert.equal(tickRows.length, 1, syms.stdout);
  assert.deepEqual(tickRows[0]!.split(/\s+/).slice(1), ['4', 'func', 'local', 'tick', 'counter.c', 'counter']);
  const table = lines.filter((l) => /^(address|0x)/.test(l));
  for (const l of table) assert.equal(l.split(/\s+/).length, 7, `seven fields (an empty cell is "-"): ${l}`);
  for (const l of lines) assert.equal(l, l.trimEnd(), 'no trailing padding');

  const maps = await runCli(['-p', String(f.pid), '-e', 'maps']);
  assert.equal(maps.code, 0, maps.stderr);
  assert.doesNotMatch(maps.stdout, RULE);
  const exe = maps.stdout.split('\n').filter((l) => l.endsWith('/fixtures/build/counter'));
  assert.ok(exe.length >= 2, `the executable's mappings, each on one line with its whole path:\n${maps.stdout}`);
  for (const l of exe) assert.match(l, /^0x[0-9a-f]+\s+0x[0-9a-f]+\s+[r-][w-][x-][ps]\s/, l);
  assert.doesNotMatch(maps.stdout, /…/, 'paths are never shortened in plain output');
  await assertUntraced(f.pid);
});

test('plain tables: a very long cell makes its own row long, not every row; columns pad at most to the cap', () => {
  const long = 'v8::internal::Heap::' + 'X'.repeat(2000);
  const out = plainTable(['address', 'name', 'module'], [['0x1', 'short', 'node'], ['0x2', long, 'node'], ['0x3', '', 'node']]).split('\n');
  assert.equal(out.length, 4, 'a heading and one line per row');
  assert.ok(out[1]!.length < 20 + PLAIN_PAD_CAP, `a short row is not padded to the long name: ${out[1]!.length}`);
  assert.ok(out[2]!.includes(long) && out[2]!.endsWith('node'), 'the long cell whole, the row going on after it');
  assert.equal(out[3], '0x3      -      node', 'an empty cell is "-", so every row has the same fields');
  // After a cell past its column the row cannot line up: the cells after it are separated, not padded.
  const four = plainTable(['address', 'name', 'file', 'module'], [['0x1', 'short', 'objects-printer.cc', 'node'], ['0x2', long, 'a.c', 'node']]).split('\n');
  assert.equal(four[1], '0x1      short  objects-printer.cc  node');
  assert.ok(four[2]!.endsWith(`${long}  a.c  node`), four[2]!.slice(-40));
});

test('--format table|plain|json choose the batch output; a bad value is one line on stderr and exit 2', async () => {
  const f = await startFixture('counter');
  const table = await runCli(['-p', String(f.pid), '--format', 'table', '-e', 'syms tick']);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^─+$/m, 'the table format rules its heading off');
  assert.match(table.stdout, /\stick\s+counter\.c\s+counter/);
  const plain = await runCli(['-p', String(f.pid), '--format', 'plain', '-e', 'syms tick']);
  assert.doesNotMatch(plain.stdout, RULE);
  assert.match(plain.stdout, /\stick\s+counter\.c\s+counter/);
  const json = await runCli(['-p', String(f.pid), '--format', 'json', '-e', 'syms tick']);
  assert.equal(json.code, 0);
  const parsed = JSON.parse(json.stdout.trim().split('\n')[0]!);
  assert.equal(parsed.ok, true);
  assert.ok(parsed.result.some((s: any) => s.name === 'tick' && s.file === 'counter.c'));

  for (const bad of [['--format', 'yaml'], ['--format']]) {
    const r = await runCli(['-p', String(f.pid), ...bad, '-e', 'syms tick']);
    assert.equal(r.code, 2, bad.join(' '));
    assert.equal(r.stdout, '', 'nothing runs');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, /^error E_USAGE: --format/);
  }
  const yaml = await runCli(['--format', 'yaml', '-e', 'help']);
  assert.match(yaml.stderr, /--format must be table, plain or json, not "yaml"/);
  await assertUntraced(f.pid);
});

test('tables fitted to 80 columns: a path loses whole directories from its middle, other text breaks between words', () => {
  const path = '/usr/lib/x86_64-linux-gnu/some/deep/directory/libsomething-with-a-long-name.so.6';
  const short = shortenPath(path, 60);
  assert.ok(short.length <= 60, short);
  assert.match(short, /^\/usr\/.*…\/.*libsomething-with-a-long-name\.so\.6$/, 'the head, …, the file name whole');
  for (const part of short.split('/').filter((p) => p !== '…' && p !== '')) assert.ok(path.split('/').includes(part), `a whole directory, never cut: ${part}`);
  // maps at 80 columns: the numbers keep their width, the paths give way by directories.
  const files = ['/work/hotpatch/fixtures/build/patches/demo_fix.so', '/usr/lib/x86_64-linux-gnu/libc.so.6', '[heap]'];
  const t = fittedTable(['start', 'end', 'perm', 'size', 'offset', 'file'], files.map((file) => ['0x7f0780671000', '0x7f0780697000', 'r--p', '152K', '0x26000', file]), [3], 80);
  for (const rows of t.rows) for (const l of rows) assert.ok(l.length <= 80, `${l.length} > 80: ${l}`);
  assert.deepEqual(t.rows.map((r) => r.length), [1, 1, 1], 'each mapping on one line');
  assert.match(t.rows[0]![0]!, /0x26000\s+\/work\/…\/(.*\/)?demo_fix\.so$/);
  assert.match(t.rows[1]![0]!, /\/usr\/.*libc\.so\.6$/);
  assert.match(t.rows[2]![0]!, /\[heap\]$/);
  // Beside the vsyscall page's 18-digit addresses the file column is too narrow for ld-linux-x86-64.so.2 itself: the
  // path goes whole on a line of its own under its row, never broken inside the name.
  const ld = '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2';
  const narrow = fittedTable(['start', 'end', 'perm', 'size', 'offset', 'file'], [
    ['0x7f39277b5000', '0x7f39277b6000', 'r--p', '4K', '0x0', ld],
    ['0xffffffffff600000', '0xffffffffff601000', '--xp', '4K', '0x0', '[vsyscall]'],
  ], [3], 80);
  assert.equal(narrow.rows[0]!.length, 2, narrow.rows[0]!.join('\n'));
  assert.match(narrow.rows[0]![0]!, /^0x7f39277b5000\s+0x7f39277b6000\s+r--p\s+4K\s+0x0$/);
  assert.equal(narrow.rows[0]![1], `    ${ld}`);
  for (const rows of narrow.rows) for (const l of rows) assert.ok(l.length <= 80 && !/ld-linux-x86-$/.test(l), l);
  // Text that is not a path wraps where words meet, never inside one.
  const wrapped = wrapWords('a call of rate_limit_fixed through the veneer', 20);
  for (const l of wrapped) assert.ok(l.length <= 20, l);
  // Each break falls at a space, or after the punctuation that ends a piece of a name (rate_|limit), never inside a piece.
  for (let i = 0; i + 1 < wrapped.length; i++) {
    const joined = `${wrapped[i]} ${wrapped[i + 1]}`;
    assert.ok('a call of rate_limit_fixed through the veneer'.includes(joined) || /[_:,()<>.\-/]$/.test(wrapped[i]!), `a break inside a word: ${wrapped[i]} | ${wrapped[i + 1]}`);
  }
  assert.equal(wrapped.join(' ').replace(/_ /g, '_'), 'a call of rate_limit_fixed through the veneer');
});

test('a table with more columns than 80 fit leaves out its optional ones, least needed first, and says which', () => {
  const columns = ['#', 'from', 'layer', 'to', 'kind', 'before', 'after', 'trampoline', 'fix', 'applied'];
  const row = ['3', '_PyTime_FromNanoseconds 0x4f9160', '1/2', 'my_ns', 'veneer', '4889f8c366', 'e9eb1eeeff', '0x3db010', '-', '2026-12-07 11:41:20'];
  const t = fittedTable(columns, [row], [], 80, [9, 5, 6, 7, 8]);
  assert.deepEqual(t.hidden, ['before', 'after', 'applied'], 'dropped in the order given, only as many as needed');
  assert.match(t.heading, /^#\s+from\s+layer\s+to\s+kind\s+trampoline\s+fix$/);
  for (const l of t.rows.flat()) assert.ok(l.length <= 80 && l.includes('_PyTime_FromNanoseconds'), `whole name, within 80: ${l}`);
  // Wide enough: nothing is left out.
  assert.deepEqual(fittedTable(columns, [row], [], 160, [9, 5, 6, 7, 8]).hidden, []);
  // Without optional columns the old behaviour stands: every column, narrowed.
  assert.equal(fittedTable(columns, [row], [], 80).hidden.length, 0);
});

// ---- names ----

test('syms WORD: the exact name first, then names containing it; a glob matches the whole name; help says which', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'syms tick', '-e', 'syms tick*', '-e', 'syms *tick', '-e', 'syms t?ck', '-e', 'syms backtick']);
  assert.equal(r.code, 0, r.stderr);
  const names = (i: number) => r.json[i]!.result.map((s: any) => s.name as string);
  const word = names(0);
  assert.equal(word[0], 'tick', 'the exact match first');
  assert.ok(word.includes('parse_backtick'), `then names containing it: ${word.join(', ')}`);
  assert.ok(word.slice(1).every((n: string) => n !== 'tick' && n.includes('tick')));
  assert.ok(names(1).includes('tick') && names(1).every((n: string) => n.startsWith('tick')), `tick*: ${names(1).join(', ')}`);
  assert.ok(names(2).includes('parse_backtick') && names(2).every((n: string) => n.endsWith('tick')), `*tick: ${names(2).join(', ')}`);
  assert.deepEqual([...new Set(names(3))], ['tick'], 't?ck: one character');
  assert.ok(names(4).every((n: string) => n.includes('backtick')) && !names(4).includes('tick'), 'a word matches inside a name, not around it');

  const plain = await runCli(['-p', String(f.pid), '-e', 'syms tick']);
  assert.match(plain.stdout, /^\d+ symbols \(1 named tick, then \d+ containing it\)$/m, 'the count says which is which');
  const help = await runCli(['-e', 'help syms']);
  assert.match(help.stdout, /exactly that name first, then those whose name contains it/);
  assert.match(help.stdout, /with \* \? or \[\.\.\.\] it is a glob over the whole name/);
});

test('name patterns: a word is a substring, glob characters make a glob over the whole name', () => {
  const w = namePattern('Heap');
  assert.equal(w.glob, false);
  assert.ok(w.test('v8::internal::Heap::Setup') && w.exact('Heap') && !w.exact('HeapX'));
  const g = namePattern('*Heap*');
  assert.equal(g.glob, true);
  assert.ok(g.test('v8::internal::Heap::Setup') && !g.test('heap'));
  assert.ok(namePattern('uv_[a-c]*').test('uv_close') && !namePattern('uv_[a-c]*').test('uv_loop_fork'));
  assert.ok(namePattern('uv_[!a-c]*').test('uv_loop_fork'));
  assert.ok(!namePattern('tick').glob && namePattern('ti?k').glob && namePattern('[t]ick').glob);
});

test('Tab after file.c: offers that file\'s statics only, not the statics of libc', async () => {
  const pid = await startDetachedFixture('counter');
  const session = new Session();
  await session.attach(pid);
  try {
    const src = sessionSource(session);
    const at = (line: string) => complete(line, line.length, src);
    const all = at('disasm counter.c:');
    assert.ok(all.candidates.length > 0);
    assert.ok(all.candidates.every((c) => c.startsWith('counter.c:')), all.candidates.join(' '));
    for (const name of ['counter.c:tick', 'counter.c:count', 'counter.c:s_secret']) assert.ok(all.candidates.includes(name), `${name} in ${all.candidates.join(' ')}`);
    assert.ok(!all.candidates.some((c) => /CSWTCH|parse_backtick|completed\.0/.test(c)), `nothing of libc or crtstuff: ${all.candidates.join(' ')}`);
    assert.equal(all.more, false);
    // `co`: count, not buried under names from other files.
    assert.deepEqual(at('peek counter.c:co').candidates, ['counter.c:count']);
    // With the module first, as the address parser reads it.
    assert.ok(at('disasm counter!counter.c:ti').candidates.includes('counter!counter.c:tick'));
    // Without a file, names of every module still come (libc's included).
    assert.ok(at('disasm parse_backt').candidates.includes('parse_backtick'));
  } finally {
    await session.detach();
  }
});

test('disasm names the data a rip-relative operand points at (; g_scale, ; count)', async () => {
  const f = await startFixture('counter');
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-e', 'disasm compute', '-e', 'disasm main']);
  assert.equal(r.code, 0, r.stderr);
  const first = r.json[0]!.result[0];
  assert.match(first.operands, /\[rip \+ 0x[0-9a-f]+\]/);
  assert.equal(first.comment, 'g_scale', 'compute reads g_scale rip-relatively');
  const counts = r.json[1]!.result.filter((l: any) => /rip/.test(l.operands) && l.comment === 'count');
  assert.ok(counts.length >= 1, 'main reads and writes the static count');
  const plain = await runCli(['-p', String(f.pid), '-e', 'disasm compute 1']);
  assert.match(plain.stdout, /mov\s+eax, dword ptr \[rip \+ 0x[0-9a-f]+\]\s+; g_scale$/m);
  await assertUntraced(f.pid);
});

// ---- gdb habits ----

test('gdb habits: x/, info registers|threads|sharedlibrary, disas, bt, c run as hotpatch commands and say which', async () => {
  const f = await startFixture('counter');
  const lines = ['x/4xg &g_value', 'x/2i tick', 'x/4dw g_value', 'info registers', 'info threads', 'info sharedlibrary', 'disas', 'disas tick', 'bt', 'info frame'];
  const r = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', ...lines.flatMap((l) => ['-e', l])]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const [x4xg, x2i, x4dw, regs, threads, shlib, disas, disasTick, bt, frame] = r.json;
  assert.equal(x4xg!.command, 'x/4xg &g_value');
  assert.equal(x4xg!.result.values.length, 4, 'four giant words');
  assert.equal(x4xg!.result.as, 'x64');
  assert.equal(x2i!.result.length, 2, 'two instructions');
  assert.equal(x2i!.result[0].location, 'tick');
  assert.equal(x4dw!.result.values.length, 4, 'four signed words');
  assert.equal(x4dw!.result.as, 'i32');
  assert.ok(JSON.stringify(regs!.result).includes('rip'), 'registers');
  assert.ok(JSON.stringify(threads!.result).includes(String(f.pid)), 'the thread listed');
  assert.ok(shlib!.result.some((m: any) => /libc\.so\.6$/.test(m.file ?? m.path ?? '')), `libc listed: ${JSON.stringify(shlib!.result[0])}`);
  assert.ok(shlib!.result.every((m: any) => /\.so/.test(m.file ?? m.path ?? '')), 'only shared libraries');
  assert.ok(disas!.result.some((l: any) => (l.currentThreads ?? []).includes(f.pid)), 'disas alone: the code where the thread stands');
  assert.equal(disasTick!.result[disasTick!.result.length - 1].mnemonic, 'ret');
  assert.ok(JSON.stringify(bt!.result).includes('main'), 'a backtrace through main');
  assert.ok(JSON.stringify(frame!.result).includes('main'));

  // The plain output says what the gdb line is in hotpatch's words.
  const plain = await runCli(['-p', String(f.pid), '-e', 'x/4xg &g_value', '-e', 'info threads']);
  assert.match(plain.stdout, /gdb's "x\/4xg &g_value" is `peek g_value 32 --as x64` in hotpatch/);
  assert.match(plain.stdout, /gdb's "info threads" is `threads` in hotpatch/);
  const cont = await runCli(['-p', String(f.pid), '-e', 'c']);
  assert.equal(cont.code, 0, cont.stderr);
  assert.match(cont.stdout, /running/);
  await assertUntraced(f.pid);
});

test('gdb habits that do not apply: break, step, print say what to do instead, in one line, exit 1', async () => {
  const f = await startFixture('counter');
  for (const [line, says] of [
    ['break tick', /hotpatch sets no breakpoints.*redirect it to a patch/],
    ['b main', /hotpatch sets no breakpoints/],
    ['step', /does not step it/],
    ['print count', /peek count --as i32/],
    ['x/4q g_value', /unknown letter "q"/],
    ['info nonsense', /info nonsense: not a topic/],
  ] as const) {
    const r = await runCli(['-p', String(f.pid), '-e', line, '-e', 'syms tick']);
    assert.equal(r.code, 1, line);
    const out = r.stdout.trimEnd().split('\n');
    assert.equal(out.length, 1, `one line, and the next command is not run: ${r.stdout}`);
    assert.match(out[0]!, /^error E_[A-Z_]+: /);
    assert.match(out[0]!, says, line);
  }
  const help = await runCli(['-e', 'help']);
  assert.match(help.stdout, /gdb habits: x\/4xg ADDR/);
  await assertUntraced(f.pid);
});

// ---- -x files ----

test('-x FILE: trailing # comments are allowed; an error names the file and line, and stops the file there', async () => {
  const f = await startFixture('counter');
  const dir = mkdtempSync(join(tmpdir(), 'hotpatch-x-'));
  const file = join(dir, 'look.hp');
  writeFileSync(file, ['# look at tick', 'syms tick   # the static one', '', 'disasm tick 2 # two instructions', 'peek main --as bogus', 'syms main'].join('\n'));
  const r = await runCli(['-p', String(f.pid), '-x', file]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /\stick\s+counter\.c\s+counter/, 'line 2 ran, its comment left out');
  assert.match(r.stdout, /<tick\+0x3>.*ret/, 'line 4 ran with its count, its comment left out');
  const errors = r.stdout.split('\n').filter((l) => l.includes('error'));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, new RegExp(`^${file.replace(/[/.]/g, '\\$&')}:5: error E_USAGE: peek: --as must be one of`));
  assert.doesNotMatch(r.stdout, /\smain\s+counter/, 'line 6 is not run');

  // A word that starts with # begins the comment (a #3!lib library number does not): here it leaves peek without
  // its WHERE, and the usage error says where the line is.
  writeFileSync(file, 'peek #count\n');
  const missing = await runCli(['-p', String(f.pid), '-x', file]);
  assert.equal(missing.code, 1, missing.stdout + missing.stderr);
  assert.match(missing.stdout, new RegExp(`^${file.replace(/[/.]/g, '\\$&')}:1: error E_USAGE: peek: missing where`, 'm'));
  const json = await runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', '-x', file]);
  assert.equal(json.code, 1);
  assert.match(JSON.stringify(json.json[0]), new RegExp(`${file.replace(/[/.]/g, '\\$&')}:1`), 'the JSON outcome names file:line too');
  await assertUntraced(f.pid);
});

// ---- counted nouns ----

test('counted nouns: 1 thread, 9 bytes, 1 symbol; no "(s)" and no "1 threads" in what commands say', async () => {
  assert.equal(counted(1, 'thread'), '1 thread');
  assert.equal(counted(2, 'thread'), '2 threads');
  assert.equal(counted(0, 'byte'), '0 bytes');
  assert.equal(counted(9n, 'byte'), '9 bytes');
  assert.equal(counted(1n, 'byte'), '1 byte');
  assert.equal(counted(3, 'entry', 'entries'), '3 entries');

  const pid = await startDetachedFixture('counter');
  const session = new Session();
  await session.attach(pid);
  try {
    session.explain = true;
    const said: string[] = [];
    const run = async (line: string) => {
      const o = await runLine(session, line);
      assert.equal(o?.ok, true, `${line}: ${o?.error?.message}`);
      said.push(JSON.stringify(o!.result!.blocks), ...(o!.result!.explain ?? []));
      return o!;
    };
    await run('syms tick* --local');
    await run('stop');
    await run('cont');
    await run(`load ${patchPath('patch_tick')} --method map`);
    await run('redirect counter.c:tick tick_v2');
    await run('revert tick');
    const text = said.join('\n');
    assert.match(text, /frozen \(1 thread stopped/);
    assert.match(text, /\b1 symbol\b/);
    assert.doesNotMatch(text, /\(s\)/, 'no "(s)"');
    assert.doesNotMatch(text, /\b1 (threads|bytes|symbols|pages|relocations|segments|instructions)\b/);
    assert.doesNotMatch(text, /veneer via veneer/);
  } finally {
    await session.detach();
  }
});
