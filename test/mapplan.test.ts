// Unit tests for src/patch/mapplan.ts: libraries built with gcc here, planned at a base, the plan's bytes read back at run-time addresses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HotpatchError } from '../src/errors.js';
import { openElf, parseElf } from '../src/elf/reader.js';
import { PT_GNU_RELRO, PT_LOAD, PT_TLS } from '../src/elf/constants.js';
import {
  R_X86_64_64, R_X86_64_COPY, R_X86_64_DTPMOD64, R_X86_64_DTPOFF64, R_X86_64_GLOB_DAT,
  R_X86_64_JUMP_SLOT, R_X86_64_PC32, R_X86_64_RELATIVE, R_X86_64_TPOFF64,
} from '../src/arch/x86_64/relocations.js';
import { PROT } from '../src/process/steps.js';
import type { ElfFile, ElfRelocation, ElfSymbol } from '../src/elf/types.js';
import { planMapLoad, segmentsSpan, type MapPlan, type SymbolBinder } from '../src/patch/mapplan.js';

const PROT_READ = Number(PROT.READ);
const PROT_WRITE = Number(PROT.WRITE);
const PROT_EXEC = Number(PROT.EXEC);
import { patchPath, repoRoot } from './helpers/fixtures.js';

// An address like a real mmap would give near a PIE; page-aligned and with high bits set so 32-bit truncation shows.
const BASE = 0x7f3a_1234_5000n;
const PAGE = 0x1000n;

const SOURCES: Record<string, string> = {
  'reloc.c': `static int f1(int x) { return x + 1; }
static int f2(int x) { return x * 2; }
const char *greeting = "hello, world";
int (*table[2])(int) = { f1, f2 };
static int (*const ctable[2])(int) = { f2, f1 };
int call(int i, int x) { return table[i & 1](x); }
int ccall(int i, int x) { return ctable[i & 1](x); }
`,
  'ext.c': `extern int ext_fn(int);
extern int ext_var;
int *ext_ptr = &ext_var + 1;
int use(int x) { return ext_fn(x) + ext_var + *ext_ptr; }
`,
  'ctor.c': `int ready;
__attribute__((constructor)) static void setup(void) { ready = 42; }
int get_ready(void) { return ready; }
`,
  'weak.c': `extern int maybe_fn(void) __attribute__((weak));
extern int maybe_var __attribute__((weak));
int *maybe_ptr = &maybe_var + 2;
int call_maybe(void) { return maybe_fn ? maybe_fn() : -1; }
`,
  'missing.c': `extern int gone_fn(void);
extern int gone_var;
extern int here_fn(void);
int f(void) { return gone_fn() + gone_var + here_fn(); }
`,
  'tls.c': `__thread int t;
int get_t(void) { return ++t; }
`,
  'ext-tls.c': `extern __thread int ext_tls __attribute__((weak));
int bump_ext(void) { return ++ext_tls; }
`,
  'ifunc.c': `static int impl(void) { return 1; }
static int (*resolve(void))(void) { return impl; }
__attribute__((visibility("hidden"))) int fn(void) __attribute__((ifunc("resolve")));
int call_fn(void) { return fn(); }
`,
  'ctorweak.c': `extern void maybe_ctor(void) __attribute__((weak));
int weak_ready;
__attribute__((constructor)) static void setup(void) { weak_ready = 1; }
__attribute__((used, section(".init_array"))) static void (*weak_entry)(void) = maybe_ctor;
`,
  'exe.c': 'int main(void) { return 0; }\n',
};

let dir = '';
const lib: Record<string, string> = {};

function gcc(output: string, args: string[]): string {
  const path = join(dir, output);
  execFileSync('gcc', ['-o', path, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  lib[output] = path;
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotpatch-mapplan-'));
  for (const [name, text] of Object.entries(SOURCES)) writeFileSync(join(dir, name), text);
  const so = ['-shared', '-fPIC', '-O2'];
  gcc('reloc.so', [...so, 'reloc.c']);
  // Linked to start at 2 MiB, as prelinked libraries did: the load bias is then not the base.
  gcc('reloc-high.so', [...so, '-Wl,-Ttext-segment=0x200000', 'reloc.c']);
  gcc('ext.so', [...so, 'ext.c']);
  gcc('ext-now.so', [...so, '-fno-plt', '-Wl,-z,now', 'ext.c']);
  gcc('ctor.so', [...so, 'ctor.c']);
  gcc('ctor-bare.so', [...so, '-nostartfiles', 'ctor.c']);
  gcc('ctorweak.so', [...so, '-nostartfiles', 'ctorweak.c']);
  gcc('weak.so', [...so, 'weak.c']);
  gcc('missing.so', [...so, 'missing.c']);
  gcc('tls.so', [...so, 'tls.c']);
  gcc('ext-tls.so', [...so, 'ext-tls.c']);
  gcc('ext-tls-ie.so', [...so, '-ftls-model=initial-exec', 'ext-tls.c']);
  gcc('ext-tls-desc.so', [...so, '-mtls-dialect=gnu2', 'ext-tls.c']);
  gcc('ifunc.so', [...so, 'ifunc.c']);
  gcc('exe-nopie', ['-no-pie', 'exe.c']);
  gcc('exe-pie', ['-pie', '-fPIE', 'exe.c']);
  // The fixture build is incremental and renames outputs into place: safe to run when another test does too.
  if (!existsSync(patchPath('patch_tick'))) {
    execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build-fixtures.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------
// reading a plan back as the target would see it

/** Bytes at run-time addresses: zero (fresh anonymous memory) except where the plan writes. */
function readBack(plan: MapPlan, base: bigint, address: bigint, length: number): Buffer {
  assert.ok(address >= base && address + BigInt(length) <= base + plan.size,
    `0x${address.toString(16)} (+${length}) lies outside the reservation`);
  const out = Buffer.alloc(length);
  for (const w of plan.writes) {
    const start = base + w.offset;
    const end = start + BigInt(w.bytes.length);
    const from = address > start ? address : start;
    const to = address + BigInt(length) < end ? address + BigInt(length) : end;
    if (from >= to) continue;
    w.bytes.copy(out, Number(from - address), Number(from - start), Number(to - start));
  }
  return out;
}

function word(plan: MapPlan, base: bigint, address: bigint): bigint {
  return readBack(plan, base, address, 8).readBigUInt64LE(0);
}

function protAt(plan: MapPlan, base: bigint, address: bigint): number {
  const offset = address - base;
  const range = plan.protections.find((p) => offset >= p.offset && offset < p.offset + p.size);
  assert.ok(range, `no protection covers 0x${address.toString(16)}`);
  return range.prot;
}

/** The invariants every plan keeps: page-aligned, sorted, contiguous, non-overlapping, covering the whole reservation. */
function checkShape(plan: MapPlan, elf: ElfFile): void {
  assert.equal(plan.size % PAGE, 0n, 'size is page-aligned');
  assert.equal(plan.firstVaddr % PAGE, 0n, 'firstVaddr is page-aligned');
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  const end = loads.reduce((m, s) => (s.vaddr + s.memsz > m ? s.vaddr + s.memsz : m), 0n);
  assert.ok(plan.firstVaddr + plan.size >= end && plan.firstVaddr + plan.size - end < PAGE, 'size reaches the last segment end, rounded up');
  let at = 0n;
  for (const p of plan.protections) {
    assert.equal(p.offset, at, 'protections are contiguous, in order');
    assert.equal(p.offset % PAGE, 0n);
    assert.equal(p.size % PAGE, 0n);
    assert.ok(p.size > 0n);
    assert.ok(p.prot >= 0 && p.prot <= 7);
    at += p.size;
  }
  assert.equal(at, plan.size, 'protections cover the reservation');
  for (const w of plan.writes) {
    assert.ok(w.offset >= 0n && w.offset + BigInt(w.bytes.length) <= plan.size, 'each write lies inside the reservation');
  }
  assert.deepEqual(segmentsSpan(elf), { firstVaddr: plan.firstVaddr, size: plan.size });
}

function symbol(elf: ElfFile, name: string): ElfSymbol {
  const found = elf.symbols().find((s) => s.name === name && s.defined);
  assert.ok(found, `${name} is defined in ${elf.path}`);
  return found;
}

function runtime(plan: MapPlan, base: bigint, vaddr: bigint): bigint {
  return base + vaddr - plan.firstVaddr;
}

/** A binder over a fixed table that counts its calls; names outside the table are not found. */
function tableBinder(table: Record<string, bigint>): SymbolBinder & { calls: string[] } {
  const calls: string[] = [];
  const bind: SymbolBinder = (name) => {
    calls.push(name);
    const address = table[name];
    return address === undefined ? undefined : { address, description: `target!${name}` };
  };
  return Object.assign(bind, { calls });
}

const noBinder: SymbolBinder = () => undefined;

function withOverrides(elf: ElfFile, overrides: Partial<ElfFile>): ElfFile {
  return { ...elf, ...overrides };
}

function rejectsWith(fn: () => unknown, code: string, message?: RegExp): HotpatchError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof HotpatchError, `expected a HotpatchError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

// ---------------------------------------------------------------------------------------------------------------
// relocations applied

for (const name of ['reloc.so', 'reloc-high.so']) test(`RELATIVE (${name}): a pointer to a string and function pointer tables hold run-time addresses`, () => {
  const elf = openElf(lib[name]);
  if (name === 'reloc-high.so') assert.equal(segmentsSpan(elf).firstVaddr, 0x200000n);
  const own = new Set(['greeting', 'table', 'call', 'ccall']);
  const plan = planMapLoad(elf, BASE, (name) => {
    // Only the crt files' weak references (__cxa_finalize …) may go out; the library's own names resolve inside it.
    assert.ok(!own.has(name), `the binder was asked for the library's own ${name}`);
    return undefined;
  });
  checkShape(plan, elf);

  const greeting = runtime(plan, BASE, symbol(elf, 'greeting').value);
  const text = word(plan, BASE, greeting);
  assert.equal(readBack(plan, BASE, text, 13).toString('latin1'), 'hello, world\0');

  const table = runtime(plan, BASE, symbol(elf, 'table').value);
  const f1 = runtime(plan, BASE, symbol(elf, 'f1').value);
  const f2 = runtime(plan, BASE, symbol(elf, 'f2').value);
  assert.equal(word(plan, BASE, table), f1);
  assert.equal(word(plan, BASE, table + 8n), f2);
  const ctable = runtime(plan, BASE, symbol(elf, 'ctable').value);
  assert.equal(word(plan, BASE, ctable), f2);
  assert.equal(word(plan, BASE, ctable + 8n), f1);

  // Every RELATIVE place, not only the ones above: B + A.
  const relatives = elf.relocations().filter((r) => r.type === R_X86_64_RELATIVE);
  assert.ok(relatives.length >= 5);
  for (const r of relatives) assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), runtime(plan, BASE, r.addend));

  // `table` is exported, so the code reaches it through a GOT slot: bound inside the library.
  const got = elf.relocations().find((r) => r.symName === 'table' && r.type === R_X86_64_GLOB_DAT);
  assert.ok(got, 'call() reads table through the GOT');
  assert.equal(word(plan, BASE, runtime(plan, BASE, got.offset)), table);
  const binding = plan.bindings.find((b) => b.symbol === 'table');
  assert.deepEqual(binding, {
    symbol: 'table', address: table, description: `${name}!table`, type: 'R_X86_64_GLOB_DAT',
    place: runtime(plan, BASE, got.offset), internal: true,
  });

  // Code is written as in the file.
  const call = symbol(elf, 'call');
  assert.deepEqual(readBack(plan, BASE, runtime(plan, BASE, call.value), call.size), elf.readVirtual(call.value, call.size));
});

for (const name of ['reloc.so', 'reloc-high.so']) test(`protections (${name}): text R+X, data R+W, RELRO read-only after relocation`, () => {
  const elf = openElf(lib[name]);
  const plan = planMapLoad(elf, BASE, noBinder);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, symbol(elf, 'call').value)), PROT_READ | PROT_EXEC);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, symbol(elf, 'greeting').value)), PROT_READ | PROT_WRITE);
  // ctable is const with relocations: .data.rel.ro, inside GNU_RELRO.
  const relro = elf.segments.find((s) => s.type === PT_GNU_RELRO);
  assert.ok(relro);
  const ctable = symbol(elf, 'ctable').value;
  assert.ok(ctable >= relro.vaddr && ctable < relro.vaddr + relro.memsz, 'ctable is in RELRO');
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, ctable)), PROT_READ);
  // The ELF header page: read-only, not executable.
  assert.equal(protAt(plan, BASE, BASE), PROT_READ);
  // Whatever the file's layout, every PT_LOAD page carries at least its own permissions (union where shared)...
  for (const s of elf.segments.filter((x) => x.type === PT_LOAD)) {
    const want = (s.flags & 4 ? PROT_READ : 0) | (s.flags & 1 ? PROT_EXEC : 0);
    for (let page = s.vaddr - (s.vaddr % PAGE); page < s.vaddr + s.memsz; page += PAGE) {
      const got = protAt(plan, BASE, runtime(plan, BASE, page));
      assert.equal(got & want, want, `page 0x${page.toString(16)}`);
    }
  }
  // ...and writable exactly where a writable segment is and RELRO is not.
  const writable = plan.protections.filter((p) => p.prot & PROT_WRITE);
  assert.ok(writable.length > 0);
  for (const p of writable) {
    assert.ok(p.offset + plan.firstVaddr >= relro.vaddr + relro.memsz - ((relro.vaddr + relro.memsz) % PAGE),
      'no writable page below the end of RELRO');
  }
});

test('undefined symbols go to the binder: GLOB_DAT, JUMP_SLOT, R_X86_64_64 with addend', () => {
  for (const name of ['ext.so', 'ext-now.so']) {
    const elf = openElf(lib[name]);
    const fn = 0x7f00_1234_5670n;
    const variable = 0x5555_5555_8010n;
    const bind = tableBinder({ ext_fn: fn, ext_var: variable });
    const plan = planMapLoad(elf, BASE, bind);
    checkShape(plan, elf);
    assert.equal(bind.calls.filter((c) => c === 'ext_fn').length, 1, `${name}: the binder is asked once per name`);
    assert.equal(bind.calls.filter((c) => c === 'ext_var').length, 1);

    const refs = elf.relocations().filter((r) => r.symName === 'ext_fn' || r.symName === 'ext_var');
    const fnSlots = refs.filter((r) => r.symName === 'ext_fn' && (r.type === R_X86_64_JUMP_SLOT || r.type === R_X86_64_GLOB_DAT));
    assert.ok(fnSlots.length >= 1, `${name}: ext_fn has a GOT slot`);
    const pointer = refs.find((r) => r.symName === 'ext_var' && r.type === R_X86_64_64);
    assert.ok(pointer, `${name}: ext_ptr = &ext_var + 1 is an R_X86_64_64`);
    assert.equal(pointer.addend, 4n);
    assert.equal(word(plan, BASE, runtime(plan, BASE, pointer.offset)), variable + 4n);
    for (const r of refs) {
      const s = r.symName === 'ext_fn' ? fn : variable;
      const want = r.type === R_X86_64_64 ? s + r.addend : s;
      assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), want, `${name}: ${r.symName} at 0x${r.offset.toString(16)}`);
      assert.ok(plan.bindings.some((b) => b.symbol === r.symName && b.place === runtime(plan, BASE, r.offset)
        && b.address === s && b.description === `target!${r.symName}` && !b.internal));
    }
    if (name === 'ext.so') {
      // Lazy binding: the file's slot points into the PLT, so writing S is visible.
      const lazy = fnSlots.find((r) => r.type === R_X86_64_JUMP_SLOT);
      assert.ok(lazy, 'ext.so calls ext_fn through the PLT');
      assert.notEqual(elf.readVirtual(lazy.offset, 8)?.readBigUInt64LE(0), fn);
      assert.ok(plan.bindings.some((b) => b.symbol === 'ext_fn' && b.type === 'R_X86_64_JUMP_SLOT'));
    }
    // glibc's crt files leave weak references (__cxa_finalize …): unresolved here, so 0 and listed.
    for (const weakName of plan.unresolvedWeak) {
      assert.ok(!plan.bindings.some((b) => b.symbol === weakName));
      for (const r of elf.relocations().filter((x) => x.symName === weakName)) {
        assert.equal(r.sym?.bind, 'weak');
        assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), r.type === R_X86_64_64 ? r.addend : 0n);
      }
    }
  }
});

test('weak undefined symbols: 0 when unresolved (plus addend), the binder\'s address when found', () => {
  const elf = openElf(lib['weak.so']);
  const plan = planMapLoad(elf, BASE, noBinder);
  checkShape(plan, elf);
  assert.ok(plan.unresolvedWeak.includes('maybe_fn'));
  assert.ok(plan.unresolvedWeak.includes('maybe_var'));
  assert.ok(!plan.bindings.some((b) => b.symbol === 'maybe_fn' || b.symbol === 'maybe_var'));
  const ptr = runtime(plan, BASE, symbol(elf, 'maybe_ptr').value);
  assert.equal(word(plan, BASE, ptr), 8n, 'maybe_ptr = &maybe_var + 2 with maybe_var at 0');
  const fnRefs = elf.relocations().filter((r) => r.symName === 'maybe_fn');
  assert.ok(fnRefs.length > 0);
  for (const r of fnRefs) assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), 0n);

  const found = planMapLoad(elf, BASE, tableBinder({ maybe_fn: 0x4010_00n, maybe_var: 0x4020_00n }));
  assert.ok(!found.unresolvedWeak.includes('maybe_fn'));
  assert.equal(word(found, BASE, ptr), 0x4020_00n + 8n);
  for (const r of fnRefs) assert.equal(word(found, BASE, runtime(found, BASE, r.offset)), 0x4010_00n);
  assert.ok(found.bindings.some((b) => b.symbol === 'maybe_fn' && b.description === 'target!maybe_fn'));
});

test('missing strong symbols: E_UNRESOLVED names every one, not the found ones', () => {
  const elf = openElf(lib['missing.so']);
  const err = rejectsWith(() => planMapLoad(elf, BASE, tableBinder({ here_fn: 0x1000n })), 'E_UNRESOLVED');
  assert.match(err.message, /gone_fn/);
  assert.match(err.message, /gone_var/);
  assert.doesNotMatch(err.message, /here_fn/);
  assert.match(err.message, /2 undefined symbols/);
  assert.match(err.hint ?? '', /--bind/);
});

test('constructors: DT_INIT then DT_INIT_ARRAY, at relocated run-time addresses', () => {
  const elf = openElf(lib['ctor.so']);
  const plan = planMapLoad(elf, BASE, noBinder);
  const setup = runtime(plan, BASE, symbol(elf, 'setup').value);
  const init = elf.dynamic()?.init;
  assert.ok(init !== undefined, 'gcc links crti _init into a library');
  assert.equal(plan.initFunctions[0], runtime(plan, BASE, init));
  assert.equal(plan.initFunctions[plan.initFunctions.length - 1], setup);
  for (const f of plan.initFunctions) assert.equal(protAt(plan, BASE, f) & PROT_EXEC, PROT_EXEC, 'constructors are code');

  // Without crt files the array holds only setup: exactly one entry, read from the relocated image.
  const bare = openElf(lib['ctor-bare.so']);
  const barePlan = planMapLoad(bare, BASE, noBinder);
  assert.deepEqual(barePlan.initFunctions, [runtime(barePlan, BASE, symbol(bare, 'setup').value)]);

  // An init_array entry naming an absent weak function holds 0 after relocation: never offered as a call.
  const weak = openElf(lib['ctorweak.so']);
  const weakSetup = runtime(barePlan, BASE, symbol(weak, 'setup').value);
  assert.deepEqual(planMapLoad(weak, BASE, noBinder).initFunctions, [weakSetup]);
  const bound = planMapLoad(weak, BASE, tableBinder({ maybe_ctor: 0x5555_0000_1230n })).initFunctions;
  assert.deepEqual([...bound].sort(), [weakSetup, 0x5555_0000_1230n].sort());
});

test('a library with thread-local variables of its own is refused, by segment and by relocation, naming no load method', () => {
  const elf = openElf(lib['tls.so']);
  const err = rejectsWith(() => planMapLoad(elf, BASE, noBinder), 'E_UNSUPPORTED_RELOC', /thread-local/);
  assert.match(err.message, /PT_TLS/);
  // Whether another method would take it is the loader's call (src/patch/precheck.ts), not the planner's.
  assert.doesNotMatch(`${err.message} ${err.hint}`, /--method/);
  // A file whose PT_TLS were lost still has its TLS relocations against its own variable: refused by those, and named.
  const noSegment = withOverrides(elf, { segments: elf.segments.filter((s) => s.type !== PT_TLS) });
  const byReloc = rejectsWith(() => planMapLoad(noSegment, BASE, noBinder), 'E_UNSUPPORTED_RELOC', /its own thread-local/);
  assert.match(byReloc.message, /R_X86_64_DTP(MOD|OFF)64|R_X86_64_TPOFF64/);
  assert.doesNotMatch(`${byReloc.message} ${byReloc.hint}`, /--method/);
});

test('references to the target\'s thread-local variables: module id and offset (general dynamic), thread-pointer offset (initial exec)', () => {
  const tls = { module: 'prog', offset: 0x1cn, moduleId: 1n, threadPointerOffset: -4n };
  const getAddr = 0x7f11_2233_0000n;
  const bind: SymbolBinder = (name) => (name === 'ext_tls' ? { tls, description: 'prog.c:ext_tls' } : name === '__tls_get_addr' ? { address: getAddr, description: 'ld.so!__tls_get_addr' } : undefined);
  for (const [file, model] of [['ext-tls.so', 'gd'], ['ext-tls-ie.so', 'ie']] as const) {
    const elf = openElf(lib[file]);
    const plan = planMapLoad(elf, BASE, bind);
    const refs = elf.relocations().filter((r) => r.symName === 'ext_tls');
    const types = refs.map((r) => r.type).sort();
    assert.deepEqual(types, model === 'gd' ? [R_X86_64_DTPMOD64, R_X86_64_DTPOFF64] : [R_X86_64_TPOFF64], `${file}: the relocations gcc made`);
    for (const r of refs) {
      const expected = r.type === R_X86_64_DTPMOD64 ? 1n : r.type === R_X86_64_DTPOFF64 ? 0x1cn + r.addend : BigInt.asUintN(64, -4n + r.addend);
      assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), expected, `${file}: ${r.type}`);
    }
    const b = plan.bindings.find((x) => x.symbol === 'ext_tls');
    assert.ok(b && b.tls === tls && b.address === undefined, 'a thread-local binding carries its TLS target, no address');
  }
  // What hotpatch cannot place (a library's variable) is refused with the reason; an ordinary symbol is a mismatch.
  const library = { module: 'libx.so', offset: 8n, unknownWhy: 'ext_tls is a thread-local variable of libx.so, not of the executable' };
  for (const file of ['ext-tls.so', 'ext-tls-ie.so']) {
    const err = rejectsWith(() => planMapLoad(openElf(lib[file]), BASE, (name) => (name === 'ext_tls' ? { tls: library, description: 'libx.so!ext_tls' } : bind(name, undefined as never))), 'E_UNSUPPORTED_RELOC', /libx\.so, not of the executable/);
    assert.doesNotMatch(`${err.message} ${err.hint}`, /--method/);
    rejectsWith(() => planMapLoad(openElf(lib[file]), BASE, tableBinder({ ext_tls: 0x5555_0000_1000n, __tls_get_addr: getAddr })), 'E_TLS_MISMATCH', /not thread-local/);
  }
  // A weak reference nobody defines stays 0, as ld.so leaves it.
  const weak = openElf(lib['ext-tls.so']);
  const plan = planMapLoad(weak, BASE, tableBinder({ __tls_get_addr: getAddr }));
  for (const r of weak.relocations().filter((x) => x.symName === 'ext_tls')) assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), 0n);
  assert.ok(plan.unresolvedWeak.includes('ext_tls'));
});

test('IRELATIVE (ifunc) is refused, naming no load method', () => {
  const elf = openElf(lib['ifunc.so']);
  assert.ok(elf.relocations().some((r) => r.type === 37), 'a hidden ifunc gives an R_X86_64_IRELATIVE');
  const err = rejectsWith(() => planMapLoad(elf, BASE, noBinder), 'E_UNSUPPORTED_RELOC', /IRELATIVE/);
  assert.doesNotMatch(`${err.message} ${err.hint}`, /--method/);
});

test('TLS descriptors (-mtls-dialect=gnu2) are refused with the way to rebuild', () => {
  const elf = openElf(lib['ext-tls-desc.so']);
  rejectsWith(() => planMapLoad(elf, BASE, noBinder), 'E_UNSUPPORTED_RELOC', /TLSDESC/);
});

test('other unsupported types are all named; text relocations refused', () => {
  const elf = openElf(patchPath('patch_tick'));
  const extra: ElfRelocation[] = [
    { offset: 0n, type: R_X86_64_COPY, symIndex: 0, symName: '', addend: 0n, table: 'rela.dyn' },
    { offset: 0n, type: 99, symIndex: 0, symName: '', addend: 0n, table: 'rela.dyn' },
  ];
  const odd = withOverrides(elf, { relocations: () => [...elf.relocations(), ...extra] });
  const err = rejectsWith(() => planMapLoad(odd, BASE, noBinder), 'E_UNSUPPORTED_RELOC', /R_X86_64_COPY/);
  assert.match(err.message, /R_X86_64_99/);

  const dynamic = elf.dynamic();
  assert.ok(dynamic);
  const textrel = withOverrides(elf, { dynamic: () => ({ ...dynamic, hasTextrel: true }) });
  rejectsWith(() => planMapLoad(textrel, BASE, noBinder), 'E_TEXTREL', /DT_TEXTREL/);
});

test('refuses what is not an x86-64 shared library, and a base that is not page-aligned', () => {
  rejectsWith(() => planMapLoad(openElf(lib['exe-nopie']), BASE, noBinder), 'E_NOT_DYN', /ET_DYN/);
  rejectsWith(() => planMapLoad(openElf(lib['exe-pie']), BASE, noBinder), 'E_NOT_DYN', /executable/);
  const elf = openElf(patchPath('patch_tick'));
  rejectsWith(() => planMapLoad(withOverrides(elf, { machine: 183 }), BASE, noBinder), 'E_ARCH', /x86-64/);
  rejectsWith(() => planMapLoad(elf, BASE + 0x10n, noBinder), 'E_BAD_BASE');
});

// ---------------------------------------------------------------------------------------------------------------
// the real fixture, and places the compilers do not make for us

test('fixture patch_tick.so: own GOT slot, libc binding, constructors, exports, protections', () => {
  const elf = openElf(patchPath('patch_tick'));
  const cxa = 0x7f11_2233_4450n;
  const bind = tableBinder({ __cxa_finalize: cxa });
  const plan = planMapLoad(elf, BASE, bind);
  checkShape(plan, elf);
  assert.ok(!bind.calls.includes('hp_orig_tick'), 'the patch\'s own hp_orig_tick never goes to the target');

  const hpOrig = symbol(elf, 'hp_orig_tick');
  const slot = elf.relocations().find((r) => r.symName === 'hp_orig_tick');
  assert.ok(slot);
  assert.equal(word(plan, BASE, runtime(plan, BASE, slot.offset)), runtime(plan, BASE, hpOrig.value));
  assert.ok(plan.bindings.some((b) => b.symbol === 'hp_orig_tick' && b.internal && b.description === 'patch_tick.so!hp_orig_tick'));
  for (const r of elf.relocations().filter((x) => x.symName === '__cxa_finalize')) {
    assert.equal(word(plan, BASE, runtime(plan, BASE, r.offset)), cxa);
    assert.ok(plan.bindings.some((b) => b.symbol === '__cxa_finalize' && b.address === cxa
      && b.description === 'target!__cxa_finalize' && b.place === runtime(plan, BASE, r.offset)));
  }
  assert.ok(!plan.unresolvedWeak.includes('__cxa_finalize'));

  const init = elf.dynamic()?.init;
  assert.ok(init !== undefined);
  assert.equal(plan.initFunctions[0], runtime(plan, BASE, init));
  assert.ok(plan.initFunctions.includes(runtime(plan, BASE, symbol(elf, 'frame_dummy').value)));

  for (const name of ['tick_v2', 'tick_wrap', 'hp_orig_tick']) {
    const s = symbol(elf, name);
    const e = plan.exports.find((x) => x.name === name);
    assert.deepEqual(e, { name, address: runtime(plan, BASE, s.value), size: s.size, type: s.type });
  }
  assert.ok(!plan.exports.some((e) => e.name === '__cxa_finalize'), 'undefined symbols are not exports');
  assert.ok(!plan.exports.some((e) => e.name === 'frame_dummy'), 'locals are not exports');

  assert.equal(protAt(plan, BASE, runtime(plan, BASE, symbol(elf, 'tick_v2').value)), PROT_READ | PROT_EXEC);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, hpOrig.value)), PROT_READ | PROT_WRITE);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, slot.offset)), PROT_READ, 'the GOT is RELRO');

  // One write per PT_LOAD, at its own offset, no longer than its file bytes: no .bss zeros are shipped.
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  assert.equal(plan.writes.length, loads.length);
  for (const s of loads) {
    const w = plan.writes.find((x) => x.offset === s.vaddr - plan.firstVaddr);
    assert.ok(w);
    assert.equal(BigInt(w.bytes.length), s.filesz);
  }
});

test('a relocated place in .bss extends that segment\'s write with zeros up to it', () => {
  const elf = openElf(patchPath('patch_tick'));
  const hpOrig = symbol(elf, 'hp_orig_tick');
  const data = elf.segments.find((s) => s.type === PT_LOAD && hpOrig.value >= s.vaddr && hpOrig.value < s.vaddr + s.memsz);
  assert.ok(data);
  assert.ok(hpOrig.value >= data.vaddr + data.filesz, 'hp_orig_tick is in .bss');
  const tickV2 = symbol(elf, 'tick_v2').value;
  const extra: ElfRelocation = { offset: hpOrig.value, type: R_X86_64_RELATIVE, symIndex: 0, symName: '', addend: tickV2, table: 'rela.dyn' };
  const plan = planMapLoad(withOverrides(elf, { relocations: () => [...elf.relocations(), extra] }), BASE, noBinder);
  assert.equal(word(plan, BASE, runtime(plan, BASE, hpOrig.value)), runtime(plan, BASE, tickV2));
  const w = plan.writes.find((x) => x.offset === data.vaddr - plan.firstVaddr);
  assert.ok(w);
  assert.equal(BigInt(w.bytes.length), hpOrig.value + 8n - data.vaddr);
  assert.ok(w.bytes.subarray(Number(data.filesz), Number(hpOrig.value - data.vaddr)).every((b) => b === 0));
});

test('a page no PT_LOAD covers (a hole) gets no access at all', () => {
  const elf = openElf(patchPath('patch_tick'));
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  // The read-only .eh_frame segment between text and data: dropping it leaves a hole inside the span.
  const dropped = loads.find((s, i) => i > 0 && i < loads.length - 1 && s.flags === 4);
  assert.ok(dropped);
  const holed = withOverrides(elf, { segments: elf.segments.filter((s) => s !== dropped) });
  const plan = planMapLoad(holed, BASE, noBinder);
  checkShape(plan, holed);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, dropped.vaddr)), 0);
  assert.ok(!plan.writes.some((w) => w.offset === dropped.vaddr - plan.firstVaddr));
});

test('RELRO ending inside a page leaves that page writable, as ld.so does (both ends rounded down)', () => {
  const elf = openElf(patchPath('patch_tick'));
  const relro = elf.segments.find((s) => s.type === PT_GNU_RELRO);
  assert.ok(relro);
  const end = relro.vaddr + relro.memsz;
  assert.equal(end % PAGE, 0n, 'the linker ends RELRO on a page');
  const longer = { ...relro, memsz: relro.memsz + 0x10n, filesz: relro.filesz + 0x10n };
  const plan = planMapLoad(withOverrides(elf, { segments: elf.segments.map((s) => (s === relro ? longer : s)) }), BASE, noBinder);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, end - 8n)), PROT_READ);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, end)), PROT_READ | PROT_WRITE);
});

test('two segments sharing a page: the page gets the union of their permissions', () => {
  const elf = openElf(patchPath('patch_tick'));
  const text = elf.segments.find((s) => s.type === PT_LOAD && (s.flags & 1) !== 0);
  assert.ok(text && text.filesz > 0x40n);
  // Split the code segment in two within one page: code first, then a read-only tail.
  const cut = 0x40n;
  const head = { ...text, filesz: cut, memsz: cut };
  const tail = { ...text, flags: 4, offset: text.offset + cut, vaddr: text.vaddr + cut, filesz: text.filesz - cut, memsz: text.memsz - cut };
  const split = withOverrides(elf, { segments: elf.segments.flatMap((s) => (s === text ? [head, tail] : [s])) });
  const plan = planMapLoad(split, BASE, noBinder);
  checkShape(plan, split);
  assert.equal(protAt(plan, BASE, runtime(plan, BASE, text.vaddr)), PROT_READ | PROT_EXEC);
  assert.equal(plan.protections.filter((p) => p.offset === text.vaddr - plan.firstVaddr).length, 1, 'one range for the shared page');
  // Both halves are written, and together they are the code as in the file.
  const code = readBack(plan, BASE, runtime(plan, BASE, text.vaddr), Number(text.filesz));
  assert.deepEqual(code, elf.readVirtual(text.vaddr, Number(text.filesz)));
});

test('PC32: S + A - P as 32 bits when it fits, E_RELOC_OVERFLOW when not', () => {
  const elf = openElf(patchPath('patch_tick'));
  const hpOrig = symbol(elf, 'hp_orig_tick');
  const far: ElfSymbol = { name: 'far_fn', value: 0n, size: 0, type: 'func', bind: 'global', shndx: 0, defined: false, table: 'dynsym' };
  const extra: ElfRelocation = { offset: hpOrig.value, type: R_X86_64_PC32, symIndex: 99, symName: 'far_fn', sym: far, addend: -4n, table: 'rela.dyn' };
  const withPc32 = withOverrides(elf, { relocations: () => [...elf.relocations(), extra] });
  const place = BASE + hpOrig.value;
  const below = planMapLoad(withPc32, BASE, tableBinder({ far_fn: BASE - 0x1000_0000n }));
  assert.equal(readBack(below, BASE, place, 4).readInt32LE(0), Number(BASE - 0x1000_0000n - 4n - place));
  // The next 4 bytes stay untouched: PC32 writes 4 bytes, not 8.
  assert.equal(readBack(below, BASE, place + 4n, 4).readUInt32LE(0), 0);
  rejectsWith(() => planMapLoad(withPc32, BASE, tableBinder({ far_fn: BASE + 0x1_0000_0000n })), 'E_RELOC_OVERFLOW', /far_fn/);
});

test('works without section headers, through the dynamic segment alone', () => {
  const path = patchPath('patch_tick');
  const bytes = readFileSync(path);
  const bare = Buffer.from(bytes);
  bare.writeBigUInt64LE(0n, 0x28); // e_shoff
  bare.writeUInt16LE(0, 0x3c); // e_shnum
  bare.writeUInt16LE(0, 0x3e); // e_shstrndx
  const stripped = parseElf(bare, path);
  assert.equal(stripped.sections.length, 0);
  const bind = () => tableBinder({ __cxa_finalize: 0x7f00_0000_1000n });
  const want = planMapLoad(openElf(path), BASE, bind());
  const got = planMapLoad(stripped, BASE, bind());
  // The ELF header is inside the first PT_LOAD, so the three fields changed above are written as changed.
  const header = want.writes.find((w) => w.offset === 0n);
  assert.ok(header);
  bare.copy(header.bytes, 0x28, 0x28, 0x40);
  assert.deepEqual(got, want);
  assert.ok(got.bindings.length > 0 && got.initFunctions.length > 0 && got.exports.length > 0);
});

test('the plan moves with the base: every address shifts by the same amount', () => {
  const elf = openElf(lib['reloc.so']);
  const a = planMapLoad(elf, BASE, noBinder);
  const b = planMapLoad(elf, BASE + 0x20_0000n, noBinder);
  assert.deepEqual(b.protections, a.protections);
  assert.deepEqual(b.initFunctions, a.initFunctions.map((f) => f + 0x20_0000n));
  assert.deepEqual(b.exports.map((e) => e.address), a.exports.map((e) => e.address + 0x20_0000n));
  const greeting = symbol(elf, 'greeting').value;
  assert.equal(word(b, BASE + 0x20_0000n, runtime(b, BASE + 0x20_0000n, greeting)),
    word(a, BASE, runtime(a, BASE, greeting)) + 0x20_0000n);
});
