#!/usr/bin/env -S node --no-concurrent-recompilation --min-semi-space-size=16
// (--min-semi-space-size: a young generation of 16 MB from the start, so a one-off batch run (`syms *Heap*` makes some
// 15 MB of short-lived objects) runs without a garbage collection instead of 8 scavenges and a mark-compact, ~10 ms.)
// The `hotpatch` command. It runs the bundles `npm run build` makes (scripts/bundle.mjs), which start in a fraction of
// the time ~70 modules take one by one: a batch run (commands from -e, -x or a pipe) the one-file batch.js, the console
// main.js with the core chunks its UI shares; without them, or when a later bare `tsc` left them older than the
// compiled code, main.js itself.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function fresh(bundle: URL, compiled: URL): boolean {
  try {
    return statSync(fileURLToPath(bundle)).mtimeMs >= statSync(fileURLToPath(compiled)).mtimeMs;
  } catch {
    return false; // no bundle: esbuild was not installed when the project was built
  }
}

const args = process.argv.slice(2);
// After `--` come a program to start and its own arguments: its -e is not ours.
const ours = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
const batch = !process.stdin.isTTY || ours[0] === 'apply' || ours.some((a) => a === '-e' || a === '--eval' || a === '-x' || a === '--file');
const bundle = new URL(batch ? '../../bundle/batch.js' : '../../bundle/main.js', import.meta.url);
const compiled = new URL('./main.js', import.meta.url);
await import(fresh(bundle, compiled) ? bundle.href : compiled.href);
