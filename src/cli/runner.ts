// Runs one console line: parse it against the command table, check the target, run, and wrap the outcome.
import { splitWords, parseArgs } from '../command.js';
import { HotpatchError, toHotpatchError } from '../errors.js';
import type { CommandResult } from '../result.js';
import type { Session } from '../session.js';
import type { Pause } from '../process/target.js';
import { findCommand, allCommands } from '../../commands/index.js';
import { gdbHabit } from '../../commands/gdb.js';

export interface Outcome {
  line: string;
  command: string;
  ok: boolean;
  result?: CommandResult;
  error?: HotpatchError;
  quit?: boolean;
}

/** A line with nothing to run (blank, or a # comment) gives undefined. */
export async function runLine(session: Session, line: string, signal?: AbortSignal): Promise<Outcome | undefined> {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return undefined;
  try {
    let words = splitWords(trimmed);
    let spec = findCommand(words[0]);
    // A gdb habit (`x/4xg $rsp`, `info threads`) runs as the hotpatch line it stands for, which a note gives.
    let asGdb: string | undefined;
    if (!spec) {
      const habit = gdbHabit(words, findCommand);
      if (!habit) throw unknownCommand(words[0]);
      if ('error' in habit) throw habit.error;
      asGdb = habit.line;
      words = splitWords(habit.line);
      spec = findCommand(words[0])!;
    }
    const input = parseArgs(spec, words.slice(1));
    if (spec.needsTarget) session.requireTarget();
    const target = session.target;
    target?.beginCommand();
    session.beginCommand();
    let whole: Pause | undefined;
    const result = await Promise.resolve(spec.run({ session, signal }, input)).finally(() => {
      whole = target?.endCommand();
      session.endCommand();
    });
    // The pause is what the tracer measured over the whole command, every stop of it, and nothing else: no command
    // reports one of its own (`stop` says in its result how long stopping took; the process stays stopped).
    // (Set on the command's own result, not a copy: a copy would read every property, and `syms` makes its --json
    // data only when asked.)
    result.pause = whole && spec.name !== 'stop' ? whole : undefined;
    if (result.pause) session.lastPauses.set(spec.name, result.pause);
    if (asGdb) result.notes = [`gdb's "${trimmed}" is \`${asGdb}\` in hotpatch`, ...(result.notes ?? [])];
    return { line: trimmed, command: trimmed, ok: true, result, quit: spec.name === 'quit' };
  } catch (err) {
    return { line: trimmed, command: trimmed, ok: false, error: toHotpatchError(err) };
  }
}

function unknownCommand(word: string): HotpatchError {
  const names = allCommands().flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const close = names.filter((n) => n.startsWith(word.slice(0, 2)) || word.startsWith(n)).slice(0, 3);
  return new HotpatchError('E_UNKNOWN_COMMAND', `unknown command "${word}"`, close.length ? `did you mean ${close.join(', ')}? (help lists all)` : 'type help for the list');
}
