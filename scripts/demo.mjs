// npm start: run the bundled demo target (in a session of its own: a Ctrl-C in this terminal does not reach it) and open
// the console on it. Each run has its own log, $XDG_STATE_HOME/hotpatch/demo-PID.log, so two demos (or a test) never
// write into one file.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { constants, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const demo = join(root, 'fixtures', 'build', 'demo');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const stateDir = join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'hotpatch');
/** What the wrapper shell appends to the log when the demo ends: its status as `wait` gave it (128 + N: signal N). */
const ENDED = 'hotpatch-demo: ended with status ';

for (const [path, fix] of [[demo, 'node scripts/build-fixtures.mjs'], [cli, 'npm run build']]) {
  if (!existsSync(path)) {
    process.stderr.write(`${path} is missing: run ${fix} (npm start does both)\n`);
    process.exit(1);
  }
}

mkdirSync(stateDir, { recursive: true });
forgetOldLogs();
// Named after this process until the demo says its pid, then renamed (the demo keeps writing to the same file).
let log = join(stateDir, `demo-starting-${process.pid}.log`);
const fd = openSync(log, 'w');
// A shell of its own session runs the demo and waits for it, then writes how it ended into the log: the demo is not
// our child (the console cannot trace a child of its parent's, and a crash must still be told), and it outlives us
// only until quit stops it.
const wrapper = spawn('sh', ['-c', `"$0" </dev/null & wait $!; echo "${ENDED}$?"`, demo], { detached: true, stdio: ['ignore', fd, fd] });
wrapper.unref();
closeSync(fd);

const pid = await waitForReady();
const named = join(stateDir, `demo-${pid}.log`);
renameSync(log, named);
log = named;

// Said inside the console, at the top of its output: printed here, it would scroll away under the console's first frame.
const greeting =
  `demo target running: pid ${pid}; its output goes to ${log} (tail -f it in another terminal to watch)\n` +
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
const console_ = spawn(process.execPath, ['--min-semi-space-size=16', cli, String(pid)], { stdio: 'inherit', env: { ...process.env, HOTPATCH_GREETING: greeting } });
console_.on('exit', async (code, signal) => {
  process.stdout.write(await farewell() + '\n');
  process.exit(code ?? (signal ? 1 : 0));
});
console_.on('error', (err) => {
  process.stderr.write(`cannot start the console: ${err.message}\n`);
  stopDemo();
  process.exit(1);
});

function alive() {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function stopDemo() {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** What became of the demo, said truly: stopped by us now, or how it had ended before (a crash says which signal). */
async function farewell() {
  const before = ended();
  if (before !== undefined) return `the demo target (pid ${pid}) ${before} before the console closed; its output: ${log}`;
  stopDemo();
  for (let waited = 0; waited < 2000 && alive(); waited += 20) await new Promise((r) => setTimeout(r, 20));
  return alive() ? `the demo target (pid ${pid}) did not stop on SIGTERM; it still runs` : `stopped the demo target (pid ${pid}); its output: ${log}`;
}

/** How the demo ended, from the wrapper's last line in the log, or undefined while it runs. */
function ended() {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return alive() ? undefined : 'ended';
  }
  const at = text.lastIndexOf(ENDED);
  if (at < 0) return alive() ? undefined : 'ended';
  const status = Number.parseInt(text.slice(at + ENDED.length), 10);
  if (status <= 128) return `exited with status ${status}`;
  const signal = status - 128;
  const name = Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] ?? `signal ${signal}`;
  return ['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT', 'SIGTRAP', 'SIGSYS'].includes(name) ? `crashed (${name})` : `was killed by ${name}`;
}

/** The demo prints `ready pid=N` once it runs; give up after 5 s. */
async function waitForReady() {
  for (let waited = 0; waited < 5000; waited += 20) {
    const m = /ready pid=(\d+)/.exec(readFileSync(log, 'utf8'));
    if (m) return Number(m[1]);
    if (readFileSync(log, 'utf8').includes(ENDED)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    process.kill(-wrapper.pid, 'SIGTERM');
  } catch {
    // gone
  }
  process.stderr.write(`the demo did not start; see ${log}\n`);
  process.exit(1);
}

/** Logs of demos that have ended, more than a day old: each run leaves one, and they would pile up. */
function forgetOldLogs() {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of readdirSync(stateDir)) {
    const m = /^demo-(?:starting-)?(\d+)\.log$/.exec(name);
    if (!m) continue;
    const path = join(stateDir, name);
    try {
      if (statSync(path).mtimeMs > dayAgo) continue;
      if (existsSync(`/proc/${m[1]}`)) continue;
      rmSync(path, { force: true });
    } catch {
      // another run removed it
    }
  }
}
