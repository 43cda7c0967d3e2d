// syms on a big binary in a running process vs nm | grep on the same file (issue 2), for a literal-prefix glob
// (`uv_*`) and a glob that is not one (`*Heap*`, issue 12: the screen over the string table must carry it too).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fmtMs, fmtRatio, hotpatch, log, median, runTimed, startDetached, which, type Benchmark, type Row } from './lib.js';

// Eleven: the medians of five moved by 10% between runs on these shared cores.
const RUNS = 11;
/** Each glob with the word grep looks for: a prefix glob, and one with a wildcard in front (no prefix to seek). */
const PATTERNS: { glob: string; grep: string }[] = [
  { glob: 'uv_*', grep: 'uv_' },
  { glob: '*Heap*', grep: 'Heap' },
];

function symtabCount(path: string): number {
  try {
    const out = execFileSync('sh', ['-c', 'nm "$1" 2>/dev/null | wc -l', 'sh', path], { encoding: 'utf8' });
    return Number(out.trim()) || 0;
  } catch {
    return 0;
  }
}

/** The node on PATH when it has its .symtab; otherwise the largest unstripped ELF executable in /usr/bin. */
function pickBinary(): { path: string; symbols: number; note?: string } {
  const node = realNode();
  const nodeCount = existsSync(node) ? symtabCount(node) : 0;
  if (nodeCount > 10_000) return { path: node, symbols: nodeCount };
  let best: { path: string; size: number } | undefined;
  for (const name of readdirSync('/usr/bin')) {
    const path = join('/usr/bin', name);
    try {
      const st = statSync(path);
      if (!st.isFile() || (st.mode & 0o111) === 0 || (best && st.size <= best.size)) continue;
      if (symtabCount(path) > 1000) best = { path, size: st.size };
    } catch {
      // unreadable: skip
    }
  }
  if (!best) return { path: node, symbols: nodeCount, note: `${node} is stripped and no unstripped binary was found` };
  return { path: best.path, symbols: symtabCount(best.path), note: `${node} is stripped: used ${best.path}` };
}

/** `which node`, links followed (the file nm reads and the process maps); /usr/bin/node when there is none. */
function realNode(): string {
  const found = which('node');
  try {
    return found ? realpathSync(found) : '/usr/bin/node';
  } catch {
    return '/usr/bin/node';
  }
}

export const symsBench: Benchmark = {
  name: 'syms',
  about: `hotpatch -p PID -e "syms GLOB" (attach, glob over .symtab+.dynsym, detach) vs nm BINARY | grep WORD, for ${PATTERNS.map((p) => p.glob).join(' and ')}`,
  async run(): Promise<Row[]> {
    if (!which('nm')) return [{ bench: 'syms vs nm|grep', ours: '', theirs: 'nm not installed', ratio: 'n/a', goal: '≤ 1×', met: undefined }];
    const bin = pickBinary();
    const isNode = bin.path === realNode() || bin.path === process.execPath;
    if (!isNode) {
      // Only node idles on its own here: other binaries are started but may exit; the bench still times their symbols.
      log(`  note: ${bin.note}`);
    }
    const argv = isNode ? [bin.path, '-e', 'setInterval(()=>{},1000)'] : [bin.path];
    const target = await startDetached(argv);
    try {
      await new Promise((r) => setTimeout(r, 300)); // let it map its libraries
      const rows: Row[] = [];
      for (const pattern of PATTERNS) rows.push(await compare(target.pid, bin, pattern));
      return rows;
    } finally {
      target.kill();
    }
  },
};

/** One glob, hotpatch and nm|grep interleaved: one warm-up of each (page cache, Node's code cache), then RUNS. */
async function compare(pid: number, bin: { path: string; symbols: number; note?: string }, pattern: { glob: string; grep: string }): Promise<Row> {
  const ours: number[] = [];
  const theirs: number[] = [];
  let oursLines = 0;
  let theirsLines = 0;
  const nmScript = `nm "$1" | grep -- '${pattern.grep}'`;
  for (let i = -1; i < RUNS; i++) {
    // Batch mode into a pipe: plain rows, as a script would read them.
    const h = await hotpatch(['-p', String(pid), '-e', `syms ${pattern.glob}`]);
    if (h.code !== 0) throw new Error(`hotpatch syms ${pattern.glob} failed (exit ${h.code}): ${h.stdout}${h.stderr}`);
    const n = await runTimed('sh', ['-c', nmScript, 'sh', bin.path]);
    if (i < 0) {
      oursLines = h.stdout.split('\n').filter((l) => l.trim() !== '').length;
      theirsLines = n.stdout.split('\n').filter((l) => l.trim() !== '').length;
      continue;
    }
    ours.push(h.ms);
    theirs.push(n.ms);
  }
  const o = median(ours);
  const t = median(theirs);
  const ratio = o / t;
  log(`  syms ${pattern.glob} on ${bin.path} (${bin.symbols} nm lines): hotpatch ${fmtMs(o)} (${oursLines} lines)  ` +
    `nm|grep ${fmtMs(t)} (${theirsLines} lines)  ratio ${fmtRatio(ratio)}  goal ≤ 1×: ${ratio <= 1 ? 'met' : 'NOT met'}`);
  return {
    bench: `syms ${pattern.glob} (${bin.path.split('/').pop()}, ${Math.round(bin.symbols / 1000)}k syms)`,
    ours: `${fmtMs(o)} whole run`,
    theirs: `nm|grep ${pattern.grep} ${fmtMs(t)}`,
    ratio: fmtRatio(ratio),
    goal: 'hotpatch ≤ 1× nm|grep',
    met: ratio <= 1,
    note: `median of ${RUNS}; ${oursLines} vs ${theirsLines} lines (grep matches substrings, the glob whole names; hotpatch also reads the libraries)${bin.note ? '; ' + bin.note : ''}`,
  };
}
