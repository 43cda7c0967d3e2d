// C++ names shown demangled, by the C++ runtime's demangler in the addon (native/demangle.cc), in gdb's style. It
// replaced a c++filt process: starting one cost `syms *Heap*` on node more than demangling its 4,000 names.
import { nativeDemangler } from '../native.js';
import { finish, inSlices, type Sliced } from '../slices.js';

const cache = new Map<string, string>();

/** Names demangled a batch at a time: node's 80k C++ names take about half a second. */
const BATCH = 4000;

/** The names not demangled yet (Itanium names start with _Z), each once, a batch at a time. */
function* demangling(names: readonly string[]): Sliced<Map<string, string>> {
  const todo = [...new Set(names.filter((n) => n.startsWith('_Z') && !cache.has(n)))];
  const demangle = nativeDemangler();
  for (let i = 0; i < todo.length; i += BATCH) {
    const batch = todo.slice(i, i + BATCH);
    const lines = demangle?.(batch.join('\n')).split('\n') ?? [];
    batch.forEach((n, k) => cache.set(n, lines[k] ? lines[k]! : n));
    yield;
  }
  const result = new Map<string, string>();
  for (const n of names) result.set(n, cache.get(n) ?? n);
  return result;
}

/** Each name demangled (a name that is not a C++ one maps to itself). */
export const demangleAll = (names: readonly string[]): Map<string, string> => finish(demangling(names));

/**
 * demangleAll in slices (src/slices.ts): the console stays live, and an aborted `signal` stops with E_CANCELLED and
 * `cancelled` as the message.
 */
export const demangleAllAsync = (names: readonly string[], signal: AbortSignal | undefined, cancelled: string): Promise<Map<string, string>> =>
  inSlices(demangling(names), signal, cancelled);
