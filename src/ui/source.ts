// The completion source over a live session: names from the attached process, nothing (not an error) without one.
import type { Session } from '../session.js';
import type { AddressSpace } from '../symbols/space.js';
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

/** One piece of the symbol tables' preparation: short enough that keys, the spinner and Ctrl-C get a turn in between. */
export interface PreparationStep {
  /** What it does, for the hint line: `reading the symbols of node`. */
  label: string;
  run(): void;
}

/** Address spaces whose index (or every table) is built: nothing to prepare again until the mappings change (a new space). */
const indexed = new WeakSet<AddressSpace>();
const prepared = new WeakSet<AddressSpace>();

/**
 * The symbol tables, built step by step so that neither the first Tab nor the first command pays for them at once, and
 * the console stays live meanwhile: one step per module's symbols (a 100 MB binary's 100k symbols take a few hundred
 * ms), then the index over them all, then the sorted names that Tab searches, then the rest (address order, lower-case
 * names for suggestions). `full`: all of it; else only what a command needs (the index). None when already built, or
 * when no process is attached.
 */
export function preparationSteps(session: Session, full = true): PreparationStep[] {
  if (!session.target?.attached) return [];
  let space: AddressSpace;
  try {
    space = session.space();
  } catch {
    return [];  // the command says what is wrong
  }
  if (prepared.has(space) || (!full && indexed.has(space))) return [];
  const steps: PreparationStep[] = [];
  if (!indexed.has(space)) {
    for (const m of space.modules) steps.push({ label: `reading the symbols of ${m.name}`, run: () => void space.elfOf(m)?.symbols() });
    steps.push({
      label: 'indexing the symbols',
      run: () => {
        void space.index;
        indexed.add(space);
      },
    });
  }
  if (!full) return steps;
  steps.push({ label: 'sorting the symbol names', run: () => void space.index.completions('', 1) });
  steps.push({
    label: 'sorting the symbols by address',
    run: () => {
      space.index.prepare();
      prepared.add(space);
    },
  });
  return steps;
}

/** Runs one preparation step; a target that went away or maps that cannot be read are for the next command to report. */
export function runStep(step: PreparationStep): void {
  try {
    step.run();
  } catch {
    // the next command says what is wrong
  }
}
