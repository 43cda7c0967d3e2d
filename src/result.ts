// What a command gives back: data for JSON and scripts, and blocks that renderers (plain, Ink) turn into output.
import type { Pause } from './process/target.js';

export interface DisasmLine {
  address: bigint;
  /** `sym+off` of the instruction. */
  location: string;
  bytes: string;
  mnemonic: string;
  operands: string;
  /** Symbol of a branch or call target. */
  comment?: string;
  /** Threads whose pc stands here. */
  currentThreads?: number[];
}

export type Block =
  | { type: 'text'; text: string; tone?: 'plain' | 'ok' | 'warn' | 'error' | 'dim' | 'heading' }
  | {
      type: 'table';
      columns: string[];
      rows: string[][];
      alignRight?: number[];
      /** Columns a narrow terminal may leave out, the first listed first (plain output and JSON keep them all). */
      optional?: number[];
    }
  | { type: 'hexdump'; address: bigint; bytes: Buffer }
  | { type: 'disasm'; lines: DisasmLine[] }
  | { type: 'pairs'; pairs: [string, string][] };

export interface CommandResult {
  /** The result as data: what `--json` prints under "result". */
  data: unknown;
  blocks: Block[];
  /** The pause this command caused, if it stopped the target. */
  pause?: Pause;
  /** Step-by-step account for `explain on`. */
  explain?: string[];
  /** What the command took the input to mean, when it had to choose (a name with several definitions). */
  notes?: string[];
  /**
   * A reference page (help): the console shows it from its first line, where other results keep their end (the
   * `paused` line) in view. Either way the rest is a PgUp or PgDn away.
   */
  fromTop?: boolean;
  /**
   * Whether the command changed the process (load, redirect, revert, unload, apply): false when it found the process
   * already as asked (the same library loaded, the same redirect on top), so a rollout run again changes nothing.
   */
  changed?: boolean;
  /**
   * A file for the user to edit: the console opens it in $VISUAL/$EDITOR and, when the editor exits with status 0
   * and the file differs from the template as written, runs `then`. Batch mode has no editor and ignores it.
   */
  edit?: EditRequest;
}

export interface EditRequest {
  path: string;
  /** The line to run after a successful edit (patch FUNC --from PATH …). */
  then: string;
  /** sha256 of the file as hotpatch wrote it (a template nobody changed yet), when known. */
  untouched?: string;
}

export { notesOf } from './symbols/resolve.js';

export const text = (t: string, tone?: 'plain' | 'ok' | 'warn' | 'error' | 'dim' | 'heading'): Block => ({ type: 'text', text: t, tone });

export { hex } from './hex.js';
