// Links node_modules/.bin/hotpatch to the built CLI, so `npx hotpatch` runs this checkout's binary (npm links
// the bins of dependencies, never the root package's own).
import { mkdirSync, symlinkSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist', 'src', 'cli', 'bin.cjs');
const link = join(root, 'node_modules', '.bin', 'hotpatch');
mkdirSync(dirname(link), { recursive: true });
rmSync(link, { force: true });
symlinkSync(relative(dirname(link), bin), link);
chmodSync(bin, 0o755);
