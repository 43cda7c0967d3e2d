// Node's built-in modules that a batch run seldom needs, loaded on first use: child_process (and the net and stream
// modules it pulls in), crypto and zlib cost every `hotpatch -e …` run some 15 ms of start-up, for the few commands
// that start a process, hash a file or inflate a compressed debug section.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const childProcess = (): typeof import('node:child_process') => load('node:child_process') as typeof import('node:child_process');
export const crypto = (): typeof import('node:crypto') => load('node:crypto') as typeof import('node:crypto');
export const zlib = (): typeof import('node:zlib') => load('node:zlib') as typeof import('node:zlib');
export const readline = (): typeof import('node:readline') => load('node:readline') as typeof import('node:readline');

/**
 * import() of an ES module or package (the disassembler and encoder, the console's UI). The batch bundle runs as a
 * script compiled with a code cache (src/cli/bin.cts), where import() has no module loader to call on Node 20: bin.cjs
 * lends it its own as globalThis.__hotpatchImport.
 */
export function importModule(specifier: string): Promise<unknown> {
  const lent = (globalThis as { __hotpatchImport?: (specifier: string) => Promise<unknown> }).__hotpatchImport;
  return lent ? lent(specifier) : import(specifier);
}
