// The console's two goals: from starting `hotpatch PID` to a usable prompt (< 300 ms), and Tab over 100k symbols (< 50 ms).
//   node dist/bench/ui-startup.js        (bench/run.ts calls main())
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ElfSymbol } from '../src/elf/types.js';
import type { Module } from '../src/symbols/types.js';
import { SymbolIndex } from '../src/symbols/index.js';
import { Session } from '../src/session.js';
import { allCommands } from '../commands/index.js';
import { complete, filePaths, type CompletionSource } from '../src/ui/complete.js';
import { sessionSource, preparationSteps } from '../src/ui/source.js';
import { createReducer, initialState } from '../src/ui/state.js';
import { editorAt } from '../src/ui/editor.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// What `npx hotpatch PID` runs: the bin, with the flags of its #! line.
const cliPath = join(root, 'dist', 'src', 'cli', 'bin.cjs');
const counterPath = join(root, 'fixtures', 'build', 'counter');

const STARTS = 7;
const PROMPT_GOAL_MS = 300;
const TAB_GOAL_MS = 50;
const SYMBOL_COUNT = 100_000;

const now = () => performance.now();
const log = (line: string) => process.stdout.write(line + '\n');
const fmtMs = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(0)} ms`);
const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: readonly number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const percentile = (xs: readonly number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const goal = (value: number, limit: number) => `goal < ${limit} ms: ${value < limit ? 'met' : 'NOT met'}`;

/** Pids this bench started: killed by pid at the end, never by name. */
const started = new Set<number>();

/** Start a program through a shell that exits at once: it is then not our child, so hotpatch may trace it. */
async function startDetached(argv: string[], ready: (pid: number) => boolean): Promise<number> {
  const pid = Number(execFileSync('sh', ['-c', '"$@" >/dev/null 2>&1 </dev/null & echo $!', 'sh', ...argv], { encoding: 'utf8' }).trim());
  started.add(pid);
  for (let waited = 0; !ready(pid); waited += 10) {
    if (waited > 5000) throw new Error(`${argv.join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

function killStarted(): void {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
}

const commIs = (name: string) => (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
  } catch {
    return false;
  }
};

interface StartTimes {
  promptMs: number;
  attachedMs: number;
}

/**
 * Start `argv` on a pseudo-terminal (util-linux `script`), as a person at a terminal would, and time the screen:
 * until the prompt is drawn, and until the status line names the attached process. Then type quit.
 */
function timeOnPty(argv: string[], prompt: RegExp, attached: RegExp, timeoutMs = 20_000): Promise<StartTimes> {
  return new Promise((resolve, reject) => {
    const start = now();
    const command = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, NO_COLOR: '1' } });
    let screen = '';
    let promptMs: number | undefined;
    let attachedMs: number | undefined;
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`no prompt within ${timeoutMs} ms; screen so far:\n${screen.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      screen += chunk;
      const plain = screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
      if (promptMs === undefined && prompt.test(plain)) promptMs = now() - start;
      if (attachedMs === undefined && attached.test(plain)) {
        attachedMs = now() - start;
        child.stdin.write('quit\r');
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      if (promptMs === undefined || attachedMs === undefined) reject(new Error(`the console ended early:\n${screen.slice(-2000)}`));
      else resolve({ promptMs, attachedMs });
    });
  });
}

/** What the binary loads: the bundle of `npm run build` (CLI, shared core chunks, console), or the compiled modules. */
function uiFlavour(): string {
  const bundle = join(root, 'dist', 'bundle', 'main.js');
  const modules = join(root, 'dist', 'src', 'cli', 'main.js');
  return existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(modules).mtimeMs ? 'bundled (CLI, core chunks, console)' : 'modules unbundled (no fresh bundle)';
}

async function startupRows(): Promise<void> {
  if (spawnSync('script', ['--version']).status !== 0) {
    log('  start-up: util-linux `script` is not installed, skipped');
    return;
  }
  const pid = await startDetached([counterPath, '1000'], commIs('counter'));
  const floor: number[] = [];
  const times: StartTimes[] = [];
  for (let i = 0; i < STARTS; i++) {
    // The floor: node itself on the same pseudo-terminal, printing one line.
    floor.push((await timeOnPty([process.execPath, '-e', 'console.log("hotpatch> ready pid")'], /hotpatch>/, /ready pid/)).promptMs);
    times.push(await timeOnPty([process.execPath, '--min-semi-space-size=16', cliPath, String(pid)], /hotpatch>/, new RegExp(`pid ${pid} counter`)));
  }
  const prompt = times.map((t) => t.promptMs);
  const attached = times.map((t) => t.attachedMs);
  log(`  ${uiFlavour()}, ${STARTS} starts each`);
  log(`  node alone on a pty (floor)            median ${fmtMs(median(floor))}`);
  log(`  hotpatch PID → prompt drawn            median ${fmtMs(median(prompt))}   worst ${fmtMs(Math.max(...prompt))}   ${goal(median(prompt), PROMPT_GOAL_MS)}`);
  log(`  hotpatch PID → attached (status line)  median ${fmtMs(median(attached))}   worst ${fmtMs(Math.max(...attached))}`);
}

const WORDS = ['alloc', 'free', 'read', 'write', 'init', 'parse', 'emit', 'hash', 'table', 'buffer', 'stream', 'socket', 'thread', 'signal', 'timer', 'event'];

/** 100k synthetic function symbols over 10 modules, deterministic names. */
function syntheticIndex(): SymbolIndex {
  const index = new SymbolIndex();
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const pick = () => WORDS[Math.floor(random() * WORDS.length)]!;
  for (let m = 0; m < 10; m++) {
    const base = 0x7f0000000000n + BigInt(m) * 0x10000000n;
    const module: Module = { name: `lib${m}.so`, path: `/usr/lib/lib${m}.so`, loadBias: base, start: base, end: base + 0x10000000n, maps: [] };
    const symbols: ElfSymbol[] = [];
    for (let i = 0; i < SYMBOL_COUNT / 10; i++) {
      symbols.push({ name: `${pick()}_${pick()}_${i}_${m}`, value: BigInt(0x1000 + i * 64), size: 48, type: 'func', bind: 'global', shndx: 14, defined: true, table: 'symtab' });
    }
    index.addModule(module, symbols);
  }
  return index;
}

/** Tab as the console handles it (completion, common prefix, the new state), timed over lines that complete symbols. */
function timeTab(source: CompletionSource, lines: string[], rounds: number): number[] {
  const reduce = createReducer((text, cursor) => complete(text, cursor, source));
  const view = { top: 0, height: 20, total: 0 };
  const runs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const line of lines) {
      const state = { ...initialState(), editor: editorAt(line) };
      const start = now();
      reduce(state, { type: 'key', input: '', key: { tab: true }, view });
      runs.push(now() - start);
    }
  }
  return runs;
}

function tabRow(what: string, runs: number[]): void {
  const p99 = percentile(runs, 99);
  log(`  ${what.padEnd(38)} median ${fmtMs(median(runs))}   p99 ${fmtMs(p99)}   worst ${fmtMs(Math.max(...runs))}   ${goal(p99, TAB_GOAL_MS)}`);
}

function syntheticTabRows(): void {
  const index = syntheticIndex();
  const source: CompletionSource = {
    commands: allCommands(),
    symbols: (prefix, limit) => index.completions(prefix, limit),
    modules: () => index.modules.map((m) => m.name),
    registers: () => ['rip', 'rsp'],
    files: filePaths,
  };
  let start = now();
  complete('disasm par', 'disasm par'.length, source);
  log(`  first Tab over ${index.size.toLocaleString('en-US')} synthetic symbols, tables not built   ${fmtMs(now() - start)} (the console builds them when idle)`);
  const fresh = syntheticIndex();
  start = now();
  fresh.prepare();
  log(`  building every table of the index (prepare)   ${fmtMs(now() - start)}`);
  const lines = ['disasm ', 'disasm a', 'disasm par', 'disasm socket_thr', 'disasm lib3.so!hash_', 'syms --module lib', 'disasm zzz'];
  tabRow(`Tab, ${index.size.toLocaleString('en-US')} synthetic symbols`, timeTab(source, lines, 200));
}

/** A real process with a big symbol table: node itself (its binary carries 100k+ symbols). */
async function realTabRows(): Promise<void> {
  const pid = await startDetached([process.execPath, '-e', 'setInterval(() => {}, 1000)'], commIs('node'));
  const session = new Session();
  try {
    await session.attach(pid);
    let start = now();
    for (const step of preparationSteps(session)) step.run();
    const prepareMs = now() - start;
    const size = session.space().index.size;
    log(`  node (pid ${pid}): ${size.toLocaleString('en-US')} symbols; the console's idle preparation took ${fmtMs(prepareMs)}`);
    const lines = ['disasm uv_', 'disasm uv_loop_', 'disasm _ZN4node', 'disasm libc.so.6!mall', 'peek $r', 'disasm v8'];
    tabRow(`Tab, node's ${size.toLocaleString('en-US')} symbols`, timeTab(sessionSource(session), lines, 50));
    start = now();
    complete('load fixtures/build/patches/', 'load fixtures/build/patches/'.length, sessionSource(session));
    log(`  Tab on a path for load                 ${fmtMs(now() - start)}`);
  } finally {
    await session.detach();
  }
}

export async function main(): Promise<void> {
  log('ui-startup: the interactive console');
  try {
    await startupRows();
    syntheticTabRows();
    await realTabRows();
  } finally {
    killStarted();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    process.stderr.write(`${err?.stack ?? err}\n`);
    killStarted();
    process.exitCode = 1;
  });
}
