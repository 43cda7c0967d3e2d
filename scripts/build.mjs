// npm run build (and npm start, npm test): compile, bundle, build the C fixtures, link the bin, each step only when
// its inputs changed since it last ran, so a second `npm start` goes straight to the demo.
//   node scripts/build.mjs           what is out of date
//   node scripts/build.mjs --force   everything
// tsc runs when a TypeScript source (src, commands, test, bench), tsconfig.json or package.json is newer than its last
// successful run (dist/.tsc-stamp), and then incrementally (dist/.tsbuildinfo); the bundle when a compiled module or
// scripts/bundle.mjs is newer than it; the native addon when a file of native/ or binding.gyp is newer than it (a
// merge that changes the tracer must not leave the old addon in place); the fixtures script checks each of its
// outputs itself.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const dist = join(root, 'dist');
const tscStamp = join(dist, '.tsc-stamp');
const started = Date.now();
const done = [];

/** The newest modification time of the files under `dir` whose name passes `keep` (0 when there are none). */
function newest(dir, keep) {
  let latest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) latest = Math.max(latest, newest(path, keep));
    else if (keep(e.name)) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : 0);
const run = (args) => execFileSync(process.execPath, args, { cwd: root, stdio: 'inherit' });

// 1. TypeScript → dist/. The stamp gets the time tsc started: a file saved while it ran is seen as newer next time.
const sources = Math.max(
  ...['src', 'commands', 'test', 'bench'].map((d) => newest(join(root, d), (n) => /\.c?tsx?$/.test(n))),
  mtime(join(root, 'tsconfig.json')),
  mtime(join(root, 'package.json')),
);
if (force || sources >= mtime(tscStamp)) {
  const t0 = Date.now();
  try {
    run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--incremental', '--tsBuildInfoFile', join(dist, '.tsbuildinfo')]);
  } catch {
    process.exit(1);
  }
  writeFileSync(tscStamp, '');
  utimesSync(tscStamp, t0 / 1000, t0 / 1000);
  done.push(`tsc ${Date.now() - t0} ms`);
}

// 2. The bundles (scripts/bundle.mjs), from the compiled modules of the CLI and the console.
const compiled = Math.max(
  newest(join(dist, 'src'), (n) => n.endsWith('.js')),
  newest(join(dist, 'commands'), (n) => n.endsWith('.js')),
  mtime(join(root, 'scripts', 'bundle.mjs')),
);
const bundles = ['batch.cjs', 'main.js', 'console.js'].map((f) => mtime(join(dist, 'bundle', f)));
if (force || bundles.some((t) => t === 0 || t < compiled)) {
  const t0 = Date.now();
  run([join(root, 'scripts', 'bundle.mjs')]);
  done.push(`bundle ${Date.now() - t0} ms`);
}

// 3. The native addon (npm install builds it first; this rebuilds it when its sources changed since).
const addon = join(root, 'build', 'Release', 'hotpatch_native.node');
const nativeSources = Math.max(newest(join(root, 'native'), (n) => /\.(cc|h)$/.test(n)), mtime(join(root, 'binding.gyp')));
if (force || nativeSources > mtime(addon)) {
  const t0 = Date.now();
  try {
    run([join(root, 'scripts', 'build-native.mjs')]);
  } catch {
    process.exit(1);
  }
  done.push(`native ${Date.now() - t0} ms`);
}

// 4. The C fixtures (each output checked against its sources by the script), 5. node_modules/.bin/hotpatch.
run([join(root, 'scripts', 'build-fixtures.mjs')]);
run([join(root, 'scripts', 'link-bin.mjs')]);

console.log(`build: ${done.length ? done.join(', ') : 'compiled code and bundles up to date'} (${Date.now() - started} ms in all)`);
