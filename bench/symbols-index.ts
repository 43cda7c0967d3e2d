// Timings of the symbol index over 110k synthetic names: build, lookup, symbolize, suggest, completions.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { ElfSymbol } from '../src/elf/types.js';
import type { Module } from '../src/symbols/types.js';
import { SymbolIndex } from '../src/symbols/index.js';

const SYMBOL_COUNT = 110_000;
const MODULE_COUNT = 11;
const WORDS = ['alloc', 'free', 'read', 'write', 'init', 'fini', 'lock', 'unlock', 'parse', 'emit', 'hash', 'table',
  'buffer', 'stream', 'socket', 'thread', 'signal', 'timer', 'event', 'queue', 'cache', 'string', 'node', 'tree'];

/** Deterministic pseudo-random numbers, so every run measures the same names. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function syntheticModules(): { module: Module; symbols: ElfSymbol[] }[] {
  const random = lcg(42);
  const pick = () => WORDS[Math.floor(random() * WORDS.length)]!;
  const perModule = SYMBOL_COUNT / MODULE_COUNT;
  const out: { module: Module; symbols: ElfSymbol[] }[] = [];
  for (let m = 0; m < MODULE_COUNT; m++) {
    const start = 0x7f0000000000n + BigInt(m) * 0x10000000n;
    const module: Module = { name: `lib${m}.so`, path: `/usr/lib/lib${m}.so`, loadBias: start, start, end: start + 0x10000000n, maps: [] };
    const symbols: ElfSymbol[] = [];
    let value = 0x1000n;
    for (let i = 0; i < perModule; i++) {
      const size = 16 + Math.floor(random() * 400);
      // Through a Buffer, as the ELF reader makes them: flat strings, not the ropes a template literal leaves.
      const name = Buffer.from(`${random() < 0.2 ? '__' : ''}${pick()}_${pick()}_${i}_${m}`, 'latin1').toString('latin1');
      symbols.push({
        name, value, size, type: 'func', bind: random() < 0.3 ? 'local' : 'global', shndx: 14, defined: true,
        table: 'symtab', file: `file${i % 500}.c`,
      });
      value += BigInt(size + 16);
    }
    out.push({ module, symbols });
  }
  return out;
}

function format(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
}

/** Runs `work` `repeat` times; prints the first run (cold: JIT, lazy tables) and the median of the rest. */
function time<T>(label: string, repeat: number, work: (i: number) => T): T {
  let result: T | undefined;
  const runs: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    result = work(i);
    runs.push(performance.now() - start);
  }
  const first = runs[0]!;
  const rest = runs.slice(1).sort((a, b) => a - b);
  const median = rest.length > 0 ? rest[Math.floor(rest.length / 2)]! : undefined;
  console.log(`${label.padEnd(40)} first ${format(first).padStart(10)}` +
    (median === undefined ? '' : `   median of ${rest.length} ${format(median).padStart(10)}`));
  return result!;
}

export function main(): void {
  const modules = syntheticModules();
  const all = modules.flatMap((m) => m.symbols.map((s) => ({ module: m.module, sym: s })));
  const index = time('build (addModule x11, 110k symbols)', 1, () => {
    const built = new SymbolIndex();
    for (const { module, symbols } of modules) built.addModule(module, symbols);
    return built;
  });
  console.log(`symbols indexed: ${index.size}`);

  time('first symbolize (sorts by address)', 1, () => index.symbolize(all[5000]!.module.loadBias + all[5000]!.sym.value));
  time('lookup(name)', 10_000, (i) => index.lookup(all[(i * 7919) % all.length]!.sym.name));
  time('symbolize(address)', 10_000, (i) => {
    const { module, sym } = all[(i * 7919) % all.length]!;
    return index.symbolize(module.loadBias + sym.value + 3n);
  });
  time('first completions (sorts names)', 1, () => index.completions('par', 20));
  time('completions(prefix, 20)', 10_000, (i) => index.completions(WORDS[i % WORDS.length]!.slice(0, 3), 20));
  time('first suggest (lowercases names)', 1, () => index.suggest('alloc_fre_10_3'));
  const fresh = new SymbolIndex();
  for (const { module, symbols } of modules) fresh.addModule(module, symbols);
  time('prepare() on a second index (all tables)', 1, () => fresh.prepare());
  for (const typo of ['alloc_fre_10_3', 'mallco', 'tik', 'parse_tabel_123_4', 'x']) {
    const got = time(`suggest("${typo}")`, 20, () => index.suggest(typo));
    console.log(`  → ${got.join(', ')}`);
  }
  time('match("*_lock_1?_*")', 10, () => index.match('*_lock_1?_*'));
  time('match("socket") substring', 10, () => index.match('socket'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
