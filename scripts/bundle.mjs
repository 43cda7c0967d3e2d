// Bundles hotpatch for start-up time: dist/bundle/main.js (the CLI: batch and console) and dist/bundle/console.js (the
// Ink UI), split by esbuild so that what both use (the core: session, commands, ELF reader, tracer glue) sits in chunks
// they share. A batch run loads main.js and the core chunks and never Ink or React; the console loads the same files
// plus console.js, whose core imports are those very chunks (one session, one tracer). A few files load in a fraction
// of the time ~70 modules (and Ink's ~540) take one by one. Run by `npm run build` after tsc. Optional: without
// esbuild, bin.js runs dist/src/cli/main.js and the console imports dist/src/ui/start.js as they are.
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

await esbuild.build({
  entryPoints: entries,
  outdir,
  bundle: true,
  splitting: true,
  chunkNames: 'core-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // React's production build: half the size, and no development checks on every render.
  define: { 'process.env.NODE_ENV': '"production"' },
  // The disassembler and the encoder are WebAssembly packages loaded on first use, with files of their own.
  external: ['capstone-wasm', 'iced-x86'],
  // CommonJS parts (cli-table3, React) may require Node's built-in modules: every file gets a require of its own.
  banner: { js: "import { createRequire as __hotpatchCreateRequire } from 'node:module';\nconst require = __hotpatchCreateRequire(import.meta.url);" },
  plugins: [stubDevtools],
  logLevel: 'warning',
});
