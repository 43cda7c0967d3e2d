// C++ names shown demangled, by the system's c++filt in one batch (binutils is where nm and objdump come from).
import { spawn, spawnSync } from 'node:child_process';
import { HotpatchError } from '../errors.js';

const cache = new Map<string, string>();

export function demangleAll(names: string[]): Map<string, string> {
  const todo = [...new Set(names.filter((n) => n.startsWith('_Z') && !cache.has(n)))];
  if (todo.length > 0) {
    const out = spawnSync('c++filt', [], { input: todo.join('\n'), encoding: 'utf8', maxBuffer: 256 << 20 });
    const lines = out.status === 0 ? out.stdout.split('\n') : [];
    todo.forEach((n, i) => cache.set(n, lines[i] && lines[i].length > 0 ? lines[i] : n));
  }
  const result = new Map<string, string>();
  for (const n of names) result.set(n, cache.get(n) ?? n);
  return result;
}

/**
 * demangleAll without holding the event loop while c++filt works (80k names of node take it a second): the console
 * stays live, and an aborted `signal` kills c++filt and stops with E_CANCELLED.
 */
export async function demangleAllAsync(names: string[], signal: AbortSignal, cancelled: string): Promise<Map<string, string>> {
  const todo = [...new Set(names.filter((n) => n.startsWith('_Z') && !cache.has(n)))];
  if (todo.length > 0) {
    const lines = await new Promise<string[]>((resolve, reject) => {
      const child = spawn('c++filt', [], { stdio: ['pipe', 'pipe', 'ignore'], signal });
      const out: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      // No c++filt (or it failed): the names stay as they are, as demangleAll leaves them.
      child.on('error', (err) => (signal.aborted ? reject(new HotpatchError('E_CANCELLED', cancelled)) : resolve([])));
      child.stdin.on('error', () => {});
      child.on('close', (code) => {
        if (signal.aborted) reject(new HotpatchError('E_CANCELLED', cancelled));
        else resolve(code === 0 ? Buffer.concat(out).toString('utf8').split('\n') : []);
      });
      child.stdin.end(todo.join('\n'));
    });
    todo.forEach((n, i) => cache.set(n, lines[i] && lines[i].length > 0 ? lines[i] : n));
  }
  const result = new Map<string, string>();
  for (const n of names) result.set(n, cache.get(n) ?? n);
  return result;
}
