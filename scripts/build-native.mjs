// Builds the native addon with the node-gyp that ships with npm, against local Node headers when present (no download).
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

function nodeGypScript() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const npmCli = process.env.npm_execpath ?? realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  let dir = dirname(npmCli);
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('node-gyp not found next to npm; install it with `npm i -g node-gyp`');
}

const args = [nodeGypScript(), 'rebuild'];
// Node's headers ship with the distribution here; point at them so node-gyp does not try to download them.
const localHeaders = join(dirname(dirname(process.execPath)), 'include', 'node', 'node_api.h');
if (!process.env.npm_config_nodedir && existsSync(localHeaders)) args.push(`--nodedir=${dirname(dirname(process.execPath))}`);
try {
  execFileSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
} catch (err) {
  process.stderr.write(String(err.stdout ?? '') + String(err.stderr ?? ''));
  console.error('native: node-gyp failed (see above); g++, make and python3 are needed');
  process.exit(1);
}
console.log('native: build/Release/hotpatch_native.node');
