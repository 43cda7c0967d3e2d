// Backtraces from src/dwarf without a tracer of ours: gdb writes a core of the sleeping dwarf_inline fixture and prints
// its bt; openDwarf + unwindStep walk the same stack from the core's registers and memory, and must name the same
// frames (inlined ones included) at the same file:line.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openElf, parseElf } from '../src/elf/reader.js';
import { openDwarf, type Dwarf, type ReadMemory, type Registers } from '../src/dwarf/index.js';
import { decodeRegs } from '../src/arch/x86_64/regs.js';
import type { ElfFile } from '../src/elf/types.js';
import { startFixture } from './helpers/fixtures.js';

const PT_LOAD = 1;
const PT_NOTE = 4;
const NT_PRSTATUS = 1;
const NT_FILE = 0x46494c45;
/** Offset of pr_reg in the x86-64 struct elf_prstatus. */
const PRSTATUS_REGS_OFFSET = 112;

let dir = '';
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface CoreFile {
  registers: Registers;
  readMemory: ReadMemory;
  /** File-backed mappings: [start, end) and the file. */
  mappings: { start: bigint; end: bigint; offset: bigint; path: string }[];
}

function notesOf(core: ElfFile, bytes: Buffer): { type: number; desc: Buffer }[] {
  const notes: { type: number; desc: Buffer }[] = [];
  for (const segment of core.segments.filter((s) => s.type === PT_NOTE)) {
    let at = Number(segment.offset);
    const end = at + Number(segment.filesz);
    while (at + 12 <= end) {
      const nameSize = bytes.readUInt32LE(at);
      const descSize = bytes.readUInt32LE(at + 4);
      const type = bytes.readUInt32LE(at + 8);
      const descStart = at + 12 + Math.ceil(nameSize / 4) * 4;
      notes.push({ type, desc: bytes.subarray(descStart, descStart + descSize) });
      at = descStart + Math.ceil(descSize / 4) * 4;
    }
  }
  return notes;
}

/** The first thread's registers, the memory the core holds, and the NT_FILE mappings. */
function readCore(path: string): CoreFile {
  const bytes = readFileSync(path);
  const core = parseElf(bytes, path);
  const notes = notesOf(core, bytes);
  const prstatus = notes.find((n) => n.type === NT_PRSTATUS)!;
  const registers = decodeRegs(prstatus.desc.subarray(PRSTATUS_REGS_OFFSET)).values;
  const file = notes.find((n) => n.type === NT_FILE)!.desc;
  const count = Number(file.readBigUInt64LE(0));
  const pageSize = file.readBigUInt64LE(8);
  const names = file.subarray(16 + count * 24).toString('latin1').split('\0');
  const mappings = Array.from({ length: count }, (_, i) => ({
    start: file.readBigUInt64LE(16 + i * 24),
    end: file.readBigUInt64LE(24 + i * 24),
    offset: file.readBigUInt64LE(32 + i * 24) * pageSize,
    path: names[i],
  }));
  const loads = core.segments.filter((s) => s.type === PT_LOAD && s.filesz > 0n);
  const readMemory: ReadMemory = (address, length) => {
    const s = loads.find((l) => address >= l.vaddr && address + BigInt(length) <= l.vaddr + l.filesz);
    if (!s) return undefined;
    const at = Number(s.offset + (address - s.vaddr));
    return bytes.subarray(at, at + length);
  };
  return { registers, readMemory, mappings };
}

interface Module {
  path: string;
  loadBias: bigint;
  start: bigint;
  end: bigint;
  elf: ElfFile;
  dwarf: Dwarf;
}

function modulesOf(core: CoreFile): Module[] {
  const modules: Module[] = [];
  for (const path of new Set(core.mappings.map((m) => m.path))) {
    const maps = core.mappings.filter((m) => m.path === path);
    const first = maps.find((m) => m.offset === 0n);
    if (!first || !existsSync(path)) continue;
    const elf = openElf(path);
    const lowest = elf.segments.filter((s) => s.type === PT_LOAD).reduce((a, s) => (s.vaddr < a ? s.vaddr : a), 1n << 62n);
    modules.push({
      path, elf, dwarf: openDwarf(elf),
      loadBias: first.start - (lowest & ~0xfffn),
      start: maps.reduce((a, m) => (m.start < a ? m.start : a), first.start),
      end: maps.reduce((a, m) => (m.end > a ? m.end : a), first.end),
    });
  }
  return modules;
}

interface Frame {
  name: string;
  where?: string;
  pc: bigint;
}

/** Our backtrace: each physical frame unwound with CFI, expanded into its inlined frames. */
function backtrace(core: CoreFile, modules: Module[], limit = 32): { frames: Frame[]; end: string } {
  const frames: Frame[] = [];
  let registers = core.registers;
  let pcIsReturnAddress = false;
  for (let i = 0; i < limit; i++) {
    const pc = registers.rip;
    const module = modules.find((m) => pc >= m.start && pc < m.end);
    if (!module) return { frames, end: `pc 0x${pc.toString(16)} in no module` };
    const lookup = pc - module.loadBias - (pcIsReturnAddress ? 1n : 0n);
    const inlined = module.dwarf.functionAt(lookup);
    if (inlined.length === 0) {
      const symbol = module.elf.symbols().find((s) => s.type === 'func' && lookup >= s.value && lookup < s.value + BigInt(s.size));
      frames.push({ name: symbol?.name ?? '??', pc });
    }
    for (const f of inlined) frames.push({ name: f.name, where: f.location && `${basename(f.location.file)}:${f.location.line}`, pc });
    const caller = module.dwarf.unwindStep(registers, core.readMemory, { loadBias: module.loadBias, pcIsReturnAddress });
    if (!caller) return { frames, end: 'outermost' };
    assert.ok(caller.cfa > (registers.rsp ?? 0n), 'the CFA is above the frame');
    registers = caller.registers;
    pcIsReturnAddress = caller.pcIsReturnAddress;
  }
  return { frames, end: 'limit' };
}

/** gdb's "bt" lines: "#3  chain_c (depth=...) at /path/dwarf_inline.c:66", "#1  0x… in name (...) at file:line". */
function parseGdbBacktrace(text: string): Frame[] {
  const frames: Frame[] = [];
  for (const line of text.split('\n')) {
    const m = /^#\d+\s+(?:0x([0-9a-f]+) in )?(\S+) \(.*?\)(?: at (\S+):(\d+))?/.exec(line);
    if (m) frames.push({ name: m[2], where: m[3] ? `${basename(m[3])}:${m[4]}` : undefined, pc: m[1] ? BigInt(`0x${m[1]}`) : 0n });
  }
  return frames;
}

test('unwindStep walks the sleeping chain from a core as gdb does: same frames, inlined ones included, same file:line', { timeout: 60_000 }, async (t) => {
  if (!existsSync('/usr/bin/gdb')) {
    t.skip('no gdb');
    return;
  }
  dir = mkdtempSync(join(tmpdir(), 'hotpatch-dwarf-core-'));
  const fixture = await startFixture('dwarf_inline', ['sleep']);
  const corePath = join(dir, 'core');
  let gdbText = '';
  try {
    // Give main the moment it needs to get from the printf into nanosleep.
    await new Promise((resolve) => setTimeout(resolve, 200));
    gdbText = execFileSync('gdb', ['-batch', '-nx', '-p', String(fixture.pid), '-ex', `generate-core-file ${corePath}`, '-ex', 'bt'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (err) {
    // The subject is our unwinder, not the machine's ptrace policy.
    if (!existsSync(corePath)) {
      t.skip(`gdb could not attach and write a core: ${(err as { stderr?: string }).stderr?.trim().split('\n').pop() ?? err}`);
      return;
    }
    throw err;
  } finally {
    await fixture.stop();
  }
  const expected = parseGdbBacktrace(gdbText);
  assert.ok(expected.length >= 6, `gdb's bt:\n${gdbText}`);
  const core = readCore(corePath);
  const modules = modulesOf(core);
  const started = performance.now();
  const ours = backtrace(core, modules);
  const ms = performance.now() - started;
  t.diagnostic(`gdb: ${expected.map((f) => f.name).join(' <- ')}`);
  t.diagnostic(`ours (${ms.toFixed(0)} ms, DWARF read on the way, libc's from its compressed debug file): ${ours.frames.map((f) => `${f.name}@${f.where ?? '?'}`).join(' <- ')}; ${ours.end}`);
  // gdb stops at main; ours goes on to _start, whose CFI ends the stack.
  assert.equal(ours.end, 'outermost');
  const mainAt = ours.frames.findIndex((f) => f.name === 'main');
  assert.equal(mainAt, expected.length - 1, 'main is where gdb ends');
  expected.forEach((want, i) => {
    const got = ours.frames[i];
    // gdb names libc's frames by their internal alias (__GI___clock_nanosleep); DWARF says __clock_nanosleep.
    assert.ok(want.name === got.name || want.name.endsWith(got.name), `frame ${i}: ${got.name} for gdb's ${want.name}`);
    assert.equal(got.where, want.where, `frame ${i} (${want.name}): file:line`);
    if (want.pc !== 0n) assert.equal(got.pc, want.pc, `frame ${i} pc`);
  });
  const chain = ours.frames.slice(0, mainAt + 1).map((f) => f.name).filter((n) => !n.includes('nanosleep'));
  assert.deepEqual(chain, ['wait_here', 'chain_c', 'chain_b', 'chain_a', 'main']);
});
