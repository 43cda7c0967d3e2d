#!/usr/bin/env -S node --no-concurrent-recompilation
// The `hotpatch` command. It runs the bundle `npm run build` makes (scripts/bundle.mjs: dist/bundle/main.js and the
// core chunks it shares with the console's UI), which starts in a fraction of the time ~70 modules take one by one;
// without it, or when a later bare `tsc` left it older than the compiled code, main.js itself.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function fresh(bundle: URL, compiled: URL): boolean {
  try {
    return statSync(fileURLToPath(bundle)).mtimeMs >= statSync(fileURLToPath(compiled)).mtimeMs;
  } catch {
    return false; // no bundle: esbuild was not installed when the project was built
  }
}

const bundle = new URL('../../bundle/main.js', import.meta.url);
const compiled = new URL('./main.js', import.meta.url);
await import(fresh(bundle, compiled) ? bundle.href : compiled.href);
