// The real console in a terminal (tmux): attach to a fixture, type a command, read the screen, quit, find the target untraced.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, status, isAlive } from './helpers/fixtures.js';
import { cliPath } from './helpers/cli.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const SOCKET = `hotpatch-e2e-${process.pid}`;
const stateDir = mkdtempSync(join(tmpdir(), 'hotpatch-e2e-'));

after(async () => {
  if (hasTmux) spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
  rmSync(stateDir, { recursive: true, force: true });
  await killAllFixtures();
});

const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', 'console');
const sessionAlive = () => spawnSync('tmux', ['-L', SOCKET, 'has-session', '-t', 'console']).status === 0;

async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 30_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const got = probe();
    if (got) return got;
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}${sessionAlive() ? `; screen:\n${screen()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'the console in a terminal: syms tick shows counter.c; quit leaves the process running untraced',
  { skip: hasTmux ? false : 'tmux is not installed: this end-to-end test runs the console inside tmux (apt-get install tmux)' },
  async () => {
    // The fixture is our child, the console is not: tmux's server starts it, so it may trace the fixture.
    const f = await startFixture('counter');
    const command = `exec env NO_COLOR=1 XDG_STATE_HOME=${stateDir} ${process.execPath} ${cliPath} ${f.pid}`;
    tmux('new-session', '-d', '-s', 'console', '-x', '100', '-y', '30', command);

    await until(() => screen().includes(`pid ${f.pid} counter`), 'the status line to show the attached target');
    assert.ok(screen().split('\n').some((l) => l.startsWith('hotpatch>')), 'a prompt');

    tmux('send-keys', '-t', 'console', 'syms tick', 'Enter');
    const shown = await until(() => (/counter\.c/.test(screen()) ? screen() : undefined), 'syms tick to list tick with its file');
    assert.match(shown, /func\s+local\s+tick\s+counter\.c\s+counter/);
    assert.equal(status(f.pid).tracerPid > 0, true, 'traced while the console is attached');

    tmux('send-keys', '-t', 'console', 'quit', 'Enter');
    await until(() => !sessionAlive(), 'the console to exit after quit');
    await until(() => status(f.pid).tracerPid === 0, 'the target to be untraced');
    assert.ok(isAlive(f.pid), 'the target runs on');
    assert.notEqual(status(f.pid).state, 't', 'not left in a tracing stop');

    const history = readFileSync(join(stateDir, 'hotpatch', 'history'), 'utf8');
    assert.deepEqual(history.trim().split('\n'), ['syms tick', 'quit'], 'history saved under $XDG_STATE_HOME/hotpatch');
  },
);
