// examples/ansible: the playbook and its module roll a fix out with Debian's ansible-core against localhost
// (connection: local) on fixture processes: apply (changed), apply again (no change), revert (changed).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFixture, killAllFixtures, fixturePath, patchPath, repoRoot, type Fixture } from './helpers/fixtures.js';
import { cliPath, NODE_FLAGS } from './helpers/cli.js';
import { openElf } from '../src/elf/reader.js';

const scratch = mkdtempSync(join(tmpdir(), 'hotpatch-ansible-'));

after(async () => {
  await killAllFixtures();
  rmSync(scratch, { recursive: true, force: true });
});

const hasAnsible = spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;

function playbook(extra: Record<string, unknown>): Promise<{ code: number | null; out: string }> {
  const vars = join(scratch, `vars-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(vars, JSON.stringify({ ansible_python_interpreter: '/usr/bin/python3', use_become: false, hotpatch: [process.execPath, ...NODE_FLAGS, cliPath], ...extra }));
  return new Promise((resolve) => {
    execFile('ansible-playbook', ['-i', 'localhost,', '-c', 'local', '-e', `@${vars}`, join(repoRoot, 'examples', 'ansible', 'rollout.yml')], {
      env: { ...process.env, ANSIBLE_LOCAL_TEMP: join(scratch, 'tmp'), ANSIBLE_REMOTE_TEMP: join(scratch, 'tmp'), ANSIBLE_NOCOLOR: '1', ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_RETRY_FILES_ENABLED: 'False' },
      timeout: 120_000,
    }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
  });
}

/** The PLAY RECAP's counts for localhost. */
function recap(out: string): { ok: number; changed: number; failed: number } {
  const m = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(out);
  assert.ok(m, `no PLAY RECAP in:\n${out}`);
  return { ok: Number(m[1]), changed: Number(m[2]), failed: Number(m[3]) };
}

test('ansible: the example playbook applies a fix (changed), applies it again (no change), reverts it', { timeout: 300_000, skip: hasAnsible ? false : 'ansible-playbook is not installed (apt-get install ansible-core)' }, async () => {
  const dir = join(scratch, 'procs');
  mkdirSync(dir);
  copyFileSync(fixturePath('uselib'), join(dir, 'ansuselib'));
  copyFileSync(fixturePath('libfoo.so'), join(dir, 'libfoo.so'));
  const fix = join(scratch, 'fix.json');
  writeFileSync(fix, JSON.stringify({
    format: 'hotpatch-fix/1',
    name: 'foo-triples',
    targets: [{ module: 'libfoo.so', buildId: openElf(join(dir, 'libfoo.so')).buildId, libraries: [{ path: patchPath('patch_foo') }], redirects: [{ from: 'foo', to: 'foo_v2' }] }],
  }));
  const procs: Fixture[] = [await startFixture(join(dir, 'ansuselib')), await startFixture(join(dir, 'ansuselib'))];
  const sees = (value: number) => Promise.all(procs.map((p) => p.waitForLine(new RegExp(`^foo=${value}$`), 3000, p.lines.length)));
  const mapping = join(dir, 'libfoo.so');

  const first = await playbook({ fix, mapping });
  assert.equal(first.code, 0, first.out);
  assert.deepEqual(recap(first.out), { ok: 2, changed: 1, failed: 0 }, first.out);
  await sees(63);

  const again = await playbook({ fix, mapping });
  assert.equal(again.code, 0, again.out);
  assert.deepEqual(recap(again.out), { ok: 2, changed: 0, failed: 0 }, again.out);

  const off = await playbook({ fix, mapping, state: 'absent' });
  assert.equal(off.code, 0, off.out);
  assert.deepEqual(recap(off.out), { ok: 2, changed: 1, failed: 0 }, off.out);
  await sees(42);
  for (const p of procs) await p.stop();
});
