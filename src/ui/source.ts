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

/**
 * The symbol tables, built while the console is idle so that neither the first Tab nor the first command pays for
 * them. Two steps, each a few hundred ms for 100k symbols: the sorted names that Tab searches, then the rest (address
 * order, lower-case names for suggestions). Keys typed meanwhile wait, and are handled between the steps.
 */
export const symbolPreparation: ((session: Session) => void)[] = [
  (session) => session.space().index.completions('', 1),
  (session) => session.space().index.prepare(),
];

/** Runs one preparation step; a target that went away or maps that cannot be read are for the next command to report. */
export function prepareSymbols(session: Session, step: (session: Session) => void): void {
  if (!session.target?.attached) return;
  try {
    step(session);
  } catch {
    // the next command says what is wrong
  }
}
