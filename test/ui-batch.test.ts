// Batch mode never loads Ink or React: checked on the compiled import graph, and at run time with a resolve hook.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startFixture, killAllFixtures, repoRoot } from './helpers/fixtures.js';
import { cliPath } from './helpers/cli.js';

const UI_PACKAGES = /^(ink|react|react-dom|react-reconciler|ink-[\w-]+)(\/|$)/;
const scratch = mkdtempSync(join(tmpdir(), 'hotpatch-batch-'));

after(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await killAllFixtures();
});

/**
 * Every specifier reachable through static imports, re-exports and require() calls from `entry` (the batch bundle is
 * CommonJS; dynamic import() is not followed).
 */
function staticImports(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    const imports = [...source.matchAll(/^\s*(?:import|export)\s+(?:[^'"`;]*?\s+from\s+)?['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
    const requires = [...source.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
    for (const spec of [...imports, ...requires]) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

const cliDir = join(repoRoot, 'dist', 'src', 'cli');

test('the static import graph of the CLI (and of its batch bundle, when built) holds no Ink or React', () => {
  const { files, packages } = staticImports(join(cliDir, 'main.js'));
  assert.ok(files.size > 10, `the walk followed the imports (${files.size} files)`);
  const ui = [...packages].filter((p) => UI_PACKAGES.test(p));
  assert.deepEqual(ui, [], 'no UI package is imported statically');
  assert.ok(![...files].some((f) => f.includes('/src/ui/')), 'no src/ui module is imported statically');
  // The walk does see Ink where it is imported, so the empty answer above means something.
  const uiEntry = join(repoRoot, 'dist', 'src', 'ui', 'start.js');
  assert.ok(existsSync(uiEntry), 'the UI is built');
  assert.ok(staticImports(uiEntry).packages.has('ink'));

  // The bundles, if the build made them (scripts/bundle.mjs): the batch file and the CLI entry of the split bundle,
  // with every chunk it imports statically, import no UI package and hold none inside; the console's own entry does.
  const bundleDir = join(repoRoot, 'dist', 'bundle');
  if (existsSync(join(bundleDir, 'main.js'))) {
    const bundled = staticImports(join(bundleDir, 'main.js'));
    assert.ok(bundled.files.size >= 2, `the walk followed the bundle's chunks (${bundled.files.size} files)`);
    const batch = staticImports(join(bundleDir, 'batch.cjs'));
    assert.ok(batch.packages.has('node:fs'), 'the walk sees the CommonJS bundle\'s requires');
    for (const walked of [bundled, batch]) {
      assert.deepEqual([...walked.packages].filter((p) => UI_PACKAGES.test(p)), [], 'the bundled CLI imports no UI package');
      for (const f of walked.files) {
        assert.doesNotMatch(readFileSync(f, 'utf8'), /node_modules\/(ink|react|react-reconciler)\//, `${f} holds no Ink or React`);
      }
    }
    assert.match(readFileSync(join(bundleDir, 'console.js'), 'utf8'), /node_modules\/ink\//, 'the console entry holds Ink (the check can fail)');
  }
});

/** A module for --import that makes resolving any UI package throw, so loading one fails loudly. */
function forbidUiPackages(): string {
  const hooks = `export async function resolve(specifier, context, next) {
    if (${UI_PACKAGES}.test(specifier)) throw new Error('UI package loaded: ' + specifier);
    return next(specifier, context);
  }`;
  const register = join(scratch, 'forbid-ui.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify('data:text/javascript,' + encodeURIComponent(hooks))});\n`);
  return pathToFileURL(register).href;
}

test('batch runs, with and without a target, work with Ink and React made unloadable', async () => {
  const hook = forbidUiPackages();
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', hook, cliPath, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });

  // The hook really does stop Ink: importing the UI entry fails with it.
  const uiEntry = pathToFileURL(join(repoRoot, 'dist', 'src', 'ui', 'start.js')).href;
  const probe = spawnSync(process.execPath, ['--import', hook, '--input-type=module', '-e', `await import(${JSON.stringify(uiEntry)})`], { encoding: 'utf8' });
  assert.notEqual(probe.status, 0);
  assert.match(probe.stderr, /UI package loaded: ink|UI package loaded: react/);

  const plain = run(['-e', 'help', '-e', 'explain on']);
  assert.equal(plain.status, 0, plain.stderr);
  assert.match(plain.stdout, /Attach: take hold/);
  // The tour patches the demo: without it, one error line that says how to start it.
  const noDemo = run(['-e', 'tour']);
  assert.equal(noDemo.status, 1, noDemo.stderr);
  assert.match(noDemo.stdout + noDemo.stderr, /the tour patches the demo target; no process attached/);
  const demo = await startFixture('demo');
  const toured = run(['-p', String(demo.pid), '-e', 'tour']);
  assert.equal(toured.status, 0, toured.stderr + toured.stdout);
  assert.match(toured.stdout, /Tour 1\/8/);

  const f = await startFixture('counter');
  const attached = run(['-p', String(f.pid), '-e', 'syms tick', '-e', 'disasm tick', '-e', 'peek g_scale --as u32']);
  assert.equal(attached.status, 0, attached.stderr + attached.stdout);
  assert.match(attached.stdout, /counter\.c/);
  assert.doesNotMatch(attached.stderr, /UI package loaded/);
});
