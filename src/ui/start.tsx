// Starts the interactive console (reached only through a dynamic import, so batch mode never loads Ink or React).
import { render } from 'ink';
import type { Session } from '../session.js';
import type { CliOptions } from '../cli/args.js';
import type { Outcome } from '../cli/runner.js';
import { App } from './App.js';
import { fileHistory } from './history.js';
import { wantsColour } from './theme.js';
import { watchFrames } from './frames.js';
import { terminalScreen } from './editfile.js';

/**
 * `attaching`: a command the CLI started before the UI was loaded (attach PID), shown as running until it finishes.
 * Resolves with the exit status once the console has quit and detached.
 */
export async function startUi(session: Session, opts: CliOptions, attaching?: { line: string; outcome: Promise<Outcome | undefined> }): Promise<number> {
  const color = wantsColour(opts.color, process.stdout.isTTY === true);
  const frames = watchFrames(process.stdout);
  // After an editor had the terminal, Ink forgets what it drew (the screen was cleared) and draws it all again.
  const screen = terminalScreen(process.stdin, process.stdout, () => app.clear());
  const app = render(<App session={session} history={fileHistory()} color={color} started={attaching} greeting={takeGreeting()} frames={frames.frames} screen={screen} />, {
    stdout: frames.stream,
    exitOnCtrlC: false,
  });
  // The terminal went away (window closed, ssh dropped): leave as from quit instead of failing on every write.
  const terminalGone = () => app.unmount();
  process.stdout.on('error', terminalGone);
  process.stdin.on('error', terminalGone);
  process.stdin.on('end', terminalGone);
  try {
    await app.waitUntilExit();
  } finally {
    // Quitting detaches (and stops a program hotpatch started); so does any other way out of the UI.
    process.stdout.off('error', terminalGone);
    process.stdin.off('error', terminalGone);
    process.stdin.off('end', terminalGone);
    await session.stopSpawned();
    if (session.target?.attached) await session.detach();
  }
  return 0;
}

/**
 * What the program that started the console wants said first (npm start: which demo runs and where its log is), in
 * HOTPATCH_GREETING, one line per line. Taken out of the environment: it is for this console, not for what it starts.
 */
function takeGreeting(): string[] {
  const text = process.env.HOTPATCH_GREETING;
  delete process.env.HOTPATCH_GREETING;
  return text ? text.split('\n').filter((l) => l.trim() !== '') : [];
}
