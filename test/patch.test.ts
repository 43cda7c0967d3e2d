// Issue 14: `patch FUNC --from FILE.c` on live fixtures: compile, bind (statics of the function's own file first),
// load, redirect in one command; compiler errors and a missing compiler leave the target as it was; revert takes the
// fix out again, down to the memory map the process had.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, parseFields, status, type Fixture } from './helpers/fixtures.js';
import { runCli, runCliJson, type JsonOutcome } from './helpers/cli.js';
import { declarationsFor, definedIn, insertionPoint } from '../src/patch/origdecl.js';

after(killAllFixtures);

const work = mkdtempSync(join(tmpdir(), 'hp-patch-'));
after(() => rmSync(work, { recursive: true, force: true }));
const state = join(work, 'state');

/** The commands in one batch, with the fixes' state under the test's own directory (and `env` added). */
const hp = (f: Fixture, cmds: string[], env: Record<string, string> = {}) =>
  runCliJson<JsonOutcome>(['-p', String(f.pid), '--json', ...cmds.flatMap((c) => ['-e', c])], { timeoutMs: 60000, env: { XDG_STATE_HOME: state, ...env } });

function fix(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

const maps = (pid: number) => readFileSync(`/proc/${pid}/maps`, 'utf8');

async function nextLine(f: Fixture, re: RegExp): Promise<Record<string, number>> {
  return parseFields(await f.waitForLine(re, 3000, f.lines.length));
}

for (const method of ['dlopen', 'map'] as const) {
  test(`${method}: a fix of a static calls another static and writes a static global of its own file; revert restores the map`, async () => {
    const f = await startFixture('shapes');
    await f.waitForLine(/^step=/);
    const before = maps(f.pid);
    // Plain C: no weak, no hp_orig_ declared. level and step exist in shapes.c and shapes_b.c; scale in shapes.c only.
    const src = fix(`static_${method}.c`, 'extern int level;\nint scale(int);\nint step(int x) { level = 40; return scale(x) + 1000; }\n');
    const r = await hp(f, [`patch shapes.c:step --from ${src} --method ${method}`, 'patches']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = r.json[0].result;
    const bound = Object.fromEntries(out.bindings.map((b: any) => [b.name, b]));
    assert.equal(bound.level.to, 'shapes.c:level', 'the static of the function\'s own file, not shapes_b.c\'s');
    assert.equal(bound.level.by, 'hotpatch');
    assert.equal(bound.scale.rule, 'static of shapes.c');
    assert.match(out.hash, /^[0-9a-f]{12}$/);
    assert.equal(out.hash, execFileSync('sha256sum', [src], { encoding: 'utf8' }).slice(0, 12));
    assert.ok(out.compile[0].includes('-O2') && out.compile[0].includes('-g') && out.compile.at(-1).includes('-shared'), out.compile.join('\n'));
    // One command, one pause report: every stop of the load and the redirect counted.
    const pause = r.json[0].pause as { micros: number; stops?: number };
    assert.ok(pause.micros > 0 && (pause.stops ?? 1) >= 2, JSON.stringify(pause));
    const listed = r.json[1].result.find((p: any) => p.id === out.patch.id);
    assert.equal(listed.fix.source, src);
    assert.equal(listed.fix.hash, out.hash);
    const line = await nextLine(f, /^step=/);
    assert.equal(line.step, 3 * 2 + 1000);
    assert.equal(line.other, 3 * 10 + 100, 'shapes_b.c:step and its level untouched');
    // printf may read level before it calls step: the line of the fix's first call can still show the old level.
    assert.equal((await nextLine(f, /^step=/)).level, 40, 'shapes.c:level written by the fix');

    const back = await hp(f, ['revert shapes.c:step', 'libs', 'cleanup']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.deepEqual(back.json[0].result.unloaded, [out.library]);
    assert.ok(!existsSync(out.library), 'the compiled library is removed');
    assert.deepEqual(back.json[1].result, []);
    assert.equal((await nextLine(f, /^step=/)).step, 3 * 2 + 40, 'the original again (level stays 40)');
    assert.equal(maps(f.pid), before, 'the memory map as before');
    assert.equal(status(f.pid).tracerPid, 0);
    await f.stop();
  });
}

test('two statics of one name: a fix of shapes_b.c:step binds shapes_b.c:level', async () => {
  const f = await startFixture('shapes');
  const src = fix('b_step.c', 'extern int level;\nint step(int x) { return level + x + 4; }\n');
  const r = await hp(f, [`patch shapes_b.c:step --from ${src}`]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json[0].result.bindings.find((b: any) => b.name === 'level').to, 'shapes_b.c:level');
  const line = await nextLine(f, /^step=/);
  assert.equal(line.other, 100 + 3 + 4);
  assert.equal(line.step, 7, 'shapes.c:step untouched');
  assert.equal((await hp(f, ['revert all', 'cleanup'])).code, 0);
  await f.stop();
});

test('a fix with the original\'s name: calls inside the fix stay inside it, hp_orig_ (undeclared) runs the original', async () => {
  const f = await startFixture('counter', ['5']);
  // compute is exported by counter (-rdynamic): without -Bsymbolic the fix's own call to compute would go through the
  // program's definition and its jump.
  const src = fix('compute.c', 'int compute(int x) { return hp_orig_compute(x) + 1000; }\nint compute_twice(int x) { return compute(x) * 2; }\n');
  const r = await hp(f, [`patch compute --from ${src}`, 'call compute_twice 3', 'call compute 3']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lib = r.json[0].result.library as string;
  const relocs = execFileSync('readelf', ['-rW', lib], { encoding: 'utf8' });
  assert.doesNotMatch(relocs, /\bcompute\b/, 'no relocation leads the fix\'s call to compute out of the library');
  assert.equal(r.json[1].result.int, (3 * 2 + 1000) * 2);
  assert.equal(r.json[2].result.int, 3 * 2 + 1000, 'the program\'s compute runs the fix, which runs the original once');
  assert.equal((await nextLine(f, /^count=/)).compute, 1006);
  assert.equal((await hp(f, ['revert compute', 'cleanup'])).code, 0);
  assert.equal((await nextLine(f, /^count=/)).compute, 6);
  await f.stop();
});

test('a compiler error: one line naming file:line, the whole output kept, nothing loaded', async () => {
  const f = await startFixture('shapes');
  const before = maps(f.pid);
  const src = fix('broken.c', 'int step(int x) {\n\treturn x +;\n}\n');
  const r = await hp(f, [`patch shapes.c:step --from ${src}`]);
  assert.equal(r.code, 1);
  const e = r.json[0].error!;
  assert.equal(e.code, 'E_COMPILE');
  assert.match(e.message, /broken\.c:2:\d+: error: /);
  assert.ok(!e.message.includes('\n'));
  const log = /whole output: (\S+)\)/.exec(e.hint ?? '')?.[1];
  assert.ok(log && readFileSync(log, 'utf8').includes('error:'), e.hint);
  assert.equal(maps(f.pid), before, 'the target untouched');
  await f.stop();
});

test('no compiler: CC naming nothing, or no cc on the PATH, is one line saying how to get one', async () => {
  const f = await startFixture('shapes');
  const before = maps(f.pid);
  const src = fix('fine.c', 'int step(int x) { return x; }\n');
  const envs: Record<string, string>[] = [{ CC: '/nonexistent/cc' }, { CC: '', PATH: '/nonexistent' }];
  for (const env of envs) {
    const r = await hp(f, [`patch shapes.c:step --from ${src}`], env);
    assert.equal(r.code, 1);
    const e = r.json[0].error!;
    assert.equal(e.code, 'E_NO_COMPILER', JSON.stringify(e));
    assert.match(e.message, env.PATH ? /cc was not found on the PATH/ : /\/nonexistent\/cc was not found/);
    assert.match(e.hint!, /apt-get install gcc.*set CC/);
  }
  assert.equal(maps(f.pid), before);
  await f.stop();
});

test('an ambiguous reference lists the --bind spellings; --bind picks one', async () => {
  const f = await startFixture('statics');
  const src = fix('amb.c', 'extern int counter;\nint a_step(void) { return counter + 1000; }\n');
  // a_step's own file is statics_a.c: its counter is chosen.
  const own = await hp(f, [`patch a_step --from ${src}`, 'revert a_step']);
  assert.equal(own.code, 0, own.stdout + own.stderr);
  assert.equal(own.json[0].result.bindings[0].to, 'statics_a.c:counter');
  // main's file (statics_main.c) has no counter: two candidates.
  const amb = await hp(f, [`patch main --from ${fix('amb_main.c', 'extern int counter;\nint main(void) { return counter; }\n')}`]);
  assert.equal(amb.json[0].error?.code, 'E_AMBIGUOUS_SYMBOL');
  assert.match(amb.json[0].error!.hint!, /--bind counter=statics_(a|b)\.c:counter/);
  const picked = await hp(f, [`patch a_step --from ${src} --bind counter=statics_b.c:counter`, 'revert a_step']);
  assert.equal(picked.code, 0, picked.stdout + picked.stderr);
  assert.deepEqual(picked.json[0].result.bindings.map((b: any) => [b.to, b.rule]), [['statics_b.c:counter', '--bind']]);
  assert.equal((await hp(f, ['cleanup'])).code, 0);
  await f.stop();
});

test('template: patch FUNC writes a C file with the prototype, hp_orig_ and the current code; it applies as written', async () => {
  const f = await startFixture('shapes');
  const r = await hp(f, ['patch shapes.c:step']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const path = r.json[0].result.template as string;
  assert.equal(path, join(state, 'hotpatch', 'fixes', 'shapes-shapes.c-step.c'));
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^int \(\*hp_orig_step\)\(int x\);$/m);
  assert.match(text, /^int step\(int x\)$/m);
  assert.match(text, /shapes\.c:step .*\n(.*\n)* \*\s+step\+0x\d+\s+/, 'the current code as a comment');
  const again = await hp(f, ['patch shapes.c:step', `patch shapes.c:step --from ${path}`]);
  assert.equal(again.json[0].result.existed, true, 'a template being edited is kept');
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal((await nextLine(f, /^step=/)).step, 7, 'the template calls the original');
  // No debug info for it: the prototype the user gives, said so.
  const area = await hp(f, ["patch area --proto 'int (int)'"]);
  assert.match(readFileSync(area.json[0].result.template, 'utf8'), /given with --proto 'int \(int\)'/);
  assert.equal((await hp(f, ['revert all', 'cleanup'])).code, 0);
  await f.stop();
});

test('explain on: the compile command, the binding table with each rule, and every stage of load and redirect', async () => {
  const f = await startFixture('counter', ['5']);
  // count: a static of counter.c; g_value: a global the program exports; getpid: libc's.
  const src = fix('explained.c', '#include <unistd.h>\nextern int count;\nextern int g_value;\nint tick(int x) { g_value = getpid() > 0 && count >= 0; return x + 1; }\n');
  const r = await hp(f, [`patch tick --from ${src}`, 'revert tick']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rules = Object.fromEntries(r.json[0].result.bindings.map((b: any) => [b.name, [b.by, b.rule]]));
  assert.deepEqual(rules.count, ['hotpatch', 'static of counter.c']);
  assert.equal(rules.g_value[1], 'global of the program');
  assert.match(rules.getpid[1], /^library libc\.so/);
  // As the console shows it with explain on: the steps, one `  · ` line each.
  const plain = await runCli(['-p', String(f.pid), '-e', 'explain on', '-e', `patch tick --from ${src}`], { timeoutMs: 60000, env: { XDG_STATE_HOME: state } });
  assert.equal(plain.code, 0, plain.stdout + plain.stderr);
  const steps = plain.stdout.split('\n').filter((l) => l.startsWith('  · ')).map((l) => l.slice(4));
  const step = (re: RegExp) => steps.find((l) => re.test(l));
  assert.ok(step(new RegExp(`^Compiled ${src} .*\`cc -fPIC -O2 -g -c ${src} -o \\S+\\.o\``)), steps.join('\n'));
  assert.ok(step(/^Made count weak in the object/), 'the objcopy stage');
  assert.ok(step(/^Linked it into \S+\.so with `cc -shared/), 'the link stage');
  const table = step(/^The binding table/);
  assert.ok(table, steps.join('\n'));
  assert.match(table!, /count -> \S*count .*\(hotpatch: static of counter\.c\)/);
  assert.match(table!, /g_value -> \S*g_value .*\(ld\.so: global of the program\)/);
  assert.match(table!, /getpid -> \S*getpid .*\(ld\.so: library libc\.so\.6\)/);
  // The load's and the redirect's own stages follow (dlopen in the target, then the jump).
  assert.ok(steps.findIndex((l) => /^Called dlopen\(/.test(l)) > steps.indexOf(step(/^Linked/)!), 'the load stages after the link');
  assert.ok(steps.findIndex((l) => /the jump needs|Copied its first/.test(l)) > steps.indexOf(table!), 'the redirect stages after the table');
  assert.ok((await nextLine(f, /^count=/)).value === 1, 'the fix ran: g_value written');
  assert.equal((await hp(f, ['revert tick', 'cleanup'])).code, 0);
  await f.stop();
});

test('hp_orig_ undeclared, its prototype\'s types defined by the fix itself: declared where it compiles, errors on the fix\'s own lines', async () => {
  // Pure parts first: what a text defines, which declarations stay, where they go.
  assert.deepEqual([...definedIn('/* struct no { */\n#include <x.h>\nstruct point { int x; };\ntypedef struct { int a; } pair_t, *pair_p;\ntypedef int (*binop)(int, int);\nenum color { RED };\nstruct fwd;\n')].sort(),
    ['binop', 'enum color', 'pair_p', 'pair_t', 'struct point']);
  assert.deepEqual(declarationsFor(['struct point;', 'struct point {\n\tint x;\n};', 'typedef struct point point_t;', 'struct shape {\n\tpoint_t p;\n};'], new Set(['struct point', 'point_t'])),
    ['struct point;', 'struct shape {\n\tpoint_t p;\n};']);
  const text = '#include <stdio.h>\nstruct s { int a; };\nint f(int x)\n{\n\treturn hp_orig_f(x);\n}\n';
  // Right after the struct before f: f's definition is the first to use it.
  assert.equal(insertionPoint(text, 'hp_orig_f'), text.indexOf('\nint f'));
  assert.equal(insertionPoint('/* hp_orig_f */ int g;\n', 'hp_orig_f'), undefined);

  const f = await startFixture('shapes');
  const before = maps(f.pid);
  // describe(struct shape *const, …): its prototype needs struct shape, whose corners are struct point. The fix
  // defines struct point and point_t itself (as a fix copied from the program's header would), and includes stdio.h.
  const body = [
    '#include <stdio.h>',
    'struct point { int x, y; };',
    'typedef struct point point_t;',
    'struct shape;',
    'const char *describe(struct shape *const s, unsigned long n, volatile int *counter, double (*matrix)[3])',
    '{',
    '\tpoint_t p = { 1, 2 };',
    '\treturn p.x ? hp_orig_describe(s, n, counter, matrix) : 0;',
    '}',
  ];
  const src = fix('own_types.c', body.join('\n') + '\n');
  const r = await hp(f, [`patch describe --from ${src}`, 'revert describe', 'cleanup']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(r.json[0].result.compile[0].includes('-iquote'), 'a copy compiled, the fix\'s directory searched for its "includes"');
  // A mistake after the inserted declarations: still reported on the fix's own file and line.
  const broken = fix('own_types_broken.c', [...body.slice(0, 7), '\treturn p.z ? hp_orig_describe(s, n, counter, matrix) : 0;', '}'].join('\n') + '\n');
  const e = await hp(f, [`patch describe --from ${broken}`]);
  assert.equal(e.json[0].error?.code, 'E_COMPILE');
  assert.match(e.json[0].error!.message, new RegExp(`${broken.replace(/[.]/g, '\\.')}:8:\\d+: error: .*z`));
  assert.equal(maps(f.pid), before, 'the memory map as before');
  await f.stop();
});
