// C++ names shown demangled, by the C++ runtime's demangler in the addon (native/demangle.cc), in gdb's style. It
// replaced a c++filt process: starting one cost `syms *Heap*` on node more than demangling its 4,000 names.
import { nativeDemangler } from '../native.js';
import { HotpatchError } from '../errors.js';

const cache = new Map<string, string>();

/** The names not demangled yet (Itanium names start with _Z), each once. */
const namesToAsk = (names: readonly string[]) => [...new Set(names.filter((n) => n.startsWith('_Z') && !cache.has(n)))];

function demangleNow(todo: string[]): void {
  if (todo.length === 0) return;
  const lines = nativeDemangler()?.(todo.join('\n')).split('\n') ?? [];
  todo.forEach((n, i) => cache.set(n, lines[i] ? lines[i]! : n));
}

function fromCache(names: readonly string[]): Map<string, string> {
  const result = new Map<string, string>();
  for (const n of names) result.set(n, cache.get(n) ?? n);
  return result;
}

/** Each name demangled (a name that is not a C++ one maps to itself). */
export function demangleAll(names: readonly string[]): Map<string, string> {
  demangleNow(namesToAsk(names));
  return fromCache(names);
}

/** Names demangled a batch at a time: node's 80k C++ names take about half a second. */
const SLICE = 4000;

/**
 * demangleAll in slices, with a turn of the event loop between them: the console stays live, and an aborted
 * `signal` stops with E_CANCELLED within a slice (a few milliseconds).
 */
export async function demangleAllAsync(names: readonly string[], signal: AbortSignal | undefined, cancelled: string): Promise<Map<string, string>> {
  const todo = namesToAsk(names);
  for (let i = 0; i < todo.length; i += SLICE) {
    if (signal?.aborted) throw new HotpatchError('E_CANCELLED', cancelled);
    demangleNow(todo.slice(i, i + SLICE));
    if (signal && i + SLICE < todo.length) await new Promise((resolve) => setImmediate(resolve));
  }
  if (signal?.aborted) throw new HotpatchError('E_CANCELLED', cancelled);
  return fromCache(names);
}
