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
    const busy = state.running.progress ? ` · ${state.running.progress}` : '';
    const tail = `${busy} · ${seconds.toFixed(1)} s${queued} · Ctrl-C cancels`;
    // A long command line gives way, so that what it is doing and how to stop it stay in sight.
    const room = Math.max(8, width - 2 - tail.length);
    const line = state.running.line.length > room ? state.running.line.slice(0, room - 1) + '…' : state.running.line;
    return [{ text: `${frame} ${line}${tail}`, role: 'ok' }];
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

export function HintLine({ state, nowMs, width }: { state: ConsoleState; nowMs: number; width: number }) {
  return <StyledText line={hintLine(state, nowMs, width)} />;
}
