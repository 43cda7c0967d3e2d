// The real console in a terminal (tmux): attach to a fixture, type and complete commands, read the screen, quit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, isAlive } from './helpers/fixtures.js';
import { cliPath } from './helpers/cli.js';
import { tmuxServer, tmuxSkip, until } from './helpers/tmux.js';

const skip = tmuxSkip;
// A server of our own: the tests never touch another tmux, and killing it at the end ends only what we started.
const server = tmuxServer('hotpatch-e2e');
const stateDir = mkdtempSync(join(tmpdir(), 'hotpatch-e2e-'));

after(async () => {
  server.kill();
  rmSync(stateDir, { recursive: true, force: true });
  await killAllFixtures();
});

/** One console in a tmux window of the given size (`hotpatch PID`, or another command line run from the repository). */
function openConsole(name: string, columns: number, rows: number, env: string, what: number | string) {
  const run = typeof what === 'number' ? `${process.execPath} ${cliPath} ${what}` : what;
  return server.open(name, columns, rows, `exec env ${env} XDG_STATE_HOME=${stateDir} ${run}`);
}

/** SGR parameters that set a colour (foreground or background); 39/49 only reset to the default. */
function colourCodes(styled: string): string[] {
  const found: string[] = [];
  for (const m of styled.matchAll(/\x1b\[([0-9;]*)m/g)) {
    const params = m[1]!.split(';').map(Number);
    for (const p of params) if ((p >= 30 && p <= 38) || (p >= 40 && p <= 48) || (p >= 90 && p <= 97) || (p >= 100 && p <= 107)) found.push(m[0]);
  }
  return found;
}

test('80x24 without colour: the status line, Tab completes a static symbol, commands run, Ctrl-C twice detaches', { skip }, async () => {
  // The fixture is our child, the console is not: tmux's server starts it, so it may trace the fixture.
  const f = await startFixture('counter');
  // CI set, as in CI runs: Ink alone would then draw nothing until exit (the console must draw anyway).
  const c = openConsole('plain', 80, 24, 'NO_COLOR=1 CI=true', f.pid);

  await until(() => c.screen().includes(`pid ${f.pid} counter`), 'the status line to show the attached target', c.screen);
  await until(() => c.prompt() === 'hotpatch>', 'an empty prompt', c.screen);
  assert.equal(status(f.pid).tracerPid > 0, true, 'traced while the console is attached');

  // Symbols of every module complete: `ti` has candidates in libc too, listed under the prompt.
  c.keys('disasm ti', 'Tab');
  await until(() => /^\s+tick\s+time\s/m.test(c.screen()), 'Tab to list the candidates for ti', c.screen);
  c.keys('c', 'Tab');
  await until(() => c.prompt().trimEnd() === 'hotpatch> disasm tick', 'Tab to complete tick (a static function of counter.c)', c.screen);
  c.keys('Enter');
  await until(() => /^\s+0x[0-9a-f]+ <tick>\s+lea/m.test(c.screen()), 'the disassembly of tick', c.screen);

  c.keys('syms tick', 'Enter');
  await until(() => /func\s+local\s+tick\s+counter\.c\s+counter/.test(c.screen()), 'syms tick to list tick with its file', c.screen);

  const screen = c.lines();
  for (const line of screen) assert.ok(line.length <= 80, `a row wider than 80 columns: ${line}`);
  // Status, prompt and the key hint at the bottom (the last row stays free, so Ink never scrolls the screen).
  assert.match(screen[screen.length - 3]!, new RegExp(`pid ${f.pid} counter │ 1 thread │ running`), 'status line above the prompt');
  assert.match(screen[screen.length - 2]!, /^hotpatch>\s*$/, 'an empty prompt');
  assert.match(screen[screen.length - 1]!, /Tab completes/, 'the key hint');
  assert.ok(screen.length < 24, 'nothing on the last row');
  assert.deepEqual(colourCodes(c.styled()), [], 'no colour with NO_COLOR');

  c.keys('C-c');
  await until(() => c.screen().includes('press Ctrl-C again to quit'), 'Ctrl-C at an empty prompt to ask first', c.screen);
  assert.ok(!c.exited(), 'one Ctrl-C does not quit');
  c.keys('C-c');
  await until(() => c.exited(), 'the console to exit after the second Ctrl-C', c.screen);
  assert.match(c.screen(), new RegExp(`detached from ${f.pid} \\(counter\\); it runs on`));
  await until(() => status(f.pid).tracerPid === 0, 'the target to be untraced', c.screen);
  assert.ok(isAlive(f.pid), 'the target runs on');
  assert.notEqual(status(f.pid).state, 't', 'not left in a tracing stop');

  const history = readFileSync(join(stateDir, 'hotpatch', 'history'), 'utf8');
  assert.deepEqual(history.trim().split('\n'), ['disasm tick', 'syms tick'], 'history saved under $XDG_STATE_HOME/hotpatch');
  await f.stop();
});

test('colour terminal: coloured disassembly; long output stays above the prompt and pages; ↑ recalls history', { skip }, async () => {
  const f = await startFixture('counter');
  // chalk (under Ink) would turn colours off with CI set: the console is on a terminal all the same.
  const c = openConsole('colour', 100, 30, '-u NO_COLOR -u FORCE_COLOR CI=true TERM=xterm-256color', f.pid);
  await until(() => c.screen().includes(`pid ${f.pid} counter`), 'the status line', c.screen);

  c.keys('disasm tick', 'Enter');
  await until(() => /<tick>/.test(c.screen()), 'the disassembly of tick', c.screen);
  assert.notDeepEqual(colourCodes(c.styled()), [], 'colours on a terminal without NO_COLOR');

  // Every symbol of the process and libc: far more lines than the screen has. The end of the result stays in view
  // (the line that says how many more there are), its start is above.
  c.keys('syms *', 'Enter');
  const above = await until(() => /more lines \(use --json/.test(c.screen()) && /↑ (\d+) more lines above · PgUp/.exec(c.screen()), 'the end of the result, a marker of lines above', c.screen);
  let screen = c.lines();
  assert.match(screen[screen.length - 3]!, /pid \d+ counter/, 'the status line stays');
  assert.match(screen[screen.length - 2]!, /^hotpatch>/, 'the prompt stays');
  assert.doesNotMatch(screen.join('\n'), /more lines below/, 'nothing hidden below the end');

  c.keys('PageUp');
  const below = await until(() => {
    const now = /↑ (\d+) more lines? above/.exec(c.screen());
    return now && Number(now[1]) < Number(above![1]) && /↓ (\d+) more lines below · PgDn/.exec(c.screen());
  }, 'PgUp to show earlier lines, a marker of lines below', c.screen);
  c.keys('PageDown');
  await until(() => {
    const now = /↓ (\d+) more lines below/.exec(c.screen());
    return (!now || Number(now[1]) < Number(below![1])) && /more lines \(use --json/.test(c.screen());
  }, 'PgDn back to the end', c.screen);

  c.keys('Up');
  await until(() => c.prompt().trimEnd() === 'hotpatch> syms *', '↑ to bring back the last line', c.screen);
  c.keys('C-u', 'quit', 'Enter');
  await until(() => c.exited(), 'the console to exit after quit', c.screen);
  await until(() => status(f.pid).tracerPid === 0, 'the target to be untraced', c.screen);
  assert.ok(isAlive(f.pid));
  await f.stop();
});

test('Ctrl-C twice while a command holds the console: the command answers for it, the console stays; quit detaches', { skip }, async () => {
  const f = await startFixture('counter');
  // A dump to a pipe nobody reads yet: opening it blocks the console's whole event loop until a reader comes, as a
  // long synchronous read would. Keys typed meanwhile wait in the terminal.
  const fifo = join(stateDir, 'dump.fifo');
  execFileSync('mkfifo', [fifo]);
  const c = openConsole('busy', 80, 24, 'NO_COLOR=1', f.pid);
  let reader: ChildProcess | undefined;
  try {
    await until(() => c.screen().includes(`pid ${f.pid} counter`), 'the status line', c.screen);
    await until(() => c.prompt() === 'hotpatch>', 'an empty prompt', c.screen);
    // TracerPid names the console's tracer thread; its main thread is the one with the event loop.
    const consolePid = Number(/^Tgid:\s+(\d+)$/m.exec(readFileSync(`/proc/${status(f.pid).tracerPid}/status`, 'utf8'))![1]);
    c.keys(`peek main 4096 --out ${fifo}`, 'Enter');
    // The console's main thread inside openat (x86-64 system call 257) of the pipe: the event loop is held.
    await until(() => readFileSync(`/proc/${consolePid}/syscall`, 'utf8').startsWith('257 '), 'the console to block opening the pipe', c.screen);
    // The frame that says it runs was drawn before the command blocked.
    assert.match(c.screen(), /peek main 4096 .*Ctrl-C cancels/, 'the spinner line of the running peek');
    c.keys('C-c');
    c.keys('C-c');
    // Now read the pipe: the command goes on, finishes, and only then are the keys read.
    reader = spawn('cat', [fifo], { stdio: 'ignore' });
    await until(() => /4096 bytes written/.test(c.screen()), 'the dump to finish', c.screen);
    await until(() => c.screen().includes('Ctrl-C came too late'), 'the Ctrl-C to be counted against the command', c.screen);
    await until(() => c.prompt() === 'hotpatch>' && /Tab completes/.test(c.screen()), 'the console idle again', c.screen);
    assert.ok(!c.exited(), 'two Ctrl-C during a command do not quit the console');
    assert.doesNotMatch(c.screen(), /press Ctrl-C again/);
    assert.ok(status(f.pid).tracerPid > 0, 'still attached');
    c.keys('quit', 'Enter');
    await until(() => c.exited(), 'the console to exit after quit', c.screen);
    assert.match(c.screen(), new RegExp(`detached from ${f.pid}; it runs on`));
    await until(() => status(f.pid).tracerPid === 0, 'the target to be untraced', c.screen);
    assert.ok(isAlive(f.pid), 'the target runs on');
  } finally {
    // Never leave the console blocked on the pipe (a reader that comes and goes lets its open return), nor our reader.
    try {
      closeSync(openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK));
    } catch {
      // gone already
    }
    if (reader?.exitCode === null) reader.kill('SIGKILL');
    await f.stop();
  }
});

test('npm start (scripts/demo.mjs): the console on the demo; the tour patches it stage by stage; quit stops the demo', { skip }, async () => {
  // Tall enough for a whole stage (its explanation and its commands' output) on one screen.
  const c = openConsole('demo', 100, 50, 'NO_COLOR=1', `${process.execPath} scripts/demo.mjs`);
  const attached = await until(() => /pid (\d+) demo/.exec(c.screen()), 'the console attached to the demo', c.screen);
  const pid = Number(attached![1]);
  assert.ok(isAlive(pid));
  // A log of its own per run, named after the demo's pid, where the state of hotpatch lives (not one fixed /tmp path).
  const log = join(stateDir, 'hotpatch', `demo-${pid}.log`);
  assert.match(c.screen(), new RegExp(`demo target running: pid ${pid}; its output goes to ${log}`), 'npm start says where the demo writes');
  assert.match(readFileSync(log, 'utf8'), new RegExp(`^ready pid=${pid}$`, 'm'), 'the demo writes there');
  assert.notEqual(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1], String(process.pid), 'the demo is not our child');
  const logLines = () => readFileSync(log, 'utf8').trim().split('\n');

  c.keys('tour', 'Enter');
  await until(() => /Tour 1\/8 · find/.test(c.screen()) && /func\s+local\s+rate_limit\s+demo\.c/.test(c.screen()), 'stage 1 and its syms', c.screen);
  assert.match(c.screen(), /tour · Enter runs the next stage: read/, 'the tour waits for the user');
  // An empty Enter moves the tour on, one stage each.
  c.keys('Enter');
  await until(() => /Tour 2\/8 · read/.test(c.screen()) && /setle/.test(c.screen()), 'stage 2: the disassembly with the bug', c.screen);
  c.keys('Enter');
  await until(() => /loaded demo_fix\.so/.test(c.screen()), 'stage 3: the fix loaded', c.screen);
  c.keys('Enter');
  await until(() => /│ 1 patch │/.test(c.screen()), 'stage 4: the status line counts the patch', c.screen);
  const patchedFrom = logLines().length;
  await until(() => logLines().slice(patchedFrom).some((l) => /routed=8\/12 .* OK$/.test(l)), 'the demo to admit 8 calls, not 9', c.screen);
  c.keys('Enter');
  await until(() => /Tour 5\/8 · watch/.test(c.screen()) && /next stage: revert/.test(c.screen()), 'stage 5', c.screen);
  c.keys('Enter');
  await until(() => /reverted #\d+ rate_limit/.test(c.screen()) && /next stage: patch/.test(c.screen()), 'stage 6: reverted', c.screen);
  await until(() => /│ 0 patches │/.test(c.screen()), 'no patch left', c.screen);
  await until(() => /removed/.test(c.screen()) && /record/.test(c.screen()), 'stage 6: unload and cleanup ran', c.screen);
  assert.doesNotMatch(readFileSync(`/proc/${pid}/maps`, 'utf8'), /demo_fix\.so/, 'the library is gone from the demo');
  const revertedFrom = logLines().length;
  await until(() => logLines().slice(revertedFrom).some((l) => /routed=9\/12 .* OVERLOAD$/.test(l)), 'the demo back to its bug', c.screen);

  // The same fix as C, compiled, bound, loaded and redirected by patch in one stage; then undone.
  c.keys('Enter');
  await until(() => /Tour 7\/8 · patch/.test(c.screen()) && /patch #\d+: (demo\.c:)?rate_limit -> /.test(c.screen()), 'stage 7: the fix in C applied', c.screen);
  assert.match(c.screen(), /s_active\s+(demo\.c:)?s_active\s+hotpatch\s+static of demo\.c/, 'the binding table: a static of the function\'s own file');
  await until(() => /│ 1 patch │/.test(c.screen()), 'the status line counts the patch', c.screen);
  const fixedFrom = logLines().length;
  await until(() => logLines().slice(fixedFrom).some((l) => /routed=8\/12 .* OK$/.test(l)), 'the compiled fix to admit 8 calls', c.screen);
  c.keys('Enter');
  await until(() => /Tour 8\/8 · undo/.test(c.screen()) && /end of the tour/.test(c.screen()) && /unloaded the fix/.test(c.screen()), 'stage 8: reverted and unloaded', c.screen);
  await until(() => /│ 0 patches │/.test(c.screen()), 'no patch left', c.screen);
  assert.doesNotMatch(readFileSync(`/proc/${pid}/maps`, 'utf8'), /demo-.*rate_limit.*\.so/, 'the compiled fix is gone from the demo');
  const undoneFrom = logLines().length;
  await until(() => logLines().slice(undoneFrom).some((l) => /routed=9\/12 .* OVERLOAD$/.test(l)), 'the demo back to its bug again', c.screen);

  c.keys('quit', 'Enter');
  await until(() => c.exited(), 'the console to exit', c.screen);
  await until(() => !isAlive(pid), 'npm start to stop the demo it started', c.screen);
  assert.match(c.screen(), new RegExp(`stopped the demo target \\(pid ${pid}\\); its output: ${log}`));
});

test('npm start twice: each demo has its own log; quit after the demo crashed says so, not that it stopped it', { skip }, async () => {
  const first = openConsole('demo-a', 100, 30, 'NO_COLOR=1', `${process.execPath} scripts/demo.mjs`);
  const second = openConsole('demo-b', 100, 30, 'NO_COLOR=1', `${process.execPath} scripts/demo.mjs`);
  const pidOf = async (c: ReturnType<typeof openConsole>) => Number((await until(() => /pid (\d+) demo/.exec(c.screen()), 'the console attached to the demo', c.screen))![1]);
  const a = await pidOf(first);
  const b = await pidOf(second);
  assert.notEqual(a, b);
  const logA = join(stateDir, 'hotpatch', `demo-${a}.log`);
  const logB = join(stateDir, 'hotpatch', `demo-${b}.log`);
  assert.match(readFileSync(logA, 'utf8'), new RegExp(`^ready pid=${a}$`, 'm'));
  assert.match(readFileSync(logB, 'utf8'), new RegExp(`^ready pid=${b}$`, 'm'));
  assert.doesNotMatch(readFileSync(logA, 'utf8'), new RegExp(`pid=${b}`), 'the second demo does not write into the first one\'s log');

  // The first demo crashes (a SIGSEGV sent by us stands for one): the console says it is gone, quit says how it ended.
  process.kill(a, 'SIGSEGV');
  await until(() => first.screen().includes(`process ${a} (demo) is gone`), 'the console to see the demo gone', first.screen);
  first.keys('quit', 'Enter');
  await until(() => first.exited(), 'the first console to exit', first.screen);
  // The farewell wraps at the pane's width: read it as one line.
  const farewell = await until(() => /the demo target \(pid \d+\) .*before the console closed.*/.exec(first.lines().join('')), 'the farewell', first.screen);
  assert.match(farewell![0], new RegExp(`the demo target \\(pid ${a}\\) crashed \\(SIGSEGV\\) before the console closed; its output: ${logA}`));
  assert.doesNotMatch(first.screen(), /stopped the demo target/);

  second.keys('quit', 'Enter');
  await until(() => second.exited(), 'the second console to exit', second.screen);
  await until(() => !isAlive(b), 'npm start to stop the second demo', second.screen);
  assert.match(second.screen(), new RegExp(`stopped the demo target \\(pid ${b}\\)`));
});
