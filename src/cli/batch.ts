// Batch mode: commands from -e, -x files or stdin, run in order; stop at the first failure; always detach.
import { readFileSync } from 'node:fs';
import { Session } from '../session.js';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { runLine, type Outcome } from './runner.js';
import { renderResult, errorText, type OutputFormat } from './render-plain.js';
import { jsonLine } from './render-json.js';

/** A line of a -x file, with where it comes from: an error in it names the file and line (`explore.hp:3: …`). */
export interface SourcedLine {
  text: string;
  source: string;
}

export type BatchLine = string | SourcedLine;

export interface BatchInput {
  /** The opening line: `attach PID|NAME`, or `spawn PROG ARGS` (hotpatch -- PROG ARGS). */
  opening?: string;
  /** What is said besides the output (a started program stopped at the end): standard error, as `note:` lines. */
  notice?: (text: string) => void;
  /** Lines run one by one as they arrive (stdin streams: a line runs before the next is read). */
  lines: Iterable<BatchLine> | AsyncIterable<BatchLine>;
  format: OutputFormat;
  /** The terminal's width, for the table format. */
  width?: number;
}

export function readCommandFile(path: string): SourcedLine[] {
  try {
    return readFileSync(path, 'utf8').split('\n').map((text, i) => ({ text, source: `${path}:${i + 1}` }));
  } catch (err) {
    const e = toHotpatchError(err);
    throw new HotpatchError(e.code, `cannot read command file ${path}: ${e.message}`, 'check the path given to -x');
  }
}

export async function runBatch(input: BatchInput, session: Session, write: (s: string) => void): Promise<number> {
  const layout = { format: input.format === 'table' ? ('table' as const) : ('plain' as const), width: input.width };
  const emit = (o: Outcome, source?: string) => {
    if (input.format === 'json') write(jsonLine(o, source) + '\n');
    else if (o.ok) {
      const out = renderResult(o.result!, session.explain, layout);
      if (out) write(out + '\n');
    } else write((source ? `${source}: ` : '') + errorText(o.error!) + '\n');
  };
  if (input.opening !== undefined) {
    const attach = await runLine(session, input.opening);
    if (!attach!.ok) {
      emit(attach!);
      return 1;
    }
    // Said where a started program's output goes, on standard error: standard output stays the commands' results.
    if (session.spawned) input.notice?.(`started ${session.spawned.pid}; its output goes to ${session.spawned.log}`);
  }
  try {
    for await (const line of input.lines) {
      const text = typeof line === 'string' ? line : line.text;
      const outcome = await runLine(session, text);
      if (!outcome) continue;
      emit(outcome, typeof line === 'string' ? undefined : line.source);
      if (!outcome.ok) return 1;
      if (outcome.quit) break;
    }
    return 0;
  } finally {
    // A program hotpatch started ends with the batch (detached first), as with gdb -batch.
    const stopped = await session.stopSpawned();
    if (stopped) input.notice?.(stopped);
    if (session.target?.attached) await session.detach();
  }
}
