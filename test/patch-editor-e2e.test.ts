// Issue 14: `patch FUNC` in the console at 80x24 (tmux): the template opens in $EDITOR, the Ink screen gives the
// terminal away and takes it back, and the fix runs when the editor exits 0; nothing is loaded when it fails or
// leaves the template as it was.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, parseFields, status, isAlive } from './helpers/fixtures.js';
import { cliPath } from './helpers/cli.js';
import { tmuxServer, tmuxSkip, until } from './helpers/tmux.js';

const skip = tmuxSkip;
const server = tmuxServer('hotpatch-editor');
const work = mkdtempSync(join(tmpdir(), 'hotpatch-editor-'));

after(async () => {
  server.kill();
  rmSync(work, { recursive: true, force: true });
  await killAllFixtures();
});

/** An "editor": a shell script that edits the file it is given without asking anything, then exits with `status`. */
function editor(name: string, body: string): string {
  const path = join(work, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function openConsole(name: string, pid: number, editorPath: string) {
  const state = join(work, `state-${name}`);
  return server.open(name, 80, 24, `exec env -u VISUAL NO_COLOR=1 EDITOR=${editorPath} XDG_STATE_HOME=${state} ${process.execPath} ${cliPath} ${pid}`);
}

/** Status line, empty prompt and key hint at the bottom, every row within 80 columns: the console is drawn again. */
function assertConsoleDrawn(lines: string[], pid: number, patches: string): void {
  for (const line of lines) assert.ok(line.length <= 80, `a row wider than 80 columns: ${line}`);
  assert.match(lines[lines.length - 3]!, new RegExp(`pid ${pid} counter │ 1 thread │ running │ ${patches}`), 'the status line above the prompt');
  assert.match(lines[lines.length - 2]!, /^hotpatch>\s*$/, 'an empty prompt');
  assert.match(lines[lines.length - 1]!, /Tab completes/, 'the key hint');
}

test('patch tick in the console: $EDITOR changes the body, the fix runs in the counter, the screen comes back', { skip }, async () => {
  const f = await startFixture('counter', ['5']);
  const ed = editor('add1000.sh', `sed -i 's/return hp_orig_tick(x);/return hp_orig_tick(x) + 1000;/' "$1"`);
  const c = openConsole('edit', f.pid, ed);
  try {
    await until(() => c.prompt() === 'hotpatch>' && c.screen().includes(`pid ${f.pid} counter`), 'the console attached', c.screen);
    c.keys('patch tick', 'Enter');
    await until(() => /patch #\d+: counter\.c:tick -> counter-counter\.c-tick\.[0-9a-f]{12}\.so!tick/.test(c.joined()), 'the fix applied', c.screen);
    assert.match(c.joined(), new RegExp(`${ed} \\(\\$EDITOR\\) exited with status 0: applying`), 'says which editor ran');
    assert.match(c.joined(), /hotpatch> patch tick --from \S+counter-counter\.c-tick\.c/, 'the line that applies it, shown like any command');
    await until(() => c.prompt() === 'hotpatch>' && /│ 1 patch │/.test(c.screen()), 'the console idle with the patch counted', c.screen);
    assertConsoleDrawn(c.lines(), f.pid, '1 patch');
    // count = tick(count) each millisecond: the fix adds 1000 per call.
    const a = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
    const b = parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length));
    assert.ok(b.count - a.count >= 1000, `count grows by 1001 a tick now: ${a.count} then ${b.count}`);
    // Keys go to the console again.
    c.keys('revert tick', 'Enter');
    await until(() => /reverted #\d+/.test(c.screen()) && /│ 0 patches │/.test(c.screen()), 'the revert', c.screen);
    c.keys('quit', 'Enter');
    await until(() => c.exited(), 'the console to exit', c.screen);
    await until(() => status(f.pid).tracerPid === 0, 'the target untraced', c.screen);
    assert.ok(isAlive(f.pid));
  } finally {
    await f.stop();
  }
});

test('an editor that exits 1, or leaves the template as written: nothing compiled or loaded', { skip }, async () => {
  const f = await startFixture('counter', ['5']);
  const before = readFileSync(`/proc/${f.pid}/maps`, 'utf8');
  // It changes the file and fails: the change is kept for the next try, nothing runs.
  const failing = editor('fails.sh', `sed -i 's/return hp_orig_compute(x);/return 7;/' "$1"\nexit 1`);
  const c = openConsole('fail', f.pid, failing);
  try {
    await until(() => c.prompt() === 'hotpatch>' && c.screen().includes(`pid ${f.pid} counter`), 'the console attached', c.screen);
    c.keys('patch compute', 'Enter');
    await until(() => /exited with status 1: nothing compiled or loaded; the fix stays in \S+counter-compute\.c/.test(c.joined()), 'the editor\'s failure said', c.screen);
    await until(() => c.prompt() === 'hotpatch>', 'the prompt back', c.screen);
    assertConsoleDrawn(c.lines(), f.pid, '0 patches');
    assert.doesNotMatch(c.joined(), /hotpatch> patch compute --from/, 'nothing applied');
    assert.equal(readFileSync(`/proc/${f.pid}/maps`, 'utf8'), before, 'the memory map as it was');
    assert.equal(parseFields(await f.waitForLine(/^count=/, 3000, f.lines.length)).compute, 6, 'compute unchanged');
    c.keys('quit', 'Enter');
    await until(() => c.exited(), 'the console to exit', c.screen);
  } finally {
    server.tmux('kill-session', '-t', 'fail');
  }
  // `true` as the editor: the fresh template comes back as written.
  const d = openConsole('same', f.pid, '/bin/true');
  await until(() => d.prompt() === 'hotpatch>' && d.screen().includes(`pid ${f.pid} counter`), 'the console attached', d.screen);
  d.keys('patch tick', 'Enter');
  await until(() => /counter-counter\.c-tick\.c is the template as written, unchanged: nothing compiled or loaded/.test(d.joined()), 'the unchanged template said', d.screen);
  await until(() => d.prompt() === 'hotpatch>', 'the prompt back', d.screen);
  assertConsoleDrawn(d.lines(), f.pid, '0 patches');
  assert.equal(readFileSync(`/proc/${f.pid}/maps`, 'utf8'), before, 'the memory map as it was');
  d.keys('quit', 'Enter');
  await until(() => d.exited(), 'the console to exit', d.screen);
  await until(() => status(f.pid).tracerPid === 0, 'the target untraced', d.screen);
  await f.stop();
});
