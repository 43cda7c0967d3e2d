// Editing a file from the console: the terminal handed to $VISUAL/$EDITOR (else vi) and taken back after.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sha256 } from '../patch/fix.js';
import type { EditRequest } from '../result.js';

/** The editor to run and where that choice came from. */
export interface EditorChoice {
  command: string;
  /** `$VISUAL`, `$EDITOR`, or `default` (neither is set: vi). */
  from: '$VISUAL' | '$EDITOR' | 'default';
}

export function editorOf(env: NodeJS.ProcessEnv): EditorChoice {
  if (env.VISUAL?.trim()) return { command: env.VISUAL.trim(), from: '$VISUAL' };
  if (env.EDITOR?.trim()) return { command: env.EDITOR.trim(), from: '$EDITOR' };
  return { command: 'vi', from: 'default' };
}

/**
 * What the console does to the terminal around a program that needs all of it: `suspend(fn)` gives the terminal away
 * (cooked mode, cursor shown, the screen left to it), runs fn, and takes it back (raw mode, the console drawn again).
 */
export interface Screen {
  suspend<T>(fn: () => T): T;
}

/** Without a terminal (tests): nothing to give away. */
export const NO_SCREEN: Screen = { suspend: (fn) => fn() };

/**
 * The console's terminal. `forget`: makes Ink draw its whole frame again at the next render, as on an empty screen
 * (instance.clear() leaves its idea of what is on screen behind; the screen is cleared here).
 */
export function terminalScreen(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream, forget: () => void): Screen {
  return {
    suspend(fn) {
      const raw = stdin.isTTY === true && stdin.isRaw;
      // In cooked mode a Ctrl-C meant for the editor (one that leaves the terminal cooked, `code --wait`) reaches
      // us too, as SIGINT, whose handler would end the console. It is heard after the editor exits, so it is
      // swallowed until the event loop has turned.
      const handlers = process.listeners('SIGINT');
      process.removeAllListeners('SIGINT');
      const swallow = () => undefined;
      process.on('SIGINT', swallow);
      if (raw) stdin.setRawMode(false);
      stdout.write('\x1b[?25h');
      try {
        return fn();
      } finally {
        if (raw) stdin.setRawMode(true);
        // The editor may have drawn anywhere (and not all use the alternate screen): clear it, cursor home.
        stdout.write('\x1b[?25l\x1b[H\x1b[2J');
        forget();
        setTimeout(() => {
          process.off('SIGINT', swallow);
          for (const h of handlers) process.on('SIGINT', h as NodeJS.SignalsListener);
        }, 200);
      }
    },
  };
}

/** How the edit went: `apply` the fix, or a sentence saying why not. */
export type EditOutcome = { apply: true; note: string } | { apply: false; note: string };

/**
 * Opens `req.path` in the editor and waits for it. spawnSync holds this process's event loop, so nothing of ours
 * reads the terminal meanwhile: every key goes to the editor. (The tracer's own thread goes on answering the target.)
 */
export function editFile(req: EditRequest, screen: Screen, env: NodeJS.ProcessEnv = process.env): EditOutcome {
  const editor = editorOf(env);
  const said = editor.from === 'default' ? 'vi (neither $VISUAL nor $EDITOR is set)' : `${editor.command} (${editor.from})`;
  // Through sh, as git does: $EDITOR may carry its own words (`emacs -nw`, `code --wait`).
  const r = screen.suspend(() => spawnSync('/bin/sh', ['-c', `${editor.command} "$1"`, 'sh', req.path], { stdio: 'inherit', env }));
  if (r.error) return { apply: false, note: `could not run ${said}: ${r.error.message}; nothing compiled or loaded` };
  if (r.status !== 0) {
    const how = r.signal ? `was killed by ${r.signal}` : r.status === 127 ? 'was not found (sh said 127)' : `exited with status ${r.status}`;
    return { apply: false, note: `${said} ${how}: nothing compiled or loaded; the fix stays in ${req.path}` };
  }
  let text: string;
  try {
    text = readFileSync(req.path, 'utf8');
  } catch {
    return { apply: false, note: `${req.path} is gone after the edit: nothing compiled or loaded` };
  }
  if (req.untouched !== undefined && sha256(text) === req.untouched) {
    return { apply: false, note: `${req.path} is the template as written, unchanged: nothing compiled or loaded (write the new body, then run patch again)` };
  }
  return { apply: true, note: `${said} exited with status 0: applying ${req.path}` };
}
