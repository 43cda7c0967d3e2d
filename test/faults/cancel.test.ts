// Long work in the console stops on Ctrl-C (the command's AbortSignal): syms over every module, peek --out of a big
// range. In-process, as the console runs them, on a target that is not our child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from '../../src/session.js';
import { runLine } from '../../src/cli/runner.js';
import { startOrphan } from './support.js';
import { status } from '../helpers/fixtures.js';

test('cancel: syms over every module and a 512 MiB peek --out stop on an aborted signal, leave no file, and the session goes on', { timeout: 60_000 }, async (t) => {
  const target = await startOrphan('counter', ['50']);
  const dir = mkdtempSync(join(tmpdir(), 'hp-cancel-'));
  try {
    const session = new Session();
    await session.attach(target.pid);
    const stop = new AbortController();
    stop.abort();
    const syms = await runLine(session, 'syms *', stop.signal);
    assert.equal(syms?.ok, false);
    assert.equal(syms?.error?.code, 'E_CANCELLED', JSON.stringify(syms?.error));

    // From libc's first mapping: its mappings follow each other for well over the first 1 MiB chunk, after which the
    // dump looks at the signal (and then every 64 MiB).
    const libc = readFileSync(`/proc/${target.pid}/maps`, 'utf8').split('\n').find((l) => /\/libc[.-]/.test(l))!;
    const file = join(dir, 'dump.bin');
    const dump = await runLine(session, `peek 0x${libc.split('-')[0]} ${512 << 20} --out ${file}`, stop.signal);
    assert.equal(dump?.ok, false);
    assert.equal(dump!.error!.code, 'E_CANCELLED', JSON.stringify(dump?.error));
    assert.equal(existsSync(file), false, 'no file left behind');

    const after = await runLine(session, 'syms tick');
    assert.equal(after?.ok, true, 'the session still works');
    await session.detach();
    assert.equal(status(target.pid).tracerPid, 0);
    t.diagnostic(`held: syms ${syms?.error?.code}; peek --out ${dump?.error?.code}; session went on`);
  } finally {
    target.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
