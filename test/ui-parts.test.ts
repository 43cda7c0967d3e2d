// The console's pure parts, table-driven: completion, the line editor, history search, the output window, tables, status, tour.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { complete, commonPrefix, usageChoices, filePaths, type CompletionSource } from '../src/ui/complete.js';
import * as ed from '../src/ui/editor.js';
import { remember, searchBack } from '../src/ui/history.js';
import { layoutViewport, entryLines } from '../src/ui/view.js';
import { blockLines, wrapLine, lineLength, MAX_RESULT_LINES } from '../src/ui/lines.js';
import { statusLine } from '../src/ui/status.js';
import { createReducer, initialState, type ConsoleState } from '../src/ui/state.js';
import { allCommands } from '../commands/index.js';
import { runLine } from '../src/cli/runner.js';
import { hexdump, pauseText } from '../src/cli/render-plain.js';
import { combinePauses } from '../src/process/target.js';
import { Session } from '../src/session.js';
import { tourStepOf, TOUR_STAGES } from '../commands/tour.js';
import { HotpatchError, toHotpatchError } from '../src/errors.js';
import { startDetachedFixture, killAllFixtures } from './helpers/fixtures.js';
import { shortUsage } from '../commands/help.js';
import { hintLine } from '../src/ui/components/HintLine.js';
import { completionRows } from '../src/ui/components/CompletionList.js';

after(killAllFixtures);

const SYMBOLS = ['compute', 'main', 'malloc', 'malloc_trim', 'rate_limit', 'rate_limit_fixed', 'tick'];
const source: CompletionSource = {
  commands: allCommands(),
  symbols: (prefix, limit) => SYMBOLS.filter((s) => s.startsWith(prefix)).slice(0, limit),
  modules: () => ['counter', 'libc.so.6', 'ld-linux-x86-64.so.2'],
  registers: () => ['rip', 'rsp', 'rax', 'rdi'],
  files: () => ['fixtures/build/patches/demo_fix.so'],
};
const candidates = (line: string) => complete(line, line.length, source).candidates;

test('completion: commands, options, option values, choices and arguments by kind', () => {
  const cases: [string, string[]][] = [
    ['dis', ['disasm']],
    ['qu', ['quit']],
    ['x/', ['x/i']], // an alias when no command name fits
    ['syms --', ['--module', '--type', '--local']],
    ['syms --type ', ['func', 'object', 'tls']],
    ['syms --type=o', ['--type=object']],
    ['syms --module li', ['libc.so.6']],
    ['explain ', ['on', 'off']],
    ['tour n', ['next']],
    ['help dis', ['disasm']],
    ['disasm rate', ['rate_limit', 'rate_limit_fixed']],
    ['disasm counter!ti', ['counter!tick']],
    ['disasm counter.c:ti', ['counter.c:tick']],
    ['disasm $r', ['$rip', '$rsp', '$rax', '$rdi']],
    ['disasm 0x40', []],
    ['disasm main+', []],
    ['disasm li', ['libc.so.6!']],
    ['disasm main ', []], // COUNT is a number
    ['syms --module counter ma', ['main', 'malloc', 'malloc_trim']],
    ['nosuch ', []],
  ];
  for (const [line, want] of cases) assert.deepEqual(candidates(line), want, line);
});

test('completion replaces only the word before the cursor', () => {
  const c = complete('disasm rat 4', 'disasm rat'.length, source);
  assert.deepEqual([c.from, c.to], [7, 10]);
  assert.equal(commonPrefix(c.candidates), 'rate_limit');
});

test('usage choices come from the usage line, and not from names in capitals', () => {
  assert.deepEqual(usageChoices('explain on|off', 0), ['on', 'off']);
  assert.deepEqual(usageChoices('tour [next|stop]', 0), ['next', 'stop']);
  assert.deepEqual(usageChoices('revert FROM|ID|all [--force]', 0), []);
  assert.deepEqual(usageChoices('syms [GLOB] [--module M] [--type func|object] [--local]', 0), []);
});

test('file paths: directories end with /, hidden files only on request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hotpatch-paths-'));
  try {
    mkdirSync(join(dir, 'patches'));
    writeFileSync(join(dir, 'patch.so'), '');
    writeFileSync(join(dir, '.hidden'), '');
    assert.deepEqual(filePaths(dir + '/pat', 10), [dir + '/patch.so', dir + '/patches/']);
    assert.deepEqual(filePaths(dir + '/', 10), [dir + '/patch.so', dir + '/patches/']);
    assert.deepEqual(filePaths(dir + '/.h', 10), [dir + '/.hidden']);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('line editor keys', () => {
  const at = (text: string, cursor: number): ed.Editor => ({ text, cursor });
  assert.deepEqual(ed.insertText(at('sms', 1), 'y'), at('syms', 2));
  assert.deepEqual(ed.deleteBack(at('syms', 4)), at('sym', 3));
  assert.deepEqual(ed.deleteBack(at('syms', 0)), at('syms', 0));
  assert.deepEqual(ed.deleteForward(at('syms', 0)), at('yms', 0));
  assert.deepEqual(ed.killWordBack(at('disasm rate_limit  ', 19)), at('disasm ', 7));
  assert.deepEqual(ed.killToStart(at('disasm main', 7)), at('main', 0));
  assert.deepEqual(ed.killToEnd(at('disasm main', 6)), at('disasm', 6));
  assert.deepEqual(ed.moveHome(at('abc', 2)), at('abc', 0));
  assert.deepEqual(ed.moveEnd(at('abc', 0)), at('abc', 3));
});

test('history: no blanks or repeats; reverse search from the newest', () => {
  assert.deepEqual(remember(['help'], 'help'), ['help']);
  assert.deepEqual(remember(['help'], '  '), ['help']);
  assert.deepEqual(remember(['help'], 'syms'), ['help', 'syms']);
  const h = ['syms tick', 'disasm tick', 'help', 'syms main'];
  assert.equal(searchBack(h, 'syms'), 3);
  assert.equal(searchBack(h, 'syms', 3), 0);
  assert.equal(searchBack(h, 'nothing'), undefined);
});

test('the output window: markers take a row; an anchor shows its entry from the top unless the rest fits', () => {
  const cases: [number, number, number, { start: number; end: number; above: number; below: number }][] = [
    [5, 10, 0, { start: 0, end: 5, above: 0, below: 0 }],
    [100, 10, Infinity, { start: 91, end: 100, above: 91, below: 0 }],
    [100, 10, 0, { start: 0, end: 9, above: 0, below: 91 }],
    [100, 10, 50, { start: 50, end: 58, above: 50, below: 42 }],
    [100, 10, 95, { start: 91, end: 100, above: 91, below: 0 }],
  ];
  for (const [total, height, top, want] of cases) assert.deepEqual(layoutViewport(total, height, top), want, `${total} ${height} ${top}`);
});

test('tables fit the width by narrowing the widest columns; huge results are capped with a note', () => {
  const rows = [['0x55d104bc82f0', '16', 'func', 'global', 'a_very_long_symbol_name_that_goes_on_and_on_and_on', 'some/long/path/file.c', 'libsomething.so.6']];
  const { lines } = blockLines({ type: 'table', columns: ['address', 'size', 'type', 'bind', 'name', 'file', 'module'], rows }, 80, 100);
  for (const l of lines) assert.ok(lineLength(l) <= 80, `${lineLength(l)}: ${l.map((s) => s.text).join('')}`);
  assert.match(lines[1]!.map((s) => s.text).join(''), /^0x55d104bc82f0\s+16\s+func/);
  // Narrowed cells wrap: every character of the long name and path is still there, in order.
  const text = lines.slice(1).map((l) => l.map((s) => s.text).join(''));
  assert.ok(text.length > 1, 'the row takes more than one line');
  const nameColumn = lines[0]!.map((s) => s.text).join('').indexOf('name');
  const name = text.map((t) => t.slice(nameColumn).split(/\s{2,}/)[0]).join('');
  assert.equal(name, rows[0]![4]);
  // Summaries wrap at spaces.
  const help = blockLines({ type: 'table', columns: ['command', 'what it does'], rows: [['syms [GLOB] [--module M] [--type func|object]', 'find functions and variables by name (globs allowed), with their source file']] }, 60, 100);
  const helpText = help.lines.slice(1).map((l) => l.map((s) => s.text).join(''));
  for (const t of helpText) assert.ok(t.length <= 60, t);
  const summaryColumn = help.lines[0]!.map((s) => s.text).join('').indexOf('what it does');
  assert.equal(helpText.map((t) => t.slice(summaryColumn).trim()).filter(Boolean).join(' '), 'find functions and variables by name (globs allowed), with their source file');
  assert.equal(helpText.map((t) => t.slice(0, summaryColumn).trim()).filter(Boolean).join(' '), 'syms [GLOB] [--module M] [--type func|object]');
  const big = blockLines({ type: 'table', columns: ['n'], rows: Array.from({ length: 100_000 }, (_, i) => [String(i)]) }, 80, MAX_RESULT_LINES);
  assert.equal(big.lines.length, MAX_RESULT_LINES);
  assert.equal(big.more, 100_000 - (MAX_RESULT_LINES - 1));
});

test('hexdumps: the plain layout where it fits, one row per 16 bytes in 80 columns, zero bytes told apart', () => {
  const bytes = Buffer.from('hotpatch\0\0\x01\x02 demo bytes!', 'latin1');
  const address = 0x7ffd1234567en;
  const text = (width: number) => blockLines({ type: 'hexdump', address, bytes }, width, 100).lines.map((l) => l.map((seg) => seg.text).join(''));
  assert.deepEqual(text(120), hexdump(address, bytes).split('\n'));
  const narrow = text(80);
  assert.equal(narrow.length, 3, 'an unaligned start takes one row more');
  for (const row of narrow) assert.ok(row.length <= 80, `${row.length} columns: ${row}`);
  assert.match(narrow[0]!, /^7ffd12345670 .* 68 6f\s+\|\s+ho\|$/);
  assert.match(narrow[1]!, /^7ffd12345680 74 70 61 74 63 68 00 00  01 02 20 64 65 6d 6f 20 \|tpatch\.\.\.\. demo \|$/);
  const roles = blockLines({ type: 'hexdump', address, bytes }, 80, 100).lines[1]!.filter((seg) => seg.text === '00' || seg.text.startsWith('00'));
  assert.ok(roles.length > 0 && roles.every((seg) => seg.role === 'zeroByte'), 'zero bytes have their own role');
});

test('an error message with line breaks becomes rows of its own, each wrapped to the width', () => {
  const error = new HotpatchError('ETIMEDOUT', 'the remote call at 0x7f410064ed50 did not return within 2000 ms\n(another thread may hold a lock it needs); the thread was restored', 'try again');
  const entry = { id: 1, kind: 'command' as const, line: 'call sleep 3', explain: false, outcome: { line: 'call sleep 3', command: 'call sleep 3', ok: false, error } };
  const rows = entryLines(entry, 60).map((l) => l.map((seg) => seg.text).join(''));
  for (const row of rows) assert.ok(!row.includes('\n') && row.length <= 60, JSON.stringify(row));
  assert.equal(rows[0], 'hotpatch> call sleep 3');
  assert.match(rows.join(' ').replace(/\s+/g, ' '), /error ETIMEDOUT: the remote call at 0x7f410064ed50 did not return within 2000 ms \(another thread/);
  assert.ok(rows.some((r) => r.startsWith('(another thread')), 'the second line of the message starts a row');
});

test('wrapping keeps every segment and its role', () => {
  const rows = wrapLine([{ text: 'abcdef', role: 'address' }, { text: 'ghij' }], 4);
  assert.deepEqual(rows.map((r) => r.map((s) => s.text).join('')), ['abcd', 'efgh', 'ij']);
  assert.equal(rows[1]![0]!.role, 'address');
});

test('the status line drops its least needed parts to fit 80 columns', () => {
  const st = { attached: true, pid: 123456, name: 'a-long-process-name', threads: 12, frozen: false, patches: 0, pause: { micros: 300, threads: 12, workMicros: 10 }, explain: false };
  const text = (w?: number) => statusLine(st, w).map((s) => s.text).join('');
  assert.match(text(), /explain off/);
  const narrow = text(80);
  assert.ok(narrow.length <= 80, narrow);
  assert.match(narrow, /pid 123456 a-long-process-name │ 12 threads │ running │ paused 0\.30 ms/);
  assert.match(statusLine({ attached: false, explain: true }).map((s) => s.text).join(''), /no process attached .*explain on/);
});

test('the reducer: Ctrl-C cancels a running command and drops what was queued', () => {
  const reduce = createReducer(() => ({ from: 0, to: 0, candidates: [], more: false }));
  const view = { top: 0, height: 10, total: 0 };
  let s: ConsoleState = reduce(initialState(), { type: 'run', lines: ['syms', 'maps'] });
  s = reduce(s, { type: 'start', nowMs: 0 });
  assert.equal(s.running?.line, 'syms');
  s = reduce(s, { type: 'key', input: 'c', key: { ctrl: true }, view });
  assert.equal(s.running?.cancelling, true);
  assert.equal(s.queue.length, 0);
  // Node's AbortError (code ABORT_ERR) becomes E_CANCELLED on its way in.
  const abortError = toHotpatchError(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
  assert.equal(abortError.code, 'E_CANCELLED');
  const aborted = { line: 'syms', command: 'syms', ok: false, error: abortError };
  s = reduce(s, { type: 'finished', entryId: s.running!.entryId, outcome: aborted, explain: false });
  assert.equal(s.running, undefined);
  assert.equal(s.entries[0]!.kind === 'command' && s.entries[0]!.cancel, 'cancelled');
  assert.match(entryLines(s.entries[0]!, 80).map((l) => l.map((seg) => seg.text).join('')).join('\n'), /cancelled \(Ctrl-C\)/);

  // A command that finishes in spite of Ctrl-C keeps its result, and the console says the Ctrl-C came too late.
  s = reduce(s, { type: 'run', lines: ['explain'] });
  s = reduce(s, { type: 'start', nowMs: 0 });
  s = reduce(s, { type: 'key', input: 'c', key: { ctrl: true }, view });
  const done = { line: 'explain', command: 'explain', ok: true, result: { data: {}, blocks: [{ type: 'text' as const, text: 'explain is off' }] } };
  s = reduce(s, { type: 'finished', entryId: s.running!.entryId, outcome: done, explain: false });
  const last = s.entries[s.entries.length - 1]!;
  assert.equal(last.kind === 'command' && last.cancel, 'late');
  const shown = entryLines(last, 100).map((l) => l.map((seg) => seg.text).join('')).join('\n');
  assert.match(shown, /explain is off/);
  assert.match(shown, /Ctrl-C came too late/);
  assert.doesNotMatch(shown, /cancelled \(Ctrl-C\)/);
});

test('tour: refused without the demo; on the demo: start, next through every stage, and the end; next without a tour is an error', async () => {
  const session = new Session();
  // Without its demo target the tour would only run failing commands: it refuses, and says how to start the demo.
  const refused = await runLine(session, 'tour');
  assert.equal(refused!.error?.code, 'E_NO_TARGET');
  assert.match(refused!.error!.message, /the tour patches the demo target; no process attached/);
  assert.match(refused!.error!.hint ?? '', /npm start/);
  assert.equal(session.tourStage, undefined, 'no tour started');
  const counter = await startDetachedFixture('counter');
  const demo = await startDetachedFixture('demo');
  try {
    assert.equal((await runLine(session, `attach ${counter}`))!.error, undefined);
    const other = await runLine(session, 'tour');
    assert.equal(other!.error?.code, 'E_NO_TARGET');
    assert.match(other!.error!.message, new RegExp(`attached to ${counter} \\(counter\\), not the demo`));
    await runLine(session, 'detach');
    assert.equal((await runLine(session, `attach ${demo}`))!.error, undefined);
    await walkTheTour(session);
  } finally {
    await session.detach();
    await killAllFixtures();
  }
});

async function walkTheTour(session: Session) {
  const names: string[] = [];
  let step = tourStepOf((await runLine(session, 'tour'))!.result!.data)!;
  names.push(step.name);
  while (!step.done) {
    step = tourStepOf((await runLine(session, 'tour next'))!.result!.data)!;
    names.push(step.name);
  }
  assert.deepEqual(names, ['find', 'read', 'load', 'redirect', 'watch', 'revert', 'patch', 'undo']);
  assert.equal(names.length, TOUR_STAGES.length);
  assert.deepEqual(step.lines, ['revert rate_limit', 'cleanup']);
  assert.deepEqual(TOUR_STAGES.find((s) => s.name === 'revert')!.lines, ['revert rate_limit', 'unload demo_fix.so', 'cleanup']);
  const patch = TOUR_STAGES.find((s) => s.name === 'patch')!.lines[0]!;
  assert.match(patch, /^patch rate_limit --from \/.*\/fixtures\/demo_patch_fix\.c$/);
  assert.ok(existsSync(patch.split(' ').at(-1)!), 'the fix the tour compiles is shipped');
  const after = await runLine(session, 'tour next');
  assert.equal(after!.error?.code, 'E_NO_TOUR');
  const load = TOUR_STAGES.find((s) => s.name === 'load')!.lines[0]!;
  assert.match(load, /^load \/.*\/fixtures\/build\/patches\/demo_fix\.so$/);
}

test('wrapping: a space right at the width ends the row (never one column over); continuation rows keep the bullet indent', () => {
  // The space falls at column 80: the row is exactly 80 wide and the next one starts with the next word.
  const step = `  · ${'x'.repeat(72)} the 5.`;
  const rows = wrapLine([{ text: step, role: 'explain' }], 80).map((r) => r.map((s) => s.text).join(''));
  for (const r of rows) assert.ok(r.length <= 80, `${r.length} columns: ${JSON.stringify(r)}`);
  assert.equal(rows.length, 2);
  assert.equal(rows[1], '    5.', 'an explain step continues under its text, not at the margin');
  const long = wrapLine([{ text: '  · ' + 'word '.repeat(40).trim() }], 30).map((r) => r.map((s) => s.text).join(''));
  for (const r of long.slice(1)) assert.match(r, /^ {4}word/);
  for (const r of long) assert.ok(r.length <= 30, r);
  assert.equal(long.join(' ').replace(/\s+/g, ' ').trim(), ('· ' + 'word '.repeat(40)).trim(), 'no text lost or doubled');
  // A line without indent wraps to the margin, as before.
  assert.deepEqual(wrapLine([{ text: 'aaaa bbbb cccc' }], 9).map((r) => r.map((s) => s.text).join('')), ['aaaa bbbb', 'cccc']);
});

test('the reducer: text typed with Ctrl-R in one chunk is the search query, and a chunk ending in Enter runs the match', () => {
  const reduce = createReducer(() => ({ from: 0, to: 0, candidates: [], more: false }));
  const view = { top: 0, height: 10, total: 0 };
  let s: ConsoleState = initialState(['disasm main', 'syms tick', 'maps']);
  s = reduce(s, { type: 'key', input: '\x12syms', key: {}, view });
  assert.equal(s.search?.query, 'syms');
  assert.equal(s.editor.text, '', 'nothing typed into the line behind the search');
  s = reduce(s, { type: 'key', input: ' t\r', key: {}, view });
  assert.equal(s.search, undefined);
  assert.deepEqual(s.queue.map((q) => q.line), ['syms tick']);
});

test('the reducer: the status keeps the pause the last command reported; attach and detach forget it', () => {
  const reduce = createReducer(() => ({ from: 0, to: 0, candidates: [], more: false }));
  const pause = { micros: 120, threads: 1, workMicros: 60 };
  const finish = (s: ConsoleState, line: string, withPause?: typeof pause) => {
    s = reduce(reduce(s, { type: 'run', lines: [line] }), { type: 'start', nowMs: 0 });
    const outcome = { line, command: line, ok: true, result: { data: {}, blocks: [], pause: withPause } };
    return reduce(s, { type: 'finished', entryId: s.running!.entryId, outcome, explain: false });
  };
  let s = finish(initialState(), 'load x.so', pause);
  assert.deepEqual(s.lastPause, pause);
  s = finish(s, 'syms tick');
  assert.deepEqual(s.lastPause, pause, 'a command that did not stop the target leaves the last pause shown');
  s = finish(s, 'detach');
  assert.equal(s.lastPause, undefined);
});

test('the hint line: what a running command is busy with, and Ctrl-C, stay in 80 columns', () => {
  const s: ConsoleState = {
    ...initialState(),
    running: { entryId: 1, line: 'disasm ' + 'a_long_name_'.repeat(8), group: 0, follow: true, startedMs: 0, cancelling: false, progress: 'reading the symbols of node (1/9)' },
  };
  const text = hintLine(s, 1500, 80).map((seg) => seg.text).join('');
  assert.ok(text.length <= 80, `${text.length}: ${text}`);
  assert.match(text, /disasm a_long.*… · reading the symbols of node \(1\/9\) · 1\.5 s · Ctrl-C cancels$/);
  // A long module name too: the step gives way after the line, and Ctrl-C cancels stays whole.
  const busy = hintLine({ ...s, running: { ...s.running!, line: 'syms uv_loop_*', progress: 'reading the symbols of ld-linux-x86-64.so.2 (8/9)' } }, 500, 80);
  const busyText = busy.map((seg) => seg.text).join('');
  assert.ok(busyText.length <= 80, `${busyText.length}: ${busyText}`);
  assert.match(busyText, /^. syms uv_loop_\* · reading the symbols of ld-linux.*… · 0\.5 s · Ctrl-C cancels$/);
});

test('help: the overview has one short usage per command, grouped by stage, in 80 columns; help COMMAND has the rest', async () => {
  const outcome = (await runLine(new Session(), 'help'))!;
  const rows = entryLines({ id: 1, kind: 'command', line: 'help', outcome, explain: false }, 80).map((l) => l.map((s) => s.text).join(''));
  for (const r of rows) assert.ok(r.length <= 80, `${r.length}: ${r}`);
  const headings = rows.filter((r) => /^[A-Z][a-z]+: /.test(r) && !r.startsWith('Addresses')).map((r) => r.split(':')[0]);
  assert.deepEqual(headings, ['Attach', 'Explore', 'Load', 'Patch', 'Console']);
  for (const c of allCommands()) {
    const usage = shortUsage(c.usage);
    assert.doesNotMatch(usage, /--/, `${c.name}: options are for help ${c.name}`);
    assert.ok(rows.some((r) => r.startsWith(usage + '  ')), `a row for ${usage}`);
  }
  // Every group's first column has the same width: the summaries line up down the whole list.
  const starts = new Set(rows.filter((r) => /^[a-z]+\b.*\S {2,}\S/.test(r)).map((r) => /^\S.*?\s{2,}(?=\S)/.exec(r)![0].length));
  assert.equal(starts.size, 1, `summary columns: ${[...starts].join(', ')}`);
  assert.deepEqual(['peek WHERE [LEN] [--as x8|x32] [--out FILE]', 'poke WHERE BYTES… | poke WHERE --u32 N', 'load PATH [--bind SYM=WHERE]… [--init]'].map(shortUsage), [
    'peek WHERE [LEN]',
    'poke WHERE BYTES…',
    'load PATH',
  ]);
  const one = (await runLine(new Session(), 'help peek'))!.result!.blocks.flatMap((b) => blockLines(b, 80, 1000).lines).map((l) => l.map((s) => s.text).join(''));
  assert.match(one.join('\n'), /--out FILE/);
});

test('disassembly marks where the branches of the listing land, and which way each branch goes', () => {
  const at = (off: number) => 0x401000n + BigInt(off);
  const line = (off: number, mnemonic: string, operands: string, comment?: string) => ({
    address: at(off), location: `f+0x${off.toString(16)}`, bytes: '90', mnemonic, operands, comment,
  });
  const lines = [
    line(0, 'test', 'edi, edi'),
    line(2, 'je', '0x401008', 'f+0x8'),
    line(4, 'add', 'eax, 1'),
    line(6, 'jmp', '0x401002', 'f+0x2'),
    line(8, 'call', '0x402000', 'g'),
    line(13, 'ret', ''),
  ];
  const rows = blockLines({ type: 'disasm', lines }, 80, 100).lines.map((l) => l.map((s) => s.text).join(''));
  assert.match(rows[0]!, /^ {3}0x401000/);
  assert.match(rows[1]!, /^ > 0x401002 .*je\s+0x401008\s+; f\+0x8 ↓$/, 'a landing place, and a branch forward');
  assert.match(rows[3]!, /jmp\s+0x401002\s+; f\+0x2 ↑$/, 'a branch back: a loop');
  assert.match(rows[4]!, /^ > 0x401008 .*call\s+0x402000\s+; g$/, 'a call out of the listing has no arrow');
  const pc = blockLines({ type: 'disasm', lines: [{ ...lines[1]!, currentThreads: [42] }, ...lines.slice(2)] }, 80, 100).lines[0]!.map((s) => s.text).join('');
  assert.match(pc, /^=> 0x401002 .*<- thread 42$/, 'a thread\'s pc wins over the landing mark');
});

test('Tab candidates: paths are listed by their last part', () => {
  const rows = completionRows(['fixtures/build/patches/demo_fix.so', 'fixtures/build/patches/sub/'], false, 80, 2, true).map((l) => l.map((s) => s.text).join(''));
  assert.deepEqual(rows, ['  demo_fix.so  sub/']);
  const symbols = completionRows(['operator/', 'operator/='], false, 80, 2).map((l) => l.map((s) => s.text).join(''));
  assert.deepEqual(symbols, ['  operator/  operator/='], 'names are listed whole');
  const c = complete('load fixtures/build/pa', 'load fixtures/build/pa'.length, source);
  assert.equal(c.paths, true);
  assert.equal(complete('disasm ma', 9, source).paths, undefined);
});

test('a command that stopped the target several times reports them all: sum, count, longest, most threads', () => {
  assert.equal(combinePauses([]), undefined);
  const one = { micros: 80, threads: 1, workMicros: 20 };
  assert.deepEqual(combinePauses([one]), one, 'one stop is shown as it is');
  const both = combinePauses([{ micros: 60, threads: 1, workMicros: 30 }, { micros: 110, threads: 8, workMicros: 40 }])!;
  assert.deepEqual(both, { micros: 170, threads: 8, workMicros: 70, stops: 2, longestMicros: 110 });
  assert.equal(pauseText(one), 'paused 0.08 ms (1 thread)');
  assert.equal(pauseText(both), 'paused 0.17 ms (8 threads, 2 stops, longest 0.11 ms)');
});
