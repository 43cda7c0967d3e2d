// Batch mode: commands from -e, -x files or stdin, run in order; stop at the first failure; always detach.
import { readFileSync } from 'node:fs';
import { Session } from '../session.js';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { runLine, type Outcome } from './runner.js';
import { renderResult, errorText } from './render-plain.js';
import { jsonLine } from './render-json.js';

export interface BatchInput {
  pid?: number;
  /** Lines run one by one as they arrive (stdin streams: a line runs before the next is read). */
  lines: Iterable<string> | AsyncIterable<string>;
  json: boolean;
}

export function readCommandFile(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch (err) {
    const e = toHotpatchError(err);
    throw new HotpatchError(e.code, `cannot read command file ${path}: ${e.message}`, 'check the path given to -x');
  }
}

export async function runBatch(input: BatchInput, session: Session, write: (s: string) => void): Promise<number> {
  const emit = (o: Outcome) => {
    if (input.json) write(jsonLine(o) + '\n');
    else if (o.ok) {
      const out = renderResult(o.result!, session.explain);
      if (out) write(out + '\n');
    } else write(errorText(o.error!) + '\n');
  };
  if (input.pid !== undefined) {
    const attach = await runLine(session, `attach ${input.pid}`);
    if (!attach!.ok) {
      emit(attach!);
      return 1;
    }
  }
  try {
    for await (const line of input.lines) {
      const outcome = await runLine(session, line);
      if (!outcome) continue;
      emit(outcome);
      if (!outcome.ok) return 1;
      if (outcome.quit) break;
    }
    return 0;
  } finally {
    if (session.target?.attached) await session.detach();
  }
}
