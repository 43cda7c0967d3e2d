// The completion source over a live session: names from the attached process, nothing (not an error) without one.
import type { Session } from '../session.js';
import type { AddressSpace } from '../symbols/space.js';
import { allCommands } from '../../commands/index.js';
import { basename } from 'node:path';
import { resolveModuleName } from '../symbols/resolve.js';
import { filePaths, type CompletionSource, type SymbolScope } from './complete.js';

export function sessionSource(session: Session): CompletionSource {
  const space = () => (session.target?.attached ? session.space() : undefined);
  return {
    commands: allCommands(),
    symbols(prefix, limit, scope) {
      try {
        const now = space();
        if (!now) return [];
        return scope ? scopedSymbols(now, prefix, limit, scope) : now.index.completions(prefix, limit);
      } catch {
        return [];  // an unknown module: nothing to offer
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
 * Names of one module (`libc.so.6!`, `/path/lib.so!`, `#3!`) and/or one source file (`loop.c:`: its statics, compared
 * by file name, or by the end of the recorded path when a directory is typed), sorted.
 */
function scopedSymbols(space: AddressSpace, prefix: string, limit: number, scope: SymbolScope): string[] {
  const module = scope.module !== undefined ? resolveModuleName(scope.module, space.modules) : undefined;
  const file = scope.file;
  const fileMatches = (recorded: string) => (file!.includes('/') ? recorded === file || recorded.endsWith('/' + file) : basename(recorded) === file);
  const names = new Set<string>();
  for (const sym of space.index.all()) {
    if (module !== undefined && sym.module !== module) continue;
    if (file !== undefined && (sym.file === undefined || !fileMatches(sym.file))) continue;
    if (sym.name.startsWith(prefix)) names.add(sym.name);
  }
  return [...names].sort().slice(0, limit);
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
