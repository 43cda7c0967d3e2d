// The completion source over a live session: names from the attached process, nothing (not an error) without one.
import type { Session } from '../session.js';
import type { AddressSpace } from '../symbols/space.js';
import { inSlices, type Sliced } from '../slices.js';
import { HotpatchError } from '../errors.js';
import { allCommands } from '../../commands/index.js';
import { basename } from 'node:path';
import { resolveModuleName } from '../symbols/resolve.js';
import { listProcesses } from '../process/find.js';
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
    processes: listProcesses,
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

/**
 * One piece of the symbol tables' preparation, in slices (see slices.ts): keys, the spinner and Ctrl-C get a turn
 * between slices, and a step dropped half-way leaves nothing half-built.
 */
export interface PreparationStep {
  /** What it does, for the hint line: `reading the symbols of node`. */
  label: string;
  run(): Sliced<void>;
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
    for (const m of space.modules) {
      steps.push({
        label: `reading the symbols of ${m.name}`,
        *run() {
          const elf = space.elfOf(m);
          if (elf?.symbolsSliced) yield* elf.symbolsSliced();
          else elf?.symbols();
        },
      });
    }
    steps.push({
      label: 'indexing the symbols',
      *run() {
        yield* space.indexing();
        indexed.add(space);
      },
    });
  }
  if (!full) return steps;
  steps.push({ label: 'sorting the symbol names', *run() { yield* space.index.naming(); } });
  steps.push({
    label: 'sorting the symbols by address',
    *run() {
      yield* space.index.preparing();
      prepared.add(space);
    },
  });
  return steps;
}

/**
 * Runs one preparation step in slices; resolves false when `signal` stopped it. A target that went away or maps that
 * cannot be read are for the next command to report.
 */
export async function runStep(step: PreparationStep, signal?: AbortSignal): Promise<boolean> {
  try {
    await inSlices(step.run(), signal, `${step.label}: cancelled`);
  } catch (err) {
    if (err instanceof HotpatchError && err.code === 'E_CANCELLED') return false;
    // the next command says what is wrong
  }
  return true;
}
