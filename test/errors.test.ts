// The table of error codes: every code thrown is in it, every entry means something, docs/errors.md is its rendering,
// and codes from outside (native, Node) arrive as codes of the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERRORS, ERROR_GROUPS, errorInfo, type ErrorCode } from '../src/errors/table.js';
import { errorsMarkdown } from '../src/errors/doc.js';
import { HotpatchError, processGone, toHotpatchError } from '../src/errors.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function filesUnder(dir: string, ends: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), ends) : ends.test(e.name) ? [join(dir, e.name)] : []);
}

/** Where a code is written as a literal: thrown, or compared with an error's code. */
const CODE_USES: [RegExp, RegExp][] = [
  [/\.tsx?$/, /new HotpatchError\(\s*(['"`])([^'"`]*)\1/g],
  [/\.tsx?$/, /\.code\s*[!=]==?\s*(['"`])(E[A-Z0-9_]*)\1/g],
  [/\.(cc|h)$/, /failWith\(\s*(")([^"]*)"/g],
  [/\.(cc|h)$/, /Fault(?:\s+\w+)?\s*[{(]\s*(")([^"]*)"/g],
];

/** Every code literal in the sources, with where it stands. */
function codeLiterals(dirs: string[]): { code: string; at: string }[] {
  const found: { code: string; at: string }[] = [];
  for (const dir of dirs) {
    for (const file of filesUnder(join(root, dir), /\.(tsx?|cc|h)$/)) {
      const text = readFileSync(file, 'utf8');
      for (const [ends, pattern] of CODE_USES) {
        if (!ends.test(file)) continue;
        for (const m of text.matchAll(pattern)) {
          const line = text.slice(0, m.index).split('\n').length;
          found.push({ code: m[2]!, at: `${relative(root, file)}:${line}` });
        }
      }
    }
  }
  return found;
}

test('errors: every code thrown or compared in src/, commands/ and native/ is in the table', () => {
  const found = codeLiterals(['src', 'commands', 'native']);
  // The scan must see the code base, or it would pass by finding nothing.
  assert.ok(found.length > 150, `only ${found.length} code literals found`);
  assert.ok(found.some((f) => f.at.startsWith('native/') && f.code === 'E_REMOTE_FAULT'), 'the native failWith literals are seen');
  const unknown = found.filter((f) => !Object.hasOwn(ERRORS, f.code));
  assert.deepEqual(unknown, [], `codes not in src/errors/table.ts: ${unknown.map((u) => `${u.code} at ${u.at}`).join(', ')}`);
});

test('errors: every entry has a one-line meaning, a known group, and a hint only when it says something', () => {
  const codes = Object.keys(ERRORS) as ErrorCode[];
  for (const code of codes) {
    const { group, meaning, hint } = errorInfo(code);
    assert.match(code, /^(E[A-Z0-9]+|E_[A-Z0-9_]+)$/, code);
    assert.ok(Object.hasOwn(ERROR_GROUPS, group), `${code}: group ${group}`);
    assert.ok(meaning.trim().length > 8 && !meaning.includes('\n'), `${code}: meaning ${JSON.stringify(meaning)}`);
    if (hint !== undefined) assert.ok(hint.trim().length > 0 && !hint.includes('\n'), `${code}: hint ${JSON.stringify(hint)}`);
  }
});

test('errors: docs/errors.md is what the table renders now (npm run docs:errors)', () => {
  const onDisk = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  assert.equal(onDisk, errorsMarkdown(), 'docs/errors.md is stale: run npm run docs:errors');
  for (const code of Object.keys(ERRORS)) assert.ok(onDisk.includes(`| \`${code}\` |`), code);
});

test('errors: a code from outside becomes one of the table, its message kept', () => {
  const native = (code: string, message: string, extra: object = {}) => Object.assign(new Error(message), { code }, extra);

  const known = toHotpatchError(native('EPERM', 'PTRACE_SEIZE(42): Operation not permitted', { syscall: 'PTRACE_SEIZE' }));
  assert.equal(known.code, 'EPERM');
  assert.equal(known.message, 'PTRACE_SEIZE(42): Operation not permitted');
  assert.equal(known.hint, errorInfo('EPERM').hint, 'the table gives the hint');

  const unlisted = toHotpatchError(native('EHWPOISON', 'pread /proc/PID/mem(42): Memory page has hardware error'));
  assert.equal(unlisted.code, 'E_KERNEL');
  assert.equal(unlisted.foreignCode, 'EHWPOISON');
  assert.equal(unlisted.message, 'pread /proc/PID/mem(42): Memory page has hardware error (EHWPOISON)');

  const nodeCode = toHotpatchError(native('ERR_INVALID_ARG_TYPE', 'The "path" argument must be of type string'));
  assert.equal(nodeCode.code, 'E_INTERNAL');
  assert.match(nodeCode.message, /\(ERR_INVALID_ARG_TYPE\)$/);

  assert.equal(toHotpatchError(new TypeError('x is undefined')).code, 'E_INTERNAL');
  assert.equal(toHotpatchError(native('ABORT_ERR', 'The operation was aborted')).code, 'E_CANCELLED');

  const plan = toHotpatchError(native('E_REMOTE_RESULT', 'a remote step returned 0xfffffffffffffff4, expected 0x7f0000000000',
    { opIndex: 1, completed: [5n], rolledBack: true, value: 0xfffffffffffffff4n }));
  assert.equal(plan.code, 'E_REMOTE_RESULT');
  assert.deepEqual(plan.plan, { opIndex: 1, completed: [5n], rolledBack: true, value: 0xfffffffffffffff4n }, 'the plan\'s progress as values');
});

test('errors: an explicit hint wins over the table\'s; the process gone is said one way', () => {
  assert.equal(new HotpatchError('EFAULT', '0x10 is not mapped', 'see `maps`').hint, 'see `maps`');
  assert.equal(new HotpatchError('EFAULT', '0x10 is not mapped').hint, errorInfo('EFAULT').hint);
  assert.equal(new HotpatchError('E_USAGE', 'disasm: COUNT must be at least 1').hint, undefined);
  const gone = processGone(4242, 'killed by signal 9');
  assert.equal(gone.code, 'ESRCH');
  assert.equal(gone.message, 'process 4242 is gone (killed by signal 9)');
  assert.ok(gone.hint);
});
