// Bundles hotpatch for start-up time, twice from the same compiled code:
// - dist/bundle/batch.cjs: the CLI in one file, for -e, -x and piped commands (one file loads faster than a few),
//   as CommonJS, which bin.cjs compiles with a V8 code cache of its own (dist/bundle/batch.v8cache, written by the
//   first run): Node 20 has no compile cache for modules, and compiling 600 KB was a tenth of a `syms` run;
// - dist/bundle/main.js and console.js (the Ink UI), split by esbuild so that what both use (the core: session,
//   commands, ELF reader, tracer glue) sits in chunks they share: the console's core imports are the CLI's very
//   modules (one session, one tracer), and a few files load in a fraction of the time ~70 modules (and Ink's ~540)
//   take one by one.
// Neither the batch file nor main.js's chunks hold Ink or React. Run by `npm run build` after tsc. Optional: without
// esbuild, bin.cjs runs dist/src/cli/main.js and the console imports dist/src/ui/start.js as they are.
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
const entries = { main: join(root, 'dist', 'src', 'cli', 'main.js'), console: join(root, 'dist', 'src', 'ui', 'start.js') };

rmSync(outdir, { recursive: true, force: true });
for (const file of Object.values(entries)) {
  if (!existsSync(file)) {
    process.stderr.write(`${file} is missing: run tsc first\n`);
    process.exit(1);
  }
}
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stdout.write('esbuild is not installed: hotpatch loads its modules one by one (slower start)\n');
  process.exit(0);
}

// Ink imports React's devtools only when DEV=true; the package is not installed, so that import gets an empty stub.
const stubDevtools = {
  name: 'stub-react-devtools',
  setup(build) {
    build.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export default {};', loader: 'js' }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // React's production build: half the size, and no development checks on every render.
  define: { 'process.env.NODE_ENV': '"production"' },
  // The disassembler and the encoder are WebAssembly packages loaded on first use, with files of their own.
  external: ['capstone-wasm', 'iced-x86'],
  // CommonJS parts (cli-table3, React) may require Node's built-in modules: every file gets a require of its own.
  banner: { js: "import { createRequire as __hotpatchCreateRequire } from 'node:module';\nconst require = __hotpatchCreateRequire(import.meta.url);" },
  logLevel: 'warning',
};
await esbuild.build({ ...common, entryPoints: entries, outdir, splitting: true, chunkNames: 'core-[hash]', plugins: [stubDevtools] });
await esbuild.build({
  ...common,
  format: 'cjs',
  entryPoints: [entries.main],
  outfile: join(outdir, 'batch.cjs'),
  // import.meta.url (the addon's and the package's paths) as the file's own URL; require is CommonJS's own.
  define: { ...common.define, 'import.meta.url': '__hotpatchFileUrl' },
  banner: { js: "const __hotpatchFileUrl = require('node:url').pathToFileURL(__filename).href;" },
});
