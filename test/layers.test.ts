// The layers of the code (docs/architecture.md) hold: no module imports from a layer above its own, and the ELF
// reader stays free of instruction-set knowledge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from './helpers/fixtures.js';

/** Lowest first; a file may import from its own layer and those below. */
export const LAYERS: [string, RegExp][] = [
  ['base (errors and the table of codes, hex, paths, slices, sorted, words, lazy built-ins)', /^src\/((builtins|errors|hex|paths|slices|sorted|words)\.ts$|errors\/)/],
  ['native, elf, arch, dwarf', /^src\/(native\.ts|elf\/|arch\/|dwarf\/)/],
  ['process', /^src\/process\//],
  ['symbols', /^src\/symbols\//],
  ['patch', /^src\/patch\//],
  ['session, command, result', /^src\/(session|command|result)\.ts$/],
  ['commands', /^commands\//],
  ['cli, ui', /^src\/(cli|ui)\//],
];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name)) out.push(path);
  }
  return out;
}

function layerOf(rel: string): number {
  return LAYERS.findIndex(([, re]) => re.test(rel));
}

/** Every relative import or re-export of a file (type-only ones too: they tie the layers just the same). */
function importsOf(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) {
    const bare = resolve(dirname(path), m[1]!).replace(/\.js$/, '');
    const file = [`${bare}.ts`, `${bare}.tsx`].find((f) => existsSync(f));
    if (file) found.push(relative(repoRoot, file));
  }
  return found;
}

test('layers: every file of src/ and commands/ belongs to a layer, and imports only from its own or lower ones', () => {
  const files = [...sourceFiles(join(repoRoot, 'src')), ...sourceFiles(join(repoRoot, 'commands'))].map((f) => relative(repoRoot, f));
  assert.ok(files.length > 100, `found ${files.length} files`);
  const unplaced = files.filter((f) => layerOf(f) < 0);
  assert.deepEqual(unplaced, [], 'files in no layer: add them to LAYERS and docs/architecture.md');
  const upward: string[] = [];
  for (const f of files) {
    for (const imported of importsOf(join(repoRoot, f))) {
      if (layerOf(imported) > layerOf(f)) upward.push(`${f} (${LAYERS[layerOf(f)]![0]}) imports ${imported} (${LAYERS[layerOf(imported)]![0]})`);
      if (f.startsWith('src/elf/') && imported.startsWith('src/arch/')) upward.push(`${f} imports ${imported}: the ELF reader knows no instruction set`);
    }
  }
  assert.deepEqual(upward, []);
});

test('layers: the check finds an upward import when there is one', () => {
  // The same rule on a made-up pair, so a broken regexp cannot make the test above pass by finding nothing.
  assert.ok(layerOf('src/patch/loader.ts') < layerOf('src/session.ts'));
  assert.ok(importsOf(join(repoRoot, 'src', 'session.ts')).includes('src/patch/record.ts'), 'imports are read');
});
