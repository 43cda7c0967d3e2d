// C++ names shown demangled, by the system's c++filt in one batch (binutils is where nm and objdump come from).
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { HotpatchError } from '../errors.js';

const cache = new Map<string, string>();

/** The names c++filt has not answered yet (Itanium names start with _Z), each once. */
const namesToAsk = (names: string[]) => [...new Set(names.filter((n) => n.startsWith('_Z') && !cache.has(n)))];

function remember(todo: string[], lines: string[]): void {
  todo.forEach((n, i) => cache.set(n, lines[i] && lines[i].length > 0 ? lines[i] : n));
}

function fromCache(names: string[]): Map<string, string> {
  const result = new Map<string, string>();
  for (const n of names) result.set(n, cache.get(n) ?? n);
  return result;
}

export function demangleAll(names: string[]): Map<string, string> {
  const todo = namesToAsk(names);
  if (todo.length > 0) {
    const out = spawnSync('c++filt', [], { input: todo.join('\n'), encoding: 'utf8', maxBuffer: 256 << 20 });
    remember(todo, out.status === 0 ? out.stdout.split('\n') : []);
  }
  return fromCache(names);
}

/**
 * demangleAll without holding the event loop while c++filt works (80k names of node take it a second): the console
 * stays live, and an aborted `signal` kills c++filt and stops with E_CANCELLED.
 */
export async function demangleAllAsync(names: string[], signal: AbortSignal | undefined, cancelled: string): Promise<Map<string, string>> {
  return startDemangler().demangle(names, signal, cancelled);
}

/** c++filt started before it is given names: see startDemangler. */
export interface Demangler {
  /** The names demangled (as demangleAllAsync); the process is used once, then ends. */
  demangle(names: string[], signal: AbortSignal | undefined, cancelled: string): Promise<Map<string, string>>;
  /** Ends the process unused (the names turned out to need none, or the work failed before). */
  close(): void;
}

/**
 * c++filt started now, to be given its names later: its start (exec, loading its libraries: a few ms) runs on the
 * other core while the caller still reads symbol tables, which `syms *Heap*` on node spends most of its time on.
 */
export function startDemangler(): Demangler {
  let child: ChildProcessByStdio<Writable, Readable, null> | undefined;
  let failed = false;
  const out: Buffer[] = [];
  let closed: Promise<number | null> | undefined;
  try {
    child = spawn('c++filt', [], { stdio: ['pipe', 'pipe', 'ignore'] });
    // No c++filt (or it failed): the names stay as they are, as demangleAll leaves them.
    child.on('error', () => (failed = true));
    child.stdin.on('error', () => {});
    child.stdout.on('data', (b: Buffer) => out.push(b));
    const started = child;
    closed = new Promise((resolve) => started.on('close', (code) => resolve(code)));
  } catch {
    failed = true;
  }
  const close = () => {
    if (!child) return;
    child.stdin.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill();
    child = undefined;
  };
  return {
    close,
    async demangle(names, signal, cancelled) {
      const todo = namesToAsk(names);
      const running = child;
      if (todo.length === 0 || !running || !closed) {
        close();
        return fromCache(names);
      }
      child = undefined;
      const onAbort = () => running.kill();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (signal?.aborted) running.kill();
        running.stdin.end(todo.join('\n'));
        const code = await closed;
        if (signal?.aborted) throw new HotpatchError('E_CANCELLED', cancelled);
        remember(todo, !failed && code === 0 ? Buffer.concat(out).toString('utf8').split('\n') : []);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      return fromCache(names);
    },
  };
}
