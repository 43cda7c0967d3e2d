// The console's effects, one hook each: run queued lines, save history, hear the target exit, keep status fresh, quit.
import { useEffect, useMemo, useRef, useState, type Dispatch } from 'react';
import { useApp, useStdout } from 'ink';
import type { Session } from '../session.js';
import { runLine, type Outcome } from '../cli/runner.js';
import { toHotpatchError } from '../errors.js';
import { exitText } from '../process/target.js';
import type { Action, ConsoleState } from './state.js';
import type { HistoryStore } from './history.js';
import { targetStatus, type TargetStatus } from './status.js';
import { preparationSteps, runStep } from './source.js';
import type { Frames } from './frames.js';
import { findCommand } from '../../commands/index.js';
import type { EditRequest } from '../result.js';
import { editFile, type Screen } from './editfile.js';

export interface TerminalSize {
  columns: number;
  rows: number;
}

/** The terminal's size, following resizes; a fixed size (tests) wins. */
export function useTerminalSize(fixed?: TerminalSize): TerminalSize {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({ columns: fixed?.columns ?? (stdout.columns || 80), rows: fixed?.rows ?? (stdout.rows || 24) });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return;
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, fixed?.columns, fixed?.rows]);
  return size;
}

/**
 * Takes the next queued line when nothing runs, runs it with a signal that Ctrl-C aborts, and reports the outcome.
 * `started`: the outcome of the command the console opened with, already running (see openingState).
 * Returns what aborts the running command's signal at once: the key handler calls it on Ctrl-C, since the state's
 * `cancelling` reaches the effect below only after a render, a few turns of the event loop later, and a command
 * working in slices looks at its signal at every turn.
 */
export function useCommandRunner(
  session: Session,
  state: ConsoleState,
  dispatch: Dispatch<Action>,
  started?: Promise<Outcome | undefined>,
  frames?: Frames,
): () => void {
  const controller = useRef<AbortController | undefined>(undefined);
  const opening = useRef(started);
  // What the terminal had been sent when the next command was started: the frame after that one shows it running.
  const writtenAtStart = useRef(0);
  useEffect(() => {
    if (state.running || state.editing || state.queue.length === 0 || state.quitting) return;
    writtenAtStart.current = frames?.written() ?? 0;
    dispatch({ type: 'start', nowMs: Date.now() });
  }, [state.running, state.editing, state.queue, state.quitting]);

  const entryId = state.running?.entryId;
  useEffect(() => {
    if (entryId === undefined || !state.running) return;
    const line = state.running.line;
    const c = new AbortController();
    controller.current = c;
    const startedMs = state.running.startedMs;
    const progress = (text: string) => dispatch({ type: 'progress', entryId, text });
    // The frame that shows the command running goes out first: a command that then holds the event loop (a big
    // synchronous read, a write to a pipe nobody reads yet) leaves on the screen what it is doing and that Ctrl-C stops it.
    const drawn = frames ? frames.after(writtenAtStart.current) : new Promise((resolve) => setTimeout(resolve, FIRST_FRAME_MS));
    const outcome = opening.current ?? drawn.then(() => prepareThenRun(session, line, c.signal, progress));
    opening.current = undefined;
    const report = (action: Action) => {
      // A command that held the event loop (one long synchronous step) leaves the keys typed meanwhile unread; a
      // Ctrl-C among them meant "stop this command". Let them come in first, while it still counts as running, or
      // they would land on the empty prompt after it, and two of them would quit the console.
      if (Date.now() - startedMs < LONG_COMMAND_MS) dispatch(action);
      else setTimeout(() => dispatch(action), KEYS_SETTLE_MS);
    };
    outcome.then(
      (outcome) => report({ type: 'finished', entryId, outcome, explain: session.explain }),
      (err) => report({ type: 'finished', entryId, outcome: { line, command: line, ok: false, error: toHotpatchError(err) }, explain: false }),
    );
  }, [entryId]);

  useEffect(() => {
    if (state.running?.cancelling) controller.current?.abort();
  }, [state.running?.cancelling]);
  return () => controller.current?.abort();
}

/** A command running this long may have held the event loop while keys came in. */
const LONG_COMMAND_MS = 100;
/** Time for keys already waiting in the terminal to be read (they are, at the next turn of the event loop). */
const KEYS_SETTLE_MS = 30;

/** Without a watched terminal (tests): Ink draws at most 30 frames a second, so a frame asked for is out by then. */
const FIRST_FRAME_MS = 35;

/** Commands that never look a name or an address up: they need no symbol tables. */
const WITHOUT_SYMBOLS = new Set(['bt', 'attach', 'detach', 'stop', 'cont', 'maps', 'symbols', 'libs', 'explain', 'help', 'tour', 'quit']);

/**
 * Builds the symbol tables a command needs a step at a time, yielding between steps (the spinner turns, Ctrl-C is
 * heard: it cancels before the command starts), then runs the line. Reading the symbols of a 100 MB binary is the
 * long part of a first command after attaching; the command itself then finds the tables built.
 * Resolves undefined when cancelled during the preparation.
 */
export async function prepareThenRun(session: Session, line: string, signal: AbortSignal, progress: (text: string) => void): Promise<Outcome | undefined> {
  if (signal.aborted) return undefined;
  const name = line.trim().split(/\s+/)[0] ?? '';
  const spec = findCommand(name);
  if (spec?.needsTarget && !WITHOUT_SYMBOLS.has(spec.name)) {
    const steps = preparationSteps(session, false);
    for (const [i, step] of steps.entries()) {
      progress(`${step.label} (${i + 1}/${steps.length})`);
      await nextTurn();
      if (signal.aborted || !(await runStep(step, signal))) return undefined;
    }
    if (steps.length > 0) {
      progress('');
      await nextTurn();
    }
    if (signal.aborted) return undefined;
  }
  return runLine(session, line, signal);
}

/** Lets the event loop turn once: keys are read, the screen drawn, timers run. */
const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * A command asked for a file to be edited: once its result is drawn, the editor gets the terminal; when it is done,
 * the console says how it went and runs the line that applies the edit, or nothing.
 */
export function useEditing(editing: EditRequest | undefined, dispatch: Dispatch<Action>, screen: Screen): void {
  useEffect(() => {
    if (!editing) return;
    // A turn first: Ink draws the command's result (throttled), so the screen to come back to is the latest one.
    const timer = setTimeout(() => {
      const r = editFile(editing, screen);
      dispatch(r.apply ? { type: 'edited', note: r.note, tone: 'dim', then: editing.then } : { type: 'edited', note: r.note, tone: 'warn' });
    }, FIRST_FRAME_MS);
    return () => clearTimeout(timer);
  }, [editing]);
}

/** Appends each new history line to the store (the reducer keeps the list; this keeps the file). */
export function useHistoryFile(store: HistoryStore, history: readonly string[]): void {
  const saved = useRef(history[history.length - 1]);
  const length = useRef(history.length);
  useEffect(() => {
    const last = history[history.length - 1];
    if (last !== undefined && (last !== saved.current || history.length !== length.current)) store.append(last);
    saved.current = last;
    length.current = history.length;
  }, [history]);
}

/** A notice in the output when the attached process exits or calls exec on its own. */
export function useTargetNotices(session: Session, dispatch: Dispatch<Action>): void {
  const target = session.target;
  useEffect(() => {
    if (!target) return;
    const stop = target.listen((ev) => {
      if (ev.type === 'exit' && ev.pid === target.pid) {
        dispatch({ type: 'notice', text: `process ${target.pid} (${target.name}) is gone (${exitText(ev.signaled, ev.status)}); no process attached`, tone: 'warn' });
      } else if (ev.type === 'exec' && !session.starting) {
        dispatch({ type: 'notice', text: `process ${target.pid} called exec: its symbols are read again`, tone: 'warn' });
      }
    });
    return () => {
      stop();
    };
  }, [target]);
}

/** The status facts, read after each command, and checked once a second while attached (threads come and go). */
export function useTargetStatus(session: Session, revision: number): TargetStatus {
  const [tick, setTick] = useState(0);
  const status = useMemo(() => targetStatus(session), [session, revision, tick]);
  const shown = useRef(status);
  shown.current = status;
  useEffect(() => {
    if (!status.attached) return;
    // Draw again only when something changed: an idle console should cost nothing.
    const timer = setInterval(() => {
      if (JSON.stringify(targetStatus(session)) !== JSON.stringify(shown.current)) setTick((t) => t + 1);
    }, 1000);
    return () => clearInterval(timer);
  }, [session, status.attached]);
  return status;
}

/** The time now, ticking only while `active` (the spinner of a running command). */
export function useClock(active: boolean, intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [active, intervalMs]);
  return now;
}

/** When the console is idle after a command, build the symbol tables step by step, so the first Tab answers at once. */
export function useIdleSymbolPreparation(session: Session, state: ConsoleState): void {
  const idle = !state.running && state.queue.length === 0;
  useEffect(() => {
    if (!idle || !session.target?.attached) return;
    // Stopped when a command starts (the console is no longer idle): a step dropped half-way is begun again later.
    const stop = new AbortController();
    const prepare = async () => {
      for (const step of preparationSteps(session)) {
        if (!(await runStep(step, stop.signal))) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (stop.signal.aborted) return;
      }
    };
    const timer = setTimeout(() => void prepare(), 50);
    return () => {
      clearTimeout(timer);
      stop.abort();
    };
  }, [idle, state.revision]);
}

/**
 * Quitting: detach (the process runs on; one hotpatch started is stopped), say so, then leave Ink once that last frame
 * is drawn. `byQuit`: what the `quit` command has just done itself (detached from a pid, or stopped the one we started).
 */
export function useQuit(session: Session, quitting: boolean, left: string | undefined, dispatch: Dispatch<Action>, byQuit: { detached?: number; stopped?: number } = {}): void {
  const detachedByQuit = byQuit.detached;
  const { exit } = useApp();
  useEffect(() => {
    if (!quitting) return;
    const leave = async () => {
      const t = session.target;
      let text = t?.attached
        ? `detached from ${t.pid} (${t.name}); it runs on`
        : byQuit.stopped !== undefined
          ? `stopped ${byQuit.stopped}, which hotpatch started`
          : detachedByQuit !== undefined
          ? `detached from ${detachedByQuit}; it runs on`
          : t
            ? `process ${t.pid} (${t.name}) is gone (${t.exitReason ?? 'it ended'}); console closed`
            : 'console closed';
      try {
        // A program hotpatch started is stopped (detached first), as gdb and Frida do.
        const stopped = await session.stopSpawned();
        if (stopped) text = stopped;
        if (t?.attached) await session.detach();
      } catch (err) {
        // startUi tries again; the kernel detaches us anyway when this process ends
        text = `detaching from ${t!.pid} failed: ${toHotpatchError(err).message}`;
      }
      dispatch({ type: 'left', text });
    };
    void leave();
  }, [quitting]);
  useEffect(() => {
    if (left !== undefined) exit();
  }, [left]);
}
