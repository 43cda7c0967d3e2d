// The Ink console in-process with ink-testing-library: typing, completion, history, paging, Ctrl-C, tour, a live target.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { render, cleanup } from 'ink-testing-library';
import { App } from '../src/ui/App.js';
import { memoryHistory } from '../src/ui/history.js';
import { Session } from '../src/session.js';
import { killAllFixtures, startDetachedFixture } from './helpers/fixtures.js';
import { prepareThenRun } from '../src/ui/hooks.js';

const KEYS = { enter: '\r', tab: '\t', up: '\x1b[A', pageDown: '\x1b[6~', pageUp: '\x1b[5~', ctrlC: '\x03', ctrlR: '\x12', ctrlU: '\x15' };

after(async () => {
  cleanup();
  await killAllFixtures();
});

function kill(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

const plain = (s: string | undefined) => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '');

/** Render the console with an in-memory history and a fixed size. */
function consoleFor(session = new Session(), opts: { history?: string[]; rows?: number; columns?: number; initialLines?: string[] } = {}) {
  const history = memoryHistory(opts.history ?? []);
  const ui = render(
    <App session={session} history={history} color={false} initialLines={opts.initialLines} size={{ columns: opts.columns ?? 100, rows: opts.rows ?? 30 }} />,
  );
  const frame = () => plain(ui.lastFrame());
  /** Wait until the frame satisfies `ok` (commands finish asynchronously). */
  const waitFor = async (ok: (f: string) => boolean, what: string, timeoutMs = 15000) => {
    const start = Date.now();
    while (!ok(frame())) {
      if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}; frame:\n${frame()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return frame();
  };
  /** Write keys one chunk at a time, letting Ink render between them, as a person types. */
  const type = async (...chunks: string[]) => {
    for (const c of chunks) {
      ui.stdin.write(c);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  // The prompt is the last such line: echoed commands above it start the same way.
  const promptLine = () => [...frame().split('\n')].reverse().find((l) => /^hotpatch>( |$)|^\(.*reverse-i-search/.test(l)) ?? '';
  const waitPrompt = (expected: string) => waitFor(() => promptLine().trimEnd() === expected, `the prompt to read "${expected}"`);
  return { ui, history, frame, waitFor, type, promptLine, waitPrompt, session };
}


test('without a target the status line says so, and the prompt is ready', async () => {
  const c = consoleFor();
  await c.waitFor((f) => f.includes('no process attached'), 'status line');
  assert.match(c.promptLine(), /^hotpatch>/);
  c.ui.unmount();
});

test('help + Enter shows the commands grouped by stage, from the top of the result', async () => {
  const c = consoleFor();
  await c.type('help', KEYS.enter);
  const f = await c.waitFor((f) => f.includes('Attach: take hold'), 'help output');
  assert.match(f, /hotpatch> help/);
  assert.match(f, /Explore: find the function/);
  c.ui.unmount();
});

test('dis + Tab completes to disasm; options and their values complete from the spec', async () => {
  const c = consoleFor();
  await c.type('dis', KEYS.tab);
  await c.waitPrompt('hotpatch> disasm');
  await c.type(KEYS.ctrlU, 'syms --ty', KEYS.tab);
  await c.waitPrompt('hotpatch> syms --type');
  await c.type('f', KEYS.tab);
  await c.waitPrompt('hotpatch> syms --type func');
  await c.type(KEYS.ctrlU, 'explain ', KEYS.tab);
  await c.waitFor((f) => /^\s+on\s+off/m.test(f), 'the on/off choices listed');
  c.ui.unmount();
});

test('history: ↑ brings back the last line, and lines run are saved to the store', async () => {
  const c = consoleFor(undefined, { history: ['help'] });
  await c.type('explain on', KEYS.enter);
  await c.waitFor((f) => f.includes('explain is on'), 'explain result');
  await c.waitFor((f) => f.includes('explain on'), 'status shows explain on');
  await c.type(KEYS.up);
  await c.waitPrompt('hotpatch> explain on');
  await c.type(KEYS.up);
  await c.waitPrompt('hotpatch> help');
  assert.deepEqual(c.history.lines, ['help', 'explain on']);
  c.ui.unmount();
});

test('Ctrl-R finds an older line; Enter runs it', async () => {
  const c = consoleFor(undefined, { history: ['explain off', 'help disasm', 'syms foo'] });
  await c.type(KEYS.ctrlR, 'ex');
  await c.waitFor(() => /reverse-i-search\)'ex': explain off/.test(c.promptLine()), 'the search to find explain off');
  await c.type(KEYS.enter);
  await c.waitFor((f) => f.includes('explain is off'), 'the found line ran');
  c.ui.unmount();
});

test('Ctrl-C clears a line, then asks before quitting', async () => {
  const c = consoleFor();
  await c.type('syms whatever');
  await c.type(KEYS.ctrlC);
  await c.waitPrompt('hotpatch>');
  await c.type(KEYS.ctrlC);
  await c.waitFor((f) => f.includes('press Ctrl-C again to quit'), 'the question');
  await c.type('h');
  await c.waitFor((f) => !f.includes('press Ctrl-C again'), 'any other key to take the question back');
  c.ui.unmount();
});

test('long output stays above the prompt: a marker says what is hidden, PgDn and PgUp page', async () => {
  const c = consoleFor(undefined, { rows: 14 });
  await c.type('help', KEYS.enter);
  let f = await c.waitFor((f) => /more lines below · PgDn/.test(f), 'the below marker');
  assert.match(f, /hotpatch> help/, 'the result is shown from its first line');
  assert.equal(f.split('\n').length, 13, 'the frame keeps one row less than the terminal');
  await c.type(KEYS.pageDown);
  f = await c.waitFor((f) => /more lines above · PgUp/.test(f), 'the above marker');
  assert.doesNotMatch(f, /hotpatch> help/);
  await c.type(KEYS.pageUp);
  await c.waitFor((f) => /hotpatch> help/.test(f), 'back at the top');
  c.ui.unmount();
});

test('a pasted chunk with newlines runs line by line', async () => {
  const c = consoleFor();
  c.ui.stdin.write('explain on\rexplain off\r');
  await c.waitFor((f) => f.includes('explain is on') && f.includes('explain is off'), 'both lines ran');
  c.ui.unmount();
});

test('tour: refused without the demo; on the demo, stage by stage on Enter, and tour stop ends it', async () => {
  const c = consoleFor(undefined, { rows: 40, columns: 120 });
  await c.type('tour', KEYS.enter);
  // Without its demo target the tour would run failing commands: one error that says how to start it, and no tour.
  await c.waitFor((f) => f.includes('E_NO_TARGET') && f.includes('the tour patches the demo target'), 'the refusal');
  assert.doesNotMatch(c.frame(), /Tour 1\/8|hotpatch> syms rate_limit|Enter runs the next stage/);
  const pid = await startDetachedFixture('demo');
  await c.type(`attach ${pid}`, KEYS.enter);
  await c.waitFor((f) => f.includes(`attached to ${pid} (demo)`), 'attached');
  await c.type('tour', KEYS.enter);
  await c.waitFor((f) => f.includes('Tour 1/8 · find'), 'first stage');
  await c.waitFor((f) => f.includes('hotpatch> syms rate_limit') && f.includes('demo.c'), 'the stage ran its line');
  await c.waitFor((f) => f.includes('Enter runs the next stage: read'), 'the tour hint');
  await c.type(KEYS.enter);
  await c.waitFor((f) => f.includes('Tour 2/8 · read') && f.includes('hotpatch> tour next'), 'second stage');
  await c.waitFor((f) => f.includes('hotpatch> peek s_dropped --as i32') && /setle/.test(f), 'the stage ran its lines');
  await c.type('tour stop', KEYS.enter);
  await c.waitFor((f) => f.includes('tour stopped') && !f.includes('Enter runs the next stage'), 'tour over');
  c.ui.unmount();
  await c.session.detach();
});

test('at 80x24 the end of a long result stays in view, its paused line included; PgUp reaches its top', async () => {
  const pid = await startDetachedFixture('demo');
  const session = new Session();
  const c = consoleFor(session, { initialLines: [`attach ${pid}`], columns: 80, rows: 24 });
  await c.waitFor((f) => f.includes(`pid ${pid} demo`), 'attached');
  await c.type('disasm main', KEYS.enter);
  let f = await c.waitFor((f) => /^paused \d+\.\d+ ms/m.test(f), 'the paused line under the result');
  assert.match(f, /more lines above · PgUp/, 'the top of the result is above');
  assert.doesNotMatch(f, /more lines below/, 'nothing hidden below');
  assert.doesNotMatch(f, /hotpatch> disasm main/, 'the result is longer than the screen: its echo is above');
  for (let i = 0; i < 10 && !/hotpatch> disasm main/.test(c.frame()); i++) await c.type(KEYS.pageUp);
  f = await c.waitFor((f) => /hotpatch> disasm main/.test(f), 'the top of the result, a few PgUp away');
  assert.match(f, /more lines below · PgDn/);
  // help, a reference page, shows from its top; its end is a PgDn away.
  await c.type('help', KEYS.enter);
  f = await c.waitFor((f) => f.includes('hotpatch> help') && f.includes('Attach: take hold'), 'help from its top');
  assert.match(f, /more lines below · PgDn/);
  c.ui.unmount();
  await session.detach();
});

test('attached to a live process: status, symbol completion, explain lines, and the exit notice', async () => {
  const pid = await startDetachedFixture('demo');
  const session = new Session();
  const c = consoleFor(session, { initialLines: ['explain on', `attach ${pid}`], columns: 100, rows: 40 });
  let f = await c.waitFor((f) => f.includes(`pid ${pid} demo`), 'the status line names the target');
  assert.match(f, /1 thread/);
  assert.match(f, /running/);
  f = await c.waitFor((f) => f.includes('· PTRACE_SEIZE'), 'explain lines under the attach result');
  await c.type('disasm rate_l', KEYS.tab);
  await c.waitPrompt('hotpatch> disasm rate_limit');
  await c.type(KEYS.enter);
  f = await c.waitFor((f) => /setle/.test(f), 'the disassembly');
  assert.match(f, /paused \d+\.\d+ ms/);
  kill(pid);
  await c.waitFor((f) => f.includes(`process ${pid} (demo) is gone (killed by signal 9 (SIGKILL)); no process attached`), 'the exit notice');
  await c.waitFor((f) => f.includes(`no process attached (${pid} is gone)`), 'the status line after the exit');
  c.ui.unmount();
  await session.detach();
});

test('the first command after attaching builds the symbol tables step by step, saying so; Ctrl-C stops it before it runs', async () => {
  const pid = await startDetachedFixture('counter');
  const session = new Session();
  await session.attach(pid);
  try {
    // Cancelled from the start: the steps stop at once and the command never runs.
    const aborted = new AbortController();
    aborted.abort();
    const said: string[] = [];
    assert.equal(await prepareThenRun(session, 'disasm tick', aborted.signal, (t) => said.push(t)), undefined);
    assert.ok(said.length <= 1, `stopped before the second step: ${said.join('; ')}`);

    // Let through: one step per module, then the index, then the command finds them built.
    said.length = 0;
    const outcome = await prepareThenRun(session, 'disasm tick', new AbortController().signal, (t) => said.push(t));
    assert.equal(outcome?.ok, true, JSON.stringify(outcome?.error));
    assert.ok(said.some((t) => /^reading the symbols of counter \(\d+\/\d+\)$/.test(t)), said.join('; '));
    assert.match(said[said.length - 2]!, /^indexing the symbols \((\d+)\/\1\)$/);
    assert.equal(said[said.length - 1], '', 'the progress is taken away once the command itself runs');
    // Built once: the next command goes straight to work, and commands that need no symbols never wait for them.
    said.length = 0;
    await prepareThenRun(session, 'disasm tick', new AbortController().signal, (t) => said.push(t));
    await prepareThenRun(session, 'maps counter', new AbortController().signal, (t) => said.push(t));
    assert.deepEqual(said, []);
  } finally {
    await session.detach();
  }
});

test('a greeting (npm start: where the demo writes its log) opens the output', async () => {
  const history = memoryHistory([]);
  const ui = render(<App session={new Session()} history={history} color={false} greeting={['demo target running: pid 1', 'type tour']} size={{ columns: 80, rows: 24 }} />);
  const start = Date.now();
  while (!plain(ui.lastFrame()).includes('type tour')) {
    if (Date.now() - start > 5000) assert.fail(`no greeting; frame:\n${plain(ui.lastFrame())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.match(plain(ui.lastFrame()), /demo target running: pid 1\ntype tour/);
  ui.unmount();
});
