// src/dwarf on real libraries of this machine: libc (compressed DWARF 5 in a separate debug file, zR/zPLR/zRS CFI)
// and pyenv's libpython3.11 (9 MB of .debug_info); answers checked against addr2line, llvm-symbolizer, gdb and readelf,
// timings reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { openElf } from '../src/elf/reader.js';
import { openDwarf, type Dwarf } from '../src/dwarf/index.js';
import { readelfFrames } from './helpers/dwarf-tools.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LIBPYTHON = '/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0';

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Splits "name\nfile:line" pairs into frames "name@base:line", one list per pc; `isEnd` marks the end of a pc's list. */
function framesFromPairs(text: string, isEnd: (name: string, where: string) => boolean): string[][] {
  const lines = text.split('\n').filter((l) => l !== '');
  const out: string[][] = [];
  let current: string[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const name = lines[i];
    const where = lines[i + 1].replace(/ \(discriminator \d+\)$/, '');
    if (isEnd(name, where)) {
      out.push(current);
      current = [];
      continue;
    }
    const [path, line] = where.split(':');
    current.push(`${name}@${basename(path)}:${line}`);
  }
  return out;
}

/** After each pc this address is asked too (nothing is there): its "??" answer ends that pc's frames. */
const SENTINEL = '0x7ffffffffff00000';
const isSentinel = (name: string, where: string) => name === '??' && where.startsWith('??');

/** addr2line -f -i: the frames at each pc, innermost first. */
function addr2line(file: string, pcs: bigint[]): string[][] {
  const args = ['-f', '-i', '-e', file, ...pcs.flatMap((pc) => [hex(pc), SENTINEL])];
  return framesFromPairs(execFileSync('addr2line', args, { encoding: 'utf8' }), isSentinel);
}

/** llvm-symbolizer: the same question to LLVM's DWARF reader (binutils and LLVM disagree on a few libc pcs). */
function llvmSymbolizer(file: string, pcs: bigint[]): string[][] | undefined {
  try {
    const args = [`--obj=${file}`, ...pcs.flatMap((pc) => [hex(pc), SENTINEL])];
    return framesFromPairs(execFileSync('llvm-symbolizer', args, { encoding: 'utf8' }), isSentinel);
  } catch {
    return undefined;
  }
}

/**
 * gdb's "info line *PC": the line of each pc, by gdb's rule for several rows at one address (prefer an is_stmt row),
 * which src/dwarf follows; addr2line and llvm-symbolizer take the last row instead.
 */
function gdbLines(file: string, pcs: bigint[]): (string | undefined)[] {
  const args = ['-batch', '-nx', ...pcs.flatMap((pc) => ['-ex', `info line *${hex(pc)}`]), file];
  const text = execFileSync('gdb', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const answers = text.split('\n').filter((l) => /^(Line \d+ of|No line number)/.test(l));
  return answers.map((l) => {
    const m = /^Line (\d+) of "([^"]+)"/.exec(l);
    return m ? `${basename(m[2])}:${m[1]}` : undefined;
  });
}

function ours(dwarf: Dwarf, pc: bigint): string[] {
  return dwarf.functionAt(pc).map((f) => `${f.name}@${f.location ? `${basename(f.location.file)}:${f.location.line}` : '??:0'}`);
}

/** Twelve pcs inside functions spread over the file (the middle of every n-th sized function of .symtab). */
function samplePcs(dwarfFile: string, count = 12): bigint[] {
  const funcs = openElf(dwarfFile).symbols().filter((s) => s.type === 'func' && s.size > 32 && s.table === 'symtab')
    .sort((a, b) => (a.value < b.value ? -1 : 1));
  const step = Math.max(1, Math.floor(funcs.length / count));
  return funcs.filter((_, i) => i % step === 0).slice(0, count).map((s) => s.value + BigInt(Math.floor(s.size / 2)));
}

function timed<T>(work: () => T): [T, number] {
  const started = performance.now();
  const value = work();
  return [value, performance.now() - started];
}

for (const [label, path] of [['libc', LIBC], ['libpython3.11', LIBPYTHON]] as const) {
  test(`${label}: lookups agree with addr2line -f -i (or llvm-symbolizer where the two differ) and gdb's info line; timings`, (t) => {
    if (!existsSync(path)) {
      t.skip(`${path} is not on this machine`);
      return;
    }
    if (!existsSync('/usr/bin/gdb')) {
      t.skip("gdb's line for a pc is the reference (addr2line and llvm-symbolizer pick another row among ties)");
      return;
    }
    const [dwarf, openMs] = timed(() => openDwarf(openElf(path)));
    if (!dwarf.hasDebugInfo) {
      t.skip(`${path} has no DWARF here (for libc: install libc6-dbg)`);
      return;
    }
    const pcs = samplePcs(dwarf.debugPath!);
    const [first, firstMs] = timed(() => ours(dwarf, pcs[0]));
    const [, secondMs] = timed(() => ours(dwarf, pcs[0] + 1n));
    const [, lineMs] = timed(() => dwarf.lineFor(pcs[1]));
    const [, restMs] = timed(() => pcs.forEach((pc) => ours(dwarf, pc)));
    const binutils = addr2line(dwarf.debugPath!, pcs);
    const llvm = llvmSymbolizer(dwarf.debugPath!, pcs);
    assert.equal(binutils.length, pcs.length);
    // Both tools may name an out-of-line function by another symbol at its address (glibc's __GI_abort for abort,
    // strfromf32x for strfromd): such a name counts as ours.
    const symbols = openElf(dwarf.debugPath!).symbols();
    // And the innermost frame's line is gdb's.
    const lines = gdbLines(dwarf.debugPath!, pcs);
    const normalise = (tool: string[], pc: bigint, i: number): string[] => {
      const frames = [...tool];
      if (lines[i] && frames.length) frames[0] = `${frames[0].split('@')[0]}@${lines[i]}`;
      const outer = dwarf.functionAt(pc).at(-1);
      const last = frames.at(-1);
      const name = last?.split('@')[0];
      if (!outer || !last || !name || name === outer.name) return frames;
      const alias = symbols.some((s) => s.name === name && s.value === outer.entryPc);
      return alias ? [...frames.slice(0, -1), `${outer.name}@${last.split('@')[1]}`] : frames;
    };
    let disagreements = 0;
    pcs.forEach((pc, i) => {
      const got = ours(dwarf, pc);
      const byBinutils = normalise(binutils[i], pc, i);
      const byLlvm = llvm && normalise(llvm[i], pc, i);
      if (byLlvm && JSON.stringify(byLlvm) !== JSON.stringify(byBinutils)) disagreements++;
      if (JSON.stringify(got) === JSON.stringify(byBinutils)) return;
      assert.deepEqual(got, byLlvm ?? byBinutils, `${label} ${hex(pc)}: ours, addr2line's ${JSON.stringify(byBinutils)} and llvm-symbolizer's`);
    });
    assert.deepEqual(first, ours(dwarf, pcs[0]));
    const [copies, copiesMs] = timed(() => dwarf.inlinedCopies(label === 'libc' ? '_IO_acquire_lock_fct' : 'Py_INCREF'));
    assert.ok(copies.length > 5, `${copies.length} inlined copies`);
    // A copy's entry_pc may lie outside its ranges (the instruction gcc counts as its entry moved away): look inside.
    for (const copy of copies.filter((c) => c.ranges.length > 0).slice(0, 50)) {
      const frames = dwarf.functionAt(copy.ranges[0].start);
      assert.ok(frames.some((f) => f.dieOffset === copy.dieOffset), `${copy.function} in ${copy.outerFunction}`);
      assert.equal(frames.at(-1)?.name, copy.outerFunction);
    }
    t.diagnostic(`${label}: debug info from ${dwarf.debugPath}; open ${openMs.toFixed(1)} ms, first functionAt+line ${firstMs.toFixed(0)} ms,`
      + ` same unit again ${secondMs.toFixed(2)} ms, lineFor in another unit ${lineMs.toFixed(0)} ms, ${pcs.length} more ${restMs.toFixed(0)} ms,`
      + ` inlinedCopies over every unit ${copiesMs.toFixed(0)} ms (${copies.length} copies); addr2line and llvm-symbolizer`
      + ` disagreed with each other on ${disagreements} of ${pcs.length} pcs`);
  });

  test(`${label}: frameRuleFor agrees with readelf --debug-dump=frames-interp on every FDE of .eh_frame`, (t) => {
    if (!existsSync(path)) {
      t.skip(`${path} is not on this machine`);
      return;
    }
    const dwarf = openDwarf(openElf(path), { debugFile: null });
    const fdes = readelfFrames(path);
    const started = performance.now();
    let rows = 0;
    for (const fde of fdes) {
      fde.rows.forEach((row, i) => {
        const end = fde.rows[i + 1]?.loc ?? fde.end;
        for (const pc of end - 1n > row.loc ? [row.loc, end - 1n] : [row.loc]) {
          const rule = dwarf.frameRuleFor(pc);
          assert.ok(rule, `${hex(pc)}: a rule`);
          const mine = dwarf.describeFrameRule(rule);
          assert.equal(mine.cfa, row.cfa, `CFA at ${hex(pc)}`);
          const theirs = Object.fromEntries(Object.entries(row.registers).filter(([, v]) => v !== 'u'));
          assert.deepEqual(Object.fromEntries(Object.entries(mine.registers).filter(([, v]) => v !== 'u')), theirs, `rules at ${hex(pc)}`);
          rows++;
        }
      });
    }
    const ms = performance.now() - started;
    assert.ok(rows > 1000, `${rows} rows`);
    t.diagnostic(`${label}: ${fdes.length} FDEs, ${rows} lookups in ${ms.toFixed(0)} ms (${((ms * 1000) / rows).toFixed(1)} µs each, through .eh_frame_hdr)`);
  });
}
