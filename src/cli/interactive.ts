// The interactive console: the Ink UI when stdin is a terminal (loaded only here, never in batch mode).
import type { Session } from '../session.js';
import type { CliOptions } from './args.js';
import { runLine } from './runner.js';
import { renderResult, errorText } from './render-plain.js';
import { createInterface } from 'node:readline/promises';

export async function runInteractive(session: Session, opts: CliOptions): Promise<number> {
  try {
    const uiModule = '../ui/start.js'; // a variable keeps tsc from requiring the UI while it is optional
    const ui = (await import(uiModule)) as { startUi(s: Session, o: CliOptions): Promise<number> };
    return await ui.startUi(session, opts);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  // Fallback prompt while the Ink UI is not built.
  if (opts.pid !== undefined) {
    const o = await runLine(session, `attach ${opts.pid}`);
    process.stdout.write((o!.ok ? renderResult(o!.result!, session.explain) : errorText(o!.error!)) + '\n');
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'hotpatch> ' });
  rl.prompt();
  for await (const line of rl) {
    const o = await runLine(session, line);
    if (o) process.stdout.write((o.ok ? renderResult(o.result!, session.explain) : errorText(o.error!)) + '\n');
    if (o?.quit) break;
    rl.prompt();
  }
  rl.close();
  if (session.target?.attached) await session.detach();
  return 0;
}
