#!/usr/bin/env -S node --no-concurrent-recompilation
// The `hotpatch` command. A batch run (commands from -e, -x or a pipe) loads the CLI bundled into one file, which
// starts in a fraction of the time ~70 modules take one by one; the interactive console loads the modules as they
// are, the same ones its UI bundle imports. Either way main.js's code runs; without the bundle, main.js itself.
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
const batch = !process.stdin.isTTY || args.some((a) => a === '-e' || a === '--eval' || a === '-x' || a === '--file');
const bundle = new URL('./hotpatch.bundle.js', import.meta.url);
await import(batch && existsSync(bundle) ? bundle.href : './main.js');
