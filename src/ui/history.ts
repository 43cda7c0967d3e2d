// Command history: kept per user in $XDG_STATE_HOME/hotpatch/history, browsed with ↑/↓ and searched with Ctrl-R.
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { stateDir } from '../paths.js';
import { dirname, join } from 'node:path';

const KEPT_LINES = 1000;

/** Where history lives; the UI reads it once and appends each line it runs. */
export interface HistoryStore {
  load(): string[];
  append(line: string): void;
}

export function historyPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'history');
}

/** History in a file; a file we cannot read or write means no history, never a failing console. */
export function fileHistory(path = historyPath()): HistoryStore {
  return {
    load() {
      try {
        return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-KEPT_LINES);
      } catch {
        return [];
      }
    },
    append(line) {
      try {
        mkdirSync(dirname(path), { recursive: true });
        appendFileSync(path, line.replace(/\n/g, ' ') + '\n');
      } catch {
        // read-only home: history stays in memory for this session
      }
    },
  };
}

/** History held in memory only (tests, or a console that must leave no trace). */
export function memoryHistory(lines: string[] = []): HistoryStore & { lines: string[] } {
  return {
    lines,
    load: () => [...lines],
    append(line) {
      lines.push(line);
    },
  };
}

/** The list with `line` added, skipping blanks and a repeat of the last line. */
export function remember(entries: readonly string[], line: string): string[] {
  if (line.trim() === '' || entries[entries.length - 1] === line) return entries as string[];
  const next = [...entries, line];
  return next.length > KEPT_LINES ? next.slice(-KEPT_LINES) : next;
}

/** The newest entry at an index below `before` that contains `query`, for Ctrl-R. */
export function searchBack(entries: readonly string[], query: string, before = entries.length): number | undefined {
  for (let i = Math.min(before, entries.length) - 1; i >= 0; i--) {
    if (entries[i]!.includes(query)) return i;
  }
  return undefined;
}
