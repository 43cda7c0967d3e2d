// C++ names shown demangled, by the system's c++filt in one batch (binutils is where nm and objdump come from).
import { spawnSync } from 'node:child_process';

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
