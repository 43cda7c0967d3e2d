// Where this package's files are, found from the running file: the same answer from dist/src/*.js, dist/commands/*.js
// and from one bundled file, wherever it sits.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The directory of hotpatch's package.json (the checkout or the installed package). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'hotpatch') return (root = dir);
      } catch {
        // not ours, or unreadable: keep looking further up
      }
    }
    if (dirname(dir) === dir) throw new Error('hotpatch: cannot find its package.json above ' + fileURLToPath(import.meta.url));
  }
}

/**
 * hotpatch's own state of this user (history, started programs' logs, fixes written at the prompt):
 * $XDG_STATE_HOME/hotpatch when that is an absolute path, else ~/.local/state/hotpatch.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'hotpatch');
}
