// Bundles the batch CLI (dist/src/cli/main.js with the core, the commands and cli-table3) into one file,
// dist/src/cli/hotpatch.bundle.js, which bin.js loads for -e, -x and piped commands: start-up time matters to
// scripts, and one file loads much faster than ~70 modules. The interactive console stays unbundled (its own
// bundle shares the core modules with main.js). Optional: without esbuild, bin.js runs main.js.
import { rmSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cliDir = join(root, 'dist', 'src', 'cli');
const entry = join(cliDir, 'main.js');
const outfile = join(cliDir, 'hotpatch.bundle.js');

rmSync(outfile, { force: true });
if (!existsSync(entry)) {
  process.stderr.write(`${entry} is missing: run tsc first\n`);
  process.exit(1);
}
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stdout.write('esbuild is not installed: batch runs load the modules one by one (slower start)\n');
  process.exit(0);
}

await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The console is reached by a dynamic import and stays outside; so do the disassembler and the encoder
  // (WebAssembly packages loaded on first use, with files of their own).
  external: ['./interactive.js', 'capstone-wasm', 'iced-x86'],
  // cli-table3 and its helpers are CommonJS: give the bundle a require for them.
  banner: { js: "import { createRequire as __hotpatchCreateRequire } from 'node:module';\nconst require = __hotpatchCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
