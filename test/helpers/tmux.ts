// The console in a real terminal for end-to-end tests: a tmux server of the test's own (never another tmux), a window
// of a given size per console, its screen read back, keys sent, and a poll that only guards against a hang.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { repoRoot } from './fixtures.js';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;
export const tmuxSkip: string | false = hasTmux ? false : 'tmux is not installed: this end-to-end test runs the console inside tmux (apt-get install tmux)';

export interface TmuxConsole {
  screen: () => string;
  /** The screen with its colours and attributes as escape sequences. */
  styled: () => string;
  lines: () => string[];
  /** The screen's rows as one text: a full row was broken inside a word (a long path) and goes on in the next. */
  joined: () => string;
  prompt: () => string;
  keys: (...keys: string[]) => string;
  exited: () => boolean;
}

/** A tmux server named after `prefix` and this test process; `kill()` ends it and only it. */
export function tmuxServer(prefix: string) {
  const socket = `${prefix}-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
  /** Runs `command` (a shell line, from the repository) in a window; the pane stays after it exits, to be read. */
  const open = (name: string, columns: number, rows: number, command: string): TmuxConsole => {
    tmux('new-session', '-d', '-s', name, '-x', String(columns), '-y', String(rows), '-c', repoRoot, command);
    tmux('set-option', '-t', name, 'remain-on-exit', 'on');
    const screen = () => tmux('capture-pane', '-p', '-t', name);
    const lines = () => screen().replace(/\n+$/, '').split('\n');
    return {
      screen,
      styled: () => tmux('capture-pane', '-p', '-e', '-t', name),
      lines,
      joined: () => lines().map((l) => (l.length >= columns ? l : `${l} `)).join(''),
      prompt: () => [...lines()].reverse().find((l) => l.startsWith('hotpatch>')) ?? '',
      keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys),
      exited: () => tmux('display-message', '-p', '-t', name, '#{pane_dead}').trim() === '1',
    };
  };
  const kill = () => {
    if (hasTmux) spawnSync('tmux', ['-L', socket, 'kill-server']);
  };
  return { tmux, open, kill };
}

/** Poll until `probe` gives something; the timeout is only a guard against a hang, never a measurement. */
export async function until<T>(probe: () => T | undefined | false, what: string, screen: () => string, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const start = Date.now();
  for (;;) {
    const got = probe();
    if (got) return got;
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}; screen:\n${screen()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
