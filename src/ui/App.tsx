// The console: output area, status bar, prompt, completions and hint, all drawn from one state that keys and commands change.
import { useMemo, useReducer, useRef } from 'react';
import { Box, useInput } from 'ink';
import type { Session } from '../session.js';
import type { Outcome } from '../cli/runner.js';
import { createReducer, openingState, type ConsoleState, type ViewInfo } from './state.js';
import { complete } from './complete.js';
import { sessionSource } from './source.js';
import type { HistoryStore } from './history.js';
import type { Frames } from './frames.js';
import { flatten, layoutViewport, wantedTop } from './view.js';
import { NO_SCREEN, type Screen } from './editfile.js';
import { COLOUR_THEME, PLAIN_THEME, ThemeContext } from './theme.js';
import {
  useClock,
  useCommandRunner,
  useEditing,
  useHistoryFile,
  useIdleSymbolPreparation,
  useQuit,
  useTargetNotices,
  useTargetStatus,
  useTerminalSize,
  type TerminalSize,
} from './hooks.js';
import { OutputView } from './components/OutputView.js';
import { StatusLine } from './components/StatusLine.js';
import { PromptLine } from './components/PromptLine.js';
import { CompletionList, completionRows } from './components/CompletionList.js';
import { HintLine } from './components/HintLine.js';

export interface AppProps {
  session: Session;
  history: HistoryStore;
  color: boolean;
  /** Lines run first, as if typed. */
  initialLines?: string[];
  /** A command already under way when the console opens (the CLI attaches while the UI loads): shown running. */
  started?: { line: string; outcome: Promise<Outcome | undefined> };
  /** A fixed size instead of the terminal's (tests). */
  size?: TerminalSize;
  /** Lines shown at the top of the output before anything runs (npm start says where the demo writes). */
  greeting?: string[];
  /** The terminal's writes, counted: a command starts once the frame showing it running is out (see watchFrames). */
  frames?: Frames;
  /** The terminal, handed to an editor and taken back (patch FUNC); none in tests. */
  screen?: Screen;
}

/** Rows besides the output: status bar, prompt, hint, and one left free so Ink never redraws the whole screen. */
const FIXED_ROWS = 4;
const COMPLETION_ROWS = 2;

export function App({ session, history, color, initialLines = [], started, size, greeting, frames, screen = NO_SCREEN }: AppProps) {
  const { columns, rows } = useTerminalSize(size);
  const reducer = useMemo(() => createReducer((text, cursor) => complete(text, cursor, sessionSource(session))), [session]);
  const [state, dispatch] = useReducer(reducer, undefined, () => openingState(history.load(), initialLines, started?.line, Date.now(), greeting));

  const abortRunning = useCommandRunner(session, state, dispatch, started?.outcome, frames);
  useHistoryFile(history, state.history);
  useEditing(state.editing, dispatch, screen);
  useTargetNotices(session, dispatch);
  useIdleSymbolPreparation(session, state);
  useQuit(session, state.quitting && !state.running, state.left, dispatch, doneByQuit(state));
  const targetNow = useTargetStatus(session, state.revision);
  const status = targetNow.attached && state.lastPause ? { ...targetNow, pause: state.lastPause } : targetNow;
  const now = useClock(state.running !== undefined, 100);

  const completions = state.completions ? completionRows(state.completions.items, state.completions.more, columns, COMPLETION_ROWS, state.completions.paths) : [];
  const height = Math.max(3, rows - FIXED_ROWS - completions.length);
  const flat = useMemo(() => flatten(state.entries, columns), [state.entries, columns]);
  const port = layoutViewport(flat.lines.length, height, wantedTop(state.scroll, flat));

  // The view as last drawn, read when a key comes: Ink may deliver a key before it re-subscribes a newer handler.
  const view = useRef<ViewInfo>({ top: 0, height, total: 0 });
  view.current = { top: port.start, height, total: flat.lines.length };
  // Whether a command runs, as last drawn: Ctrl-C then aborts it at once, besides what the reducer shows.
  const running = useRef(false);
  running.current = state.running !== undefined;
  useInput((input, key) => {
    if (key.ctrl && input === 'c' && running.current) abortRunning();
    dispatch({ type: 'key', input, key, view: view.current });
  });

  return (
    <ThemeContext.Provider value={color ? COLOUR_THEME : PLAIN_THEME}>
      <Box flexDirection="column" width={columns}>
        <OutputView lines={flat.lines} port={port} height={height} />
        <StatusLine status={status} width={columns} />
        <PromptLine editor={state.editor} search={state.search} history={state.history} width={columns} />
        <CompletionList rows={completions} />
        <HintLine state={state} nowMs={now} width={columns} />
      </Box>
    </ThemeContext.Provider>
  );
}

/** What the last command did, when it was `quit`: the pid it detached from, or stopped (one hotpatch started). */
function doneByQuit(state: ConsoleState): { detached?: number; stopped?: number } {
  const last = state.entries[state.entries.length - 1];
  if (last?.kind !== 'command' || !last.outcome?.quit) return {};
  const data = last.outcome.result?.data as { detached?: unknown; stopped?: unknown } | undefined;
  return {
    detached: typeof data?.detached === 'number' ? data.detached : undefined,
    stopped: typeof data?.stopped === 'number' ? data.stopped : undefined,
  };
}
