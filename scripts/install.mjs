// npm's install step: build the native addon, then everything else (`npm run build`).
// `npx hotpatch` in a checkout that declares the `hotpatch` bin makes npm 11 link the checkout into its npx cache
// and run this script again (npm_command=exec): the build is already there then, so it is not redone.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = [join(root, 'build', 'Release', 'hotpatch_native.node'), join(root, 'dist', 'src', 'cli', 'bin.cjs')];
if (process.env.npm_command === 'exec' && built.every((f) => existsSync(f))) process.exit(0);

const run = (file, args) => execFileSync(file, args, { cwd: root, stdio: 'inherit' });
try {
  run(process.execPath, [join(root, 'scripts', 'build-native.mjs')]);
  run(process.env.npm_execpath ? process.execPath : 'npm', process.env.npm_execpath ? [process.env.npm_execpath, 'run', 'build'] : ['run', 'build']);
} catch {
  process.exit(1);
}
