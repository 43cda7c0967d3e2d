// The completion source over a live session: names from the attached process, nothing (not an error) without one.
import type { Session } from '../session.js';
import { allCommands } from '../../commands/index.js';
import { filePaths, type CompletionSource } from './complete.js';

export function sessionSource(session: Session): CompletionSource {
  const space = () => (session.target?.attached ? session.space() : undefined);
  return {
    commands: allCommands(),
    symbols(prefix, limit) {
      try {
        return space()?.index.completions(prefix, limit) ?? [];
      } catch {
        return [];
      }
    },
    modules() {
      try {
        return space()?.modules.map((m) => m.name) ?? [];
      } catch {
        return [];
      }
    },
    registers: () => session.arch.registerNames,
    files: filePaths,
  };
}

/** Build the symbol tables now, so the first Tab is fast; called when the console is idle after a command. */
export function prepareSymbols(session: Session): void {
  if (!session.target?.attached) return;
  try {
    session.space().index.prepare();
  } catch {
    // the target went away or its maps could not be read: the next command will say so
  }
}
