// npm start: run the bundled demo target (not as our child: hotpatch cannot trace its own children) and open the console on it.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(root, 'fixtures', 'build', 'demo');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const log = '/tmp/hotpatch-demo.log';

for (const [path, fix] of [[demo, 'node scripts/build-fixtures.mjs'], [cli, 'npm run build']]) {
  if (!existsSync(path)) {
    process.stderr.write(`${path} is missing: run ${fix} (npm start does both)\n`);
    process.exit(1);
  }
}

// The shell starts the demo in the background in a session of its own and exits at once: the demo's parent is then
// init, not this process, and a Ctrl-C in this terminal does not reach it. A fresh log file: a demo left over from an
// earlier run keeps writing to the old one, not into ours.
const pid = Number(
  execFileSync('sh', ['-c', 'rm -f "$1"; setsid "$0" >"$1" 2>&1 </dev/null & echo $!', demo, log], { encoding: 'utf8' }).trim(),
);

const stopDemo = () => {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
};

await waitForReady(pid);
// Said inside the console, at the top of its output: printed here, it would scroll away under the console's first frame.
const greeting =
  `demo target running: pid ${pid}; its output goes to ${log} (tail -f ${log} in another terminal to watch it)\n` +
  `type tour for a guided patch, help for every command`;

// Ctrl-C belongs to the console (it reads keys in raw mode); this process only waits for it. A closed terminal or a
// kill stops the demo too (the console gets the same hangup and detaches on its own).
process.on('SIGINT', () => {});
for (const signal of ['SIGHUP', 'SIGTERM']) {
  process.on(signal, () => {
    stopDemo();
    process.exit(128 + (signal === 'SIGHUP' ? 1 : 15));
  });
}
const console_ = spawn(process.execPath, ['--no-concurrent-recompilation', cli, String(pid)], { stdio: 'inherit', env: { ...process.env, HOTPATCH_GREETING: greeting } });
console_.on('exit', (code, signal) => {
  stopDemo();
  process.stdout.write(`stopped the demo target (pid ${pid})\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
console_.on('error', (err) => {
  process.stderr.write(`cannot start the console: ${err.message}\n`);
  stopDemo();
  process.exit(1);
});

/** The demo prints `ready pid=N` once it runs; give up after 5 s. */
async function waitForReady(pid) {
  for (let waited = 0; waited < 5000; waited += 20) {
    try {
      if (readFileSync(log, 'utf8').includes(`ready pid=${pid}`)) return;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  stopDemo();
  process.stderr.write(`the demo did not start; see ${log}\n`);
  process.exit(1);
}
