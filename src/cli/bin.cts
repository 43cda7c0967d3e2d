#!/usr/bin/env -S node --min-semi-space-size=16
// (--min-semi-space-size: a young generation of 16 MB from the start, so a one-off batch run (`syms *Heap*` makes some
// 15 MB of short-lived objects) runs without a garbage collection instead of 8 scavenges and a mark-compact, ~10 ms.
// Optimizing compiles run on a background thread, as Node's default: the CLI leaves through _exit (src/cli/main.ts
// exitNow), so Node 20's exit-time deadlock on such a job (nodejs/node#54918) cannot happen.)
// The `hotpatch` command. It runs the bundles `npm run build` makes (scripts/bundle.mjs), which start in a fraction of
// the time ~70 modules take one by one: a batch run (commands from -e, -x or a pipe) the one-file batch.cjs, the console
// main.js with the core chunks its UI shares; without them, or when a later bare `tsc` left them older than the
// compiled code, main.js itself.
// This file is CommonJS (bin.cts): an ES module entry loads Node's module loader and the ES facades of the built-in
// modules first, 11 ms of every run.
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

function fresh(bundle: string, compiled: string): boolean {
  try {
    return statSync(bundle).mtimeMs >= statSync(compiled).mtimeMs;
  } catch {
    return false; // no bundle: esbuild was not installed when the project was built
  }
}

/**
 * Runs the CommonJS batch bundle compiled with a V8 code cache beside it (batch.v8cache): Node 20 keeps no compile
 * cache for modules, and compiling the bundle's 600 KB was a tenth of a `syms` run. V8 checks the cache against the
 * source and its own version and flags, and rejects one that does not fit; the cache is then written again, after
 * the run (so it holds the functions the run compiled), through a temporary file. A cache that cannot be written (a
 * read-only install) is simply not kept.
 */
function runCached(file: string): void {
  const cacheFile = file.replace(/\.cjs$/, '.v8cache');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        const temp = `${cacheFile}.${process.pid}`;
        writeFileSync(temp, script.createCachedData());
        renameSync(temp, cacheFile);
      } catch {
        // not ours to write: run without a cache
      }
    });
  }
  // import() inside such a script needs --experimental-vm-modules on Node 20: the bundle's few (the disassembler,
  // the encoder) go through this module's (src/builtins.ts importModule).
  (globalThis as { __hotpatchImport?: (specifier: string) => Promise<unknown> }).__hotpatchImport = (specifier) => import(specifier);
  const run = script.runInThisContext() as (e: object, r: NodeRequire, m: object, f: string, d: string) => void;
  const module = { exports: {} };
  run(module.exports, createRequire(file), module, file, dirname(file));
}

const args = process.argv.slice(2);
// After `--` come a program to start and its own arguments: its -e is not ours.
const ours = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
// isatty(0), not process.stdin.isTTY (making process.stdin loads Node's stream modules, 11 ms a run), and node:tty
// only when the arguments do not tell (it loads node:net).
const batch = ours[0] === 'apply' || ours.some((a) => a === '-e' || a === '--eval' || a === '-x' || a === '--file') || !(require('node:tty') as typeof import('node:tty')).isatty(0);
const compiled = join(__dirname, 'main.js');
const batchBundle = join(__dirname, '..', '..', 'bundle', 'batch.cjs');
const consoleBundle = join(__dirname, '..', '..', 'bundle', 'main.js');
if (batch && fresh(batchBundle, compiled)) runCached(batchBundle);
else void import((require('node:url') as typeof import('node:url')).pathToFileURL(!batch && fresh(consoleBundle, compiled) ? consoleBundle : compiled).href);
