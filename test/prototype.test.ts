// Issue 14: a function's prototype from the DWARF (src/dwarf/prototype.ts), checked against gdb's ptype on the fixtures,
// and the declarations it brings compiled by gcc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openElf } from '../src/elf/reader.js';
import { openDwarf } from '../src/dwarf/index.js';
import { parseProto } from '../src/patch/fix.js';
import { HotpatchError } from '../src/errors.js';
import { fixturePath } from './helpers/fixtures.js';

const hasGdb = spawnSync('gdb', ['--version']).status === 0;

/** Whitespace collapsed and none around `*`, `(`, `)`, `[`, `,`, `;`: what gdb and we may lay out differently. */
const norm = (s: string) => s.replace(/\s+/g, ' ').replace(/\s*([*()[\],;{}])\s*/g, '$1').trim();

/** gdb's `ptype` of each expression, one answer each (the text after `type = `). */
function ptype(binary: string, exprs: string[]): string[] {
  const out = execFileSync('gdb', ['-batch', '-nx', ...exprs.flatMap((e) => ['-ex', `ptype ${e}`]), binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split(/^type = /m).slice(1).map((t) => t.trim());
}

test('prototypes of shapes: the same types as gdb ptype, statics told apart by file', { skip: !hasGdb && 'gdb is not installed' }, () => {
  const binary = fixturePath('shapes');
  const dwarf = openDwarf(openElf(binary));
  const cases: [string, string | undefined, string][] = [
    ['area', undefined, 'area'],
    ['describe', undefined, 'describe'],
    ['apply', undefined, 'apply'],
    ['scale', 'shapes.c', "'shapes.c'::scale"],
    ['step', 'shapes.c', "'shapes.c'::step"],
    ['step', 'shapes_b.c', "'shapes_b.c'::step"],
    ['other_step', undefined, 'other_step'],
    ['main', undefined, 'main'],
  ];
  const theirs = ptype(binary, cases.map((c) => c[2]));
  cases.forEach(([name, file], i) => {
    const found = dwarf.prototypes(name, file);
    assert.equal(found.length, 1, `${file ?? ''}:${name}: one function`);
    assert.equal(norm(found[0].signature), norm(theirs[i]!), `${name}: ours ${found[0].signature}, gdb ${theirs[i]}`);
  });
  // Two statics named step: without a file, both; with one, that file's.
  assert.deepEqual(dwarf.prototypes('step').map((p) => p.unit!.replace(/.*\//, '')).sort(), ['shapes.c', 'shapes_b.c']);
  assert.equal(dwarf.prototypes('step', 'shapes_b.c')[0].external, false);
  assert.equal(dwarf.prototypes('area')[0].external, true);
  assert.deepEqual(dwarf.prototypes('nothing_like_this'), []);

  // Every definition a prototype brings is gdb's ptype of that type.
  const apply = dwarf.prototypes('apply')[0];
  const defs = apply.declarations.filter((d) => d.includes('{'));
  assert.deepEqual(defs.map((d) => d.slice(0, d.indexOf(' {'))).sort(), ['enum color', 'struct point', 'struct shape']);
  const gdbDefs = ptype(binary, defs.map((d) => d.slice(0, d.indexOf(' {'))));
  defs.forEach((d, i) => assert.equal(norm(d.replace(/;$/, '')), norm(gdbDefs[i]!), `${d}\ngdb: ${gdbDefs[i]}`));
  assert.ok(apply.declarations.includes('struct node;'), 'a struct reached only through a pointer is declared, not defined');
  assert.ok(apply.declarations.includes('typedef int (*binop)(int, int);'));
  // What area needs: struct shape only through a pointer (incomplete), point_t and pair_t's anonymous struct whole.
  const area = dwarf.prototypes('area')[0];
  assert.ok(area.declarations.includes('struct shape;'), area.declarations.join('\n'));
  assert.ok(!area.declarations.some((d) => d.startsWith('struct shape {')));
  assert.match(area.declarations.join('\n'), /typedef struct \{\n {4}int a;\n {4}long b;\n\} pair_t;/);
  assert.equal(area.declare('area'), 'int area(const struct shape *s, point_t origin, enum color c, binop f, char (*names)[8], pair_t *p, ...)');
  assert.equal(area.parameters.map((p) => p.name).join(','), 's,origin,c,f,names,p');
  assert.equal(apply.declare('hp_orig_apply', true), 'void (*(*hp_orig_apply)(struct shape s, int (*pick)(struct point *)))(int)');
});

test('prototypes compile: the declarations and a definition with the same prototype pass gcc -Wall -Werror', () => {
  const dwarf = openDwarf(openElf(fixturePath('shapes')));
  const dir = mkdtempSync(join(tmpdir(), 'hp-proto-'));
  try {
    for (const name of ['area', 'describe', 'apply', 'main', 'other_step']) {
      const p = dwarf.prototypes(name)[0];
      const src = `${p.declarations.join('\n')}\n${p.declare(`hp_orig_${p.name}`, true)};\n${p.declare(`fix_${p.name}`)};\n`;
      writeFileSync(join(dir, `${name}.c`), src);
      const r = spawnSync('gcc', ['-fsyntax-only', '-Wall', '-Werror', '-Wno-unused', join(dir, `${name}.c`)], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${name}:\n${src}\n${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prototypes: counter (base types only) and a file without debug info', () => {
  const dwarf = openDwarf(openElf(fixturePath('counter')));
  const wide = dwarf.prototypes('wide_value')[0];
  assert.equal(wide.signature, 'long long (long long)');
  assert.deepEqual(wide.declarations, []);
  assert.equal(dwarf.prototypes('greeting')[0].declare('greeting'), 'const char *greeting(void)');
  assert.deepEqual(openDwarf(openElf('/bin/true'), { debugFile: null }).prototypes('main'), []);
});

test('--proto: plain types, a function returning a pointer to a function or an array; what it cannot read is one E_USAGE line', () => {
  const cases: [string, string, string, number][] = [
    // text, the declaration of the pointer, the return type, parameters
    ['int (int)', 'int (*hp_orig_f)(int)', 'int', 1],
    ['int (char *, int[4])', 'int (*hp_orig_f)(char *, int[4])', 'int', 2],
    ['const char *(struct shape *, int)', 'const char *(*hp_orig_f)(struct shape *, int)', 'const char *', 2],
    ['void (void)', 'void (*hp_orig_f)(void)', 'void', 0],
    ['int (int (*)(int, int), ...)', 'int (*hp_orig_f)(int (*)(int, int), ...)', 'int', 1],
    // As gdb's ptype prints shapes' apply: returns void (*)(int).
    ['void (*(struct shape, int (*)(struct point *)))(int)', 'void (*(*hp_orig_f)(struct shape, int (*)(struct point *)))(int)', 'void (*)(int)', 2],
    ['int (*(void))[3]', 'int (*(*hp_orig_f)(void))[3]', 'int (*)[3]', 0],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'hp-proto-'));
  try {
    const lines = ['struct shape; struct point;'];
    for (const [i, [text, pointer, ret, n]] of cases.entries()) {
      const p = parseProto(text, 'f');
      assert.equal(p.declare('hp_orig_f', true), pointer, text);
      assert.equal(p.returnType, ret, text);
      assert.equal(p.parameters.length, n, text);
      // Both declarations are C a compiler accepts, and agree: the pointer can hold the function.
      lines.push(`${p.declare(`f${i}`, false)};`, `${p.declare(`hp_orig_f${i}`, true)} = f${i};`);
      assert.equal(p.parameters.every((q, k) => q.name === `arg${k}`), true, 'parameters named for the template');
    }
    writeFileSync(join(dir, 'protos.c'), lines.join('\n') + '\n');
    const cc = spawnSync('cc', ['-fsyntax-only', '-Werror', join(dir, 'protos.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(parseProto('void (*(int (*)(int), char *, ...))(int)', 'f').declare('f', false), 'void (*f(int (*arg0)(int), char *arg1, ...))(int)');
  for (const bad of ['int', 'int (int', '(int)', 'int (*)(int)', 'int (*(*)(int))(int)', 'int ]']) {
    assert.throws(() => parseProto(bad, 'f'), (e: unknown) => e instanceof HotpatchError && e.code === 'E_USAGE' && !e.message.includes('\n') && /is not a function type hotpatch can read: /.test(e.message), bad);
  }
});
