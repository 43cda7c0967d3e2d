// Bundles the console (dist/src/ui/start.js with Ink and React) into one file: importing Ink's ~540 modules one by
// one took most of the console's start-up, one file loads in a fraction of that. Run by `npm run build` after tsc.
// Optional: without esbuild the console imports start.js as it is (slower to start, the same console).
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const uiDir = join(root, 'dist', 'src', 'ui');
const entry = join(uiDir, 'start.js');
const outfile = join(uiDir, 'start.bundle.js');

rmSync(outfile, { force: true });
if (!existsSync(entry)) {
  process.stderr.write(`${entry} is missing: run tsc first\n`);
  process.exit(1);
}
let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stdout.write('esbuild is not installed: the console will load its modules unbundled (slower start)\n');
  process.exit(0);
}

/** The core (session, commands, cli) stays outside the bundle: the console must share the instances main.js loaded. */
const coreOutside = {
  name: 'hotpatch-core-outside',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (!args.importer.startsWith(uiDir + sep)) return undefined;
      const target = resolve(args.resolveDir, args.path);
      if (target.startsWith(uiDir + sep)) return undefined;
      const fromBundle = relative(dirname(outfile), target);
      return { path: fromBundle.startsWith('.') ? fromBundle : `./${fromBundle}`, external: true };
    });
    // Ink imports React's devtools only when DEV=true; the package is not installed, so that import gets an empty stub.
    build.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export default {};', loader: 'js' }));
  },
};

await esbuild.build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // React's production build: half the size, and no development checks on every render.
  define: { 'process.env.NODE_ENV': '"production"' },
  // CommonJS parts of the bundle (React) may require Node's built-in modules.
  banner: { js: "import { createRequire as __hotpatchCreateRequire } from 'node:module';\nconst require = __hotpatchCreateRequire(import.meta.url);" },
  plugins: [coreOutside],
  logLevel: 'warning',
});
