// The interactive console: the Ink UI, loaded here only (batch mode never loads Ink or React), while we attach.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Session } from '../session.js';
import { openingLine, type CliOptions } from './args.js';
import type { startUi } from '../ui/start.js';
import { runLine } from './runner.js';
import { importModule } from '../builtins.js';

export async function runInteractive(session: Session, opts: CliOptions): Promise<number> {
  // Keys from the first moment are the console's: a Ctrl-C typed while the UI loads waits for it as a key, instead of
  // ending the program as a signal. Ink keeps the terminal raw from here on, and puts it back when it exits.
  const raw = process.stdin.isTTY === true;
  if (raw) process.stdin.setRawMode(true);
  // Attaching and loading the UI need nothing from each other: do both at once.
  const line = openingLine(opts);
  const attaching = line !== undefined ? { line, outcome: runLine(session, line) } : undefined;
  let ui;
  try {
    ui = await loadUi();
  } catch (err) {
    if (raw) process.stdin.setRawMode(false);
    throw err;
  }
  return ui.startUi(session, opts, attaching);
}

async function loadUi(): Promise<{ startUi: typeof startUi }> {
  // React's production build (the bundle has it built in): smaller, and no development checks on every render.
  // (Through a local name: the bundler replaces `process.env.NODE_ENV` itself with the constant.)
  const env = process.env;
  env.NODE_ENV ??= 'production';
  return asTerminal(() => withoutFetch(() => importModule(uiEntry()) as Promise<{ startUi: typeof startUi }>));
}

/** What Ink and chalk read once, as they load, to decide they run in CI. */
const CI_VARIABLES = ['CI', 'CONTINUOUS_INTEGRATION'];

/**
 * Ink draws nothing but its last frame, at exit, when it believes it runs in CI (CI or CONTINUOUS_INTEGRATION set),
 * and chalk drops colours: the console showed an empty terminal. It runs on a terminal by definition, so it loads
 * without those variables; they are put back at once (commands and the processes they start see them unchanged).
 */
async function asTerminal<T>(load: () => Promise<T>): Promise<T> {
  const saved = CI_VARIABLES.filter((name) => name in process.env).map((name) => [name, process.env[name]] as const);
  for (const [name] of saved) delete process.env[name];
  try {
    return await load();
  } finally {
    for (const [name, value] of saved) process.env[name] = value;
  }
}

/**
 * Running from the bundle `npm run build` makes (scripts/bundle.mjs): its console.js, next to this very chunk, which
 * imports the same core chunks as the CLI. Running from the compiled modules: the compiled UI.
 */
function uiEntry(): string {
  const bundled = new URL('./console.js', import.meta.url);
  if (existsSync(fileURLToPath(bundled))) return bundled.href;
  return new URL('../ui/start.js', import.meta.url).href;
}

/**
 * Ink's layout engine (yoga) decodes its inline WebAssembly with fetch() when there is one, and the first use of fetch
 * loads Node's whole HTTP client: more time than the rest of the UI takes to load. Without fetch it decodes the bytes
 * itself. Nothing else runs fetch while the UI loads; it is put back at once.
 */
async function withoutFetch<T>(load: () => Promise<T>): Promise<T> {
  const fetch = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
  if (!fetch?.configurable) return load();
  Object.defineProperty(globalThis, 'fetch', { value: undefined, configurable: true, writable: true });
  try {
    return await load();
  } finally {
    Object.defineProperty(globalThis, 'fetch', fetch);
  }
}
