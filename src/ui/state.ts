// The console's state and the one reducer that changes it: keys, queued lines, finished commands, notices.
import type { Key } from 'ink';
import type { Outcome } from '../cli/runner.js';
import type { EditRequest } from '../result.js';
import type { Pause } from '../process/target.js';
import { tourStepOf } from '../../commands/tour.js';
import * as ed from './editor.js';
import { remember, searchBack } from './history.js';
import { commonPrefix, continuesWord, type Completion } from './complete.js';

/**
 * A line waiting to run. `follow`: the output view goes back to the end when it starts (a line the user asked for when
 * idle), so the end of its result (the `paused` line) is in view when it is done; its top is a PgUp away.
 * `group`: lines that came together (a tour stage); a failure drops the rest of its group, as batch mode stops.
 */
export interface QueuedLine {
  line: string;
  follow: boolean;
  group: number;
}

/**
 * What Ctrl-C did to a command: `cancelled` it stopped it; `late` it came while the command could not stop (it had
 * started changing the process, or does not look at the signal), so the command went on and its result stands.
 */
export type Cancel = 'cancelled' | 'late';

export type Entry =
  | { id: number; kind: 'command'; line: string; outcome?: Outcome; explain: boolean; cancel?: Cancel }
  | { id: number; kind: 'notice'; text: string; tone: 'warn' | 'ok' | 'dim' };

/**
 * Where the output view stands: following the end, at the first line of one entry (a reference page such as help,
 * asked for at the prompt), or at a line the user paged to.
 */
export type Scroll = { kind: 'end' } | { kind: 'entry'; entryId: number } | { kind: 'top'; line: number };

export interface ConsoleState {
  editor: ed.Editor;
  history: string[];
  /** While ↑/↓ walk the history: where, and what was typed before. */
  browsing?: { index: number; draft: string };
  /** Ctrl-R: the query, the history index it matches, and the line to go back to on Esc. */
  search?: { query: string; index?: number; failed: boolean; draft: ed.Editor };
  /** The list shown under the prompt after Tab found several candidates. */
  completions?: { items: string[]; more: boolean; paths?: boolean };
  queue: QueuedLine[];
  /** `progress`: what the command is busy with, when it says (reading the symbols of a big binary). */
  running?: { entryId: number; line: string; group: number; follow: boolean; startedMs: number; cancelling: boolean; progress?: string };
  entries: Entry[];
  nextId: number;
  scroll: Scroll;
  /** Ctrl-C was pressed at an empty prompt: the next one quits. */
  confirmQuit: boolean;
  quitting: boolean;
  /** Set once the console has detached on the way out: the last words on the screen. */
  left?: string;
  /** A tour is under way; Enter at an empty prompt runs its next stage. */
  tour?: { next?: string };
  /** Bumped whenever the target may have changed (status line, symbol tables). */
  revision: number;
  /**
   * The pause the last command that stopped the target reported: its whole pause (a load stops the target more than
   * once), as the command printed it. Forgotten when the console attaches or detaches.
   */
  lastPause?: Pause;
  /** A command asked for a file to be edited (patch FUNC): the editor has the terminal; nothing else runs meanwhile. */
  editing?: EditRequest;
}

/** The output view as last drawn: the first line shown, the rows of the area, and the lines there are. */
export interface ViewInfo {
  top: number;
  height: number;
  total: number;
}

export type Action =
  | { type: 'key'; input: string; key: Partial<Key>; view: ViewInfo }
  | { type: 'run'; lines: string[] }
  | { type: 'start'; nowMs: number }
  | { type: 'progress'; entryId: number; text: string }
  | { type: 'finished'; entryId: number; outcome: Outcome | undefined; explain: boolean }
  | { type: 'notice'; text: string; tone: 'warn' | 'ok' | 'dim' }
  | { type: 'left'; text: string }
  | { type: 'edited'; note: string; tone: 'warn' | 'ok' | 'dim'; then?: string };

/** Results kept in the output area; older ones go (the history keeps the lines). */
export const MAX_ENTRIES = 100;

export function initialState(history: string[] = []): ConsoleState {
  return {
    editor: ed.emptyEditor,
    history,
    queue: [],
    entries: [],
    nextId: 1,
    scroll: { kind: 'end' },
    confirmQuit: false,
    quitting: false,
    revision: 0,
  };
}

/**
 * The state the console opens with: `greeting` lines first, then `startedLine`, already running (its entry shows the
 * spinner), then `lines` run in order, the view following the end.
 */
export function openingState(history: string[], lines: string[], startedLine: string | undefined, nowMs: number, greeting: string[] = []): ConsoleState {
  let s: ConsoleState = { ...initialState(history), queue: lines.map((line, i) => ({ line, follow: i === 0 && startedLine === undefined, group: 0 })) };
  for (const text of greeting) s = { ...addEntry(s, { id: s.nextId, kind: 'notice', text, tone: 'ok' }), nextId: s.nextId + 1 };
  if (startedLine === undefined) return s;
  const id = s.nextId;
  return {
    ...addEntry(s, { id, kind: 'command', line: startedLine, explain: false }),
    nextId: id + 1,
    running: { entryId: id, line: startedLine, group: 0, follow: true, startedMs: nowMs, cancelling: false },
  };
}

export type Completer = (text: string, cursor: number) => Completion;

export function createReducer(complete: Completer) {
  return (s: ConsoleState, a: Action): ConsoleState => {
    switch (a.type) {
      case 'key':
        return onKey(s, a.input, a.key, a.view, complete);
      case 'run':
        return enqueue(s, a.lines);
      case 'start':
        return start(s, a.nowMs);
      case 'progress':
        return s.running?.entryId === a.entryId ? { ...s, running: { ...s.running, progress: a.text } } : s;
      case 'finished':
        return finished(s, a.entryId, a.outcome, a.explain);
      case 'left':
        return { ...s, left: a.text, revision: s.revision + 1 };
      case 'edited': {
        // The line that applies the edit runs next, before anything typed ahead, as a group of its own.
        const noted = { ...addEntry(s, { id: s.nextId, kind: 'notice', text: a.note, tone: a.tone }), nextId: s.nextId + 2, editing: undefined, revision: s.revision + 1 };
        return a.then === undefined ? noted : { ...noted, queue: [{ line: a.then, follow: true, group: s.nextId + 1 }, ...s.queue], scroll: { kind: 'end' } };
      }
      case 'notice':
        return { ...addEntry(s, { id: s.nextId, kind: 'notice', text: a.text, tone: a.tone }), nextId: s.nextId + 1, revision: s.revision + 1 };
    }
  };
}

const idle = (s: ConsoleState) => !s.running && !s.editing && s.queue.length === 0;

/** Lines to run after those already queued, as one group; ids for groups come from the entry counter. */
function enqueue(s: ConsoleState, lines: string[]): ConsoleState {
  const first = idle(s);
  const group = s.nextId;
  return { ...s, nextId: s.nextId + 1, queue: [...s.queue, ...lines.map((line, i) => ({ line, follow: first && i === 0, group }))] };
}

function addEntry(s: ConsoleState, e: Entry): ConsoleState {
  const entries = [...s.entries, e];
  return { ...s, entries: entries.length > MAX_ENTRIES ? entries.slice(-MAX_ENTRIES) : entries };
}

function start(s: ConsoleState, nowMs: number): ConsoleState {
  if (s.running || s.queue.length === 0) return s;
  const [next, ...rest] = s.queue;
  const id = s.nextId;
  const withEntry = addEntry(s, { id, kind: 'command', line: next!.line, explain: false });
  return {
    ...withEntry,
    queue: rest,
    nextId: id + 1,
    running: { entryId: id, line: next!.line, group: next!.group, follow: next!.follow, startedMs: nowMs, cancelling: false },
    scroll: next!.follow ? { kind: 'end' } : s.scroll,
  };
}

function finished(s: ConsoleState, entryId: number, outcome: Outcome | undefined, explain: boolean): ConsoleState {
  const running = s.running?.entryId === entryId ? s.running : undefined;
  const cancel = running?.cancelling ? cancelOutcome(outcome) : undefined;
  const entries = s.entries.map((e) => (e.id === entryId && e.kind === 'command' ? { ...e, outcome, explain, cancel } : e));
  let queue = s.queue;
  let tour = s.tour;
  let nextId = s.nextId;
  // A failure drops the rest of its group (a tour stage), as batch mode stops at the first failure.
  if (outcome && !outcome.ok && running) queue = queue.filter((q) => q.group !== running.group);
  const step = outcome?.ok ? tourStepOf(outcome.result?.data) : undefined;
  if (step) {
    // The stage's lines run next, before anything typed ahead.
    const group = nextId++;
    queue = [...step.lines.map((line) => ({ line, follow: false, group })), ...queue];
    tour = step.done ? undefined : { next: step.next };
  }
  // A reference page the user asked for shows from its top, unless they paged away while it ran.
  const scroll: Scroll = outcome?.ok && outcome.result?.fromTop && running?.follow && s.scroll.kind === 'end' ? { kind: 'entry', entryId } : s.scroll;
  const word = outcome?.line.split(/\s+/)[0];
  const lastPause = outcome?.result?.pause ?? (word === 'attach' || word === 'detach' ? undefined : s.lastPause);
  const editing = outcome?.ok && running ? outcome.result?.edit : undefined;
  return { ...s, entries, queue, tour, nextId, scroll, lastPause, editing, running: undefined, revision: s.revision + 1, quitting: s.quitting || outcome?.quit === true };
}

function cancelOutcome(outcome: Outcome | undefined): Cancel {
  // E_CANCELLED: the command stopped because its signal was aborted (a Node AbortError arrives as that code too).
  if (!outcome || (!outcome.ok && outcome.error!.code === 'E_CANCELLED')) return 'cancelled';
  return 'late';
}

function onKey(s: ConsoleState, input: string, key: Partial<Key>, view: ViewInfo, complete: Completer): ConsoleState {
  if (key.ctrl && input === 'c') return onCtrlC(s);
  const base = { ...s, confirmQuit: false };
  if (s.search) {
    // A chunk with control characters in it (`dis\r` typed fast) acts key by key, as outside the search.
    return input.length > 1 && /[\x00-\x1f\x7f]/.test(input) ? typed(base, input, view, complete) : onSearchKey(base, s.search, input, key);
  }
  if (key.return) return submit(base);
  if (key.tab) return onTab(base, complete);
  if (key.pageUp || key.pageDown) return { ...base, scroll: paged(view, key.pageUp ? -1 : 1) };
  if (key.upArrow) return historyStep(base, -1);
  if (key.downArrow) return historyStep(base, 1);
  if (key.ctrl && input === 'r') return { ...base, completions: undefined, search: { query: '', failed: false, draft: s.editor } };
  if (key.ctrl && input === 'l') return { ...base, entries: [], scroll: { kind: 'end' } };
  if (key.ctrl && input === 'd' && s.editor.text === '') return s.running ? base : { ...base, quitting: true };
  const editor = editKey(s.editor, input, key);
  if (editor === undefined) return typed(base, input, view, complete);
  return { ...base, editor, completions: undefined };
}

/** Ctrl-C: cancel the running command, or leave search, or clear the line, or (asked twice) quit. */
function onCtrlC(s: ConsoleState): ConsoleState {
  if (s.running) return { ...s, running: { ...s.running, cancelling: true }, queue: [], confirmQuit: false };
  if (s.search) return { ...s, search: undefined, editor: s.search.draft };
  if (s.editor.text !== '') return { ...s, editor: ed.emptyEditor, completions: undefined, browsing: undefined, confirmQuit: false };
  if (s.confirmQuit) return { ...s, quitting: true };
  return { ...s, confirmQuit: true, completions: undefined };
}

/** Keys that only move or cut; undefined when the key is text to insert. */
function editKey(e: ed.Editor, input: string, key: Partial<Key>): ed.Editor | undefined {
  if (key.leftArrow) return ed.moveLeft(e);
  if (key.rightArrow) return ed.moveRight(e);
  if (key.home) return ed.moveHome(e);
  if (key.end) return ed.moveEnd(e);
  // Most terminals send DEL (0x7f) for Backspace, which Ink names `delete`.
  if (key.backspace || key.delete) return ed.deleteBack(e);
  if (key.escape) return e;
  if (key.ctrl) {
    switch (input) {
      case 'a': return ed.moveHome(e);
      case 'e': return ed.moveEnd(e);
      case 'b': return ed.moveLeft(e);
      case 'f': return ed.moveRight(e);
      case 'u': return ed.killToStart(e);
      case 'k': return ed.killToEnd(e);
      case 'w': return ed.killWordBack(e);
      case 'h': return ed.deleteBack(e);
      case 'd': return ed.deleteForward(e);
      default: return e;
    }
  }
  if (key.meta) return e;
  return undefined;
}

/**
 * Typed or pasted text, which may come in one chunk with control keys in it (`syms ti\t`, `\x15help\r` from a fast
 * typist or tmux): runs of printable characters go in, each control character acts as its key would.
 */
function typed(s: ConsoleState, input: string, view: ViewInfo, complete: Completer): ConsoleState {
  let state = s;
  let pending = '';
  const flush = () => {
    // Text after a Ctrl-R in the same chunk is the search query, not the line.
    if (pending && state.search) state = onSearchKey(state, state.search, pending, {});
    else if (pending) state = { ...state, editor: ed.insertText(state.editor, pending), completions: undefined };
    pending = '';
  };
  for (const ch of input) {
    if (ch >= ' ' && ch !== '\x7f') {
      pending += ch;
      continue;
    }
    flush();
    state = onKey(state, ...controlKey(ch), view, complete);
  }
  flush();
  return state;
}

/** The key a control character stands for, as Ink would have reported it alone. */
function controlKey(ch: string): [string, Partial<Key>] {
  switch (ch) {
    case '\r':
    case '\n':
      return ['', { return: true }];
    case '\t':
      return ['', { tab: true }];
    case '\x7f':
    case '\b':
      return ['', { backspace: true }];
    case '\x1b':
      return ['', { escape: true }];
    default:
      return [String.fromCharCode(ch.charCodeAt(0) + 96), { ctrl: true }];
  }
}

function submit(s: ConsoleState): ConsoleState {
  // Spaces around a line change nothing it does (Tab leaves one after a word): history keeps it without them.
  const line = s.editor.text.trim();
  const cleared: ConsoleState = { ...s, editor: ed.emptyEditor, browsing: undefined, completions: undefined };
  if (line.trim() === '') {
    // Enter on an empty prompt moves a tour on (once: a pending `tour next` is enough); otherwise it does nothing.
    const pending = s.running?.line === 'tour next' || s.queue.some((q) => q.line === 'tour next');
    return s.tour && !pending ? enqueue(cleared, ['tour next']) : cleared;
  }
  return enqueue({ ...cleared, history: remember(s.history, line) }, [line]);
}

function onTab(s: ConsoleState, complete: Completer): ConsoleState {
  const c = complete(s.editor.text, s.editor.cursor);
  if (c.candidates.length === 0) return { ...s, completions: { items: [], more: false } };
  const word = s.editor.text.slice(c.from, c.to);
  if (c.candidates.length === 1 && !c.more) {
    const only = c.candidates[0]!;
    const spaceFollows = s.editor.text[c.to] === ' ';
    const suffix = continuesWord(only) || spaceFollows ? '' : ' ';
    const editor = ed.replaceRange(s.editor, c.from, c.to, only + suffix);
    return { ...s, editor: spaceFollows ? ed.moveRight(editor) : editor, completions: undefined };
  }
  const prefix = commonPrefix(c.candidates);
  const editor = prefix.length > word.length ? ed.replaceRange(s.editor, c.from, c.to, prefix) : s.editor;
  return { ...s, editor, completions: { items: c.candidates, more: c.more, paths: c.paths } };
}

function historyStep(s: ConsoleState, delta: -1 | 1): ConsoleState {
  if (s.history.length === 0) return s;
  const from = s.browsing?.index ?? s.history.length;
  const index = Math.max(0, Math.min(s.history.length, from + delta));
  const draft = s.browsing?.draft ?? s.editor.text;
  if (index === s.history.length) return { ...s, browsing: undefined, editor: ed.editorAt(draft), completions: undefined };
  return { ...s, browsing: { index, draft }, editor: ed.editorAt(s.history[index]!), completions: undefined };
}

function onSearchKey(s: ConsoleState, q: NonNullable<ConsoleState['search']>, input: string, key: Partial<Key>): ConsoleState {
  const matched = q.index !== undefined ? s.history[q.index]! : q.draft.text;
  if (key.return) return submit({ ...s, search: undefined, editor: ed.editorAt(matched) });
  if (key.escape || (key.ctrl && input === 'g')) return { ...s, search: undefined, editor: q.draft };
  if (key.ctrl && input === 'r') {
    const older = searchBack(s.history, q.query, q.index ?? s.history.length);
    return { ...s, search: { ...q, index: older ?? q.index, failed: older === undefined } };
  }
  if (key.backspace || key.delete) {
    const query = q.query.slice(0, -1);
    const index = searchBack(s.history, query);
    return { ...s, search: { ...q, query, index, failed: query !== '' && index === undefined } };
  }
  if (key.ctrl || key.meta || key.tab || key.leftArrow || key.rightArrow || key.upArrow || key.downArrow || key.home || key.end) {
    // Any movement takes the match into the prompt for editing.
    return { ...s, search: undefined, editor: ed.editorAt(matched) };
  }
  const text = [...input].filter((c) => c >= ' ').join('');
  if (text === '') return s;
  const query = q.query + text;
  const index = searchBack(s.history, query, (q.index ?? s.history.length - 1) + 1);
  return { ...s, search: { ...q, query, index: index ?? q.index, failed: index === undefined } };
}

/** A page is the area less its two marker rows, so PgDn then PgUp comes back to the same line. */
function paged(view: ViewInfo, direction: -1 | 1): Scroll {
  const step = Math.max(1, view.height - 2);
  const top = Math.max(0, view.top + direction * step);
  return top + view.height >= view.total ? { kind: 'end' } : { kind: 'top', line: top };
}
