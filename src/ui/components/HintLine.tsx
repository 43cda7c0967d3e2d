// The bottom line: what is going on (a command running, a question asked, a tour under way) or which keys help.
import type { ConsoleState } from '../state.js';
import type { StyledLine } from '../lines.js';
import { StyledText } from './StyledText.js';

const SPINNER = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';

export function hintLine(state: ConsoleState, nowMs: number, width = Number.MAX_SAFE_INTEGER): StyledLine {
  if (state.running) {
    const seconds = Math.max(0, (nowMs - state.running.startedMs) / 1000);
    const frame = SPINNER[Math.floor(nowMs / 100) % SPINNER.length];
    if (state.running.cancelling) return [{ text: `${frame} cancelling ${state.running.line} …`, role: 'warn' }];
    const queued = state.queue.length ? ` · ${state.queue.length} more queued` : '';
    const tail = ` · ${seconds.toFixed(1)} s${queued} · Ctrl-C cancels`;
    // A long command line gives way first, then what it is busy with: how long it runs and how to stop it stay in sight.
    const room = width - 2 - tail.length;
    const progress = state.running.progress ?? '';
    const line = cutTo(state.running.line, Math.max(LINE_KEPT, room - (progress ? 3 + progress.length : 0)));
    const busy = progress ? ' · ' + cutTo(progress, Math.max(8, room - line.length - 3)) : '';
    return [{ text: `${frame} ${line}${busy}${tail}`, role: 'ok' }];
  }
  if (state.left !== undefined) return [{ text: state.left, role: 'ok' }];
  if (state.quitting) return [{ text: 'detaching…', role: 'dim' }];
  if (state.confirmQuit) return [{ text: 'press Ctrl-C again to quit (the process runs on, detached)', role: 'warn' }];
  if (state.search) return [{ text: 'type to search history · ^R older · Enter runs · Esc cancels', role: 'dim' }];
  if (state.tour) {
    return [{ text: `tour · Enter runs the next stage: ${state.tour.next ?? 'end'} · tour stop ends it`, role: 'heading' }];
  }
  return [{ text: 'Tab completes · ↑↓ history · ^R search · PgUp/PgDn scroll · help · ^C^C quits', role: 'dim' }];
}

/** Columns of the command line kept on the hint line however busy it is: enough to tell which command runs. */
const LINE_KEPT = 16;

const cutTo = (text: string, width: number): string => (text.length > width ? text.slice(0, width - 1) + '…' : text);

export function HintLine({ state, nowMs, width }: { state: ConsoleState; nowMs: number; width: number }) {
  return <StyledText line={hintLine(state, nowMs, width)} />;
}
