// Unit tests for src/elf: real files built with gcc here, checked against nm and readelf, plus errors and a fuzz run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HotpatchError } from '../src/errors.js';
import { openElf, parseElf } from '../src/elf/reader.js';
import { native, nativeHolderScan, nativeSymbolFileScan, nativeSymbolScan } from '../src/native.js';
import { crc32, crc32OfFile, findDebugFile, mergeDebugSymbols } from '../src/elf/debugfile.js';
import {
  R_X86_64_GLOB_DAT, R_X86_64_JUMP_SLOT, R_X86_64_RELATIVE, relocationTypeName,
} from '../src/arch/x86_64/relocations.js';
import type { ElfFile, ElfSymbol } from '../src/elf/types.js';
import { nameScreen, useNativeHolderScan, useNativeSymbolScan } from '../src/elf/symtab.js';

// ---------------------------------------------------------------------------------------------------------------
// the files under test, built once

const SOURCES: Record<string, string> = {
  'a.c': `#include <stdio.h>
static int counter = 1;
static int helper(int x) { return x + counter++; }
int global_a = 5;
int run_a(int x) { return helper(x); }
int run_b(int x);
int main(void) { printf("%d\\n", run_a(1) + run_b(2)); return 0; }
`,
  'b.c': `static int counter = 2;
static int helper(int x) { return x * counter++; }
int run_b(int x) { return helper(x) + helper(x + 1); }
`,
  'lib.c': `extern int ext_value;
extern int ext_func(int);
static int table[4];
int *ptrs[] = { &table[0], &table[1], &table[2], &table[3] };
int lib_call(int x) { return ext_func(x) + ext_value + *ptrs[x & 3]; }
int lib_other(void) { return 7; }
`,
  'symver.c': `int compat_old(void) { return 1; }
int compat_new(void) { return 2; }
__asm__(".symver compat_old, compat@VER_1");
__asm__(".symver compat_new, compat@@VER_2");
`,
  'lib.map': 'VER_1 { global: lib_call; local: *; };\nVER_2 { global: lib_other; } VER_1;\n',
};

let dir = '';
const built: Record<string, string> = {};
let relrSupported = false;

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function gcc(output: string, args: string[]): string {
  const path = join(dir, output);
  run('gcc', ['-O0', '-o', path, ...args]);
  built[output] = path;
  return path;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotpatch-elf-'));
  for (const [name, text] of Object.entries(SOURCES)) writeFileSync(join(dir, name), text);
  gcc('prog', ['-fPIE', '-pie', 'a.c', 'b.c']);
  gcc('lib.so', ['-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', 'lib.c']);
  gcc('libsysv.so', ['-shared', '-fPIC', '-Wl,--hash-style=sysv', 'lib.c']);
  gcc('libver.so', ['-shared', '-fPIC', '-Wl,--version-script=lib.map', 'lib.c', 'symver.c']);
  try {
    gcc('librelr.so', ['-shared', '-fPIC', '-Wl,-z,pack-relative-relocs', 'lib.c']);
    relrSupported = run('readelf', ['-d', built['librelr.so']]).includes('(RELR)');
  } catch {
    relrSupported = false;
  }
  built['prog.stripped'] = join(dir, 'prog.stripped');
  run('strip', ['-o', built['prog.stripped'], built['prog']]);
  // A stripped copy that names its debug file, the way distributions ship them.
  built['prog.debug'] = join(dir, 'prog.debug');
  built['linked'] = join(dir, 'linked');
  run('objcopy', ['--only-keep-debug', built['prog'], built['prog.debug']]);
  run('objcopy', ['--strip-all', `--add-gnu-debuglink=${built['prog.debug']}`, built['prog'], built['linked']]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------
// helpers

interface NmLine {
  value: bigint;
  size?: number;
  letter: string;
  name: string;
}

function nmDefined(path: string): NmLine[] {
  const text = execFileSync('nm', ['-S', '--defined-only', path], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines: NmLine[] = [];
  for (const line of text.split('\n')) {
    const withSize = /^([0-9a-f]+) ([0-9a-f]+) (\S) (.+)$/.exec(line);
    const withoutSize = /^([0-9a-f]+) (\S) (.+)$/.exec(line);
    if (withSize) {
      lines.push({ value: BigInt(`0x${withSize[1]}`), size: parseInt(withSize[2], 16), letter: withSize[3], name: withSize[4] });
    }
    else if (withoutSize) lines.push({ value: BigInt(`0x${withoutSize[1]}`), letter: withoutSize[2], name: withoutSize[3] });
  }
  return lines;
}

/** The index a test looks symbols up in: name → every symbol of that name. */
function byName(symbols: ElfSymbol[]): Map<string, ElfSymbol[]> {
  const map = new Map<string, ElfSymbol[]>();
  for (const symbol of symbols) {
    const list = map.get(symbol.name);
    if (list) list.push(symbol);
    else map.set(symbol.name, [symbol]);
  }
  return map;
}

/** Every nm line has a symbol of ours with the same value, size and binding (versions stripped from nm's names). */
function assertMatchesNm(elf: ElfFile): number {
  const ours = byName(elf.symbols());
  const lines = nmDefined(elf.path);
  for (const line of lines) {
    const candidates = ours.get(line.name) ?? ours.get(line.name.replace(/@.*$/, '')) ?? [];
    const match = candidates.find((s) => s.value === line.value);
    assert.ok(match, `${elf.path}: nm's ${line.name} at 0x${line.value.toString(16)} is missing`);
    if (line.size !== undefined) assert.equal(match.size, line.size, `size of ${line.name}`);
    const isLocal = line.letter === line.letter.toLowerCase() && !'vwu'.includes(line.letter);
    assert.equal(match.bind === 'local', isLocal, `binding of ${line.name} (nm letter ${line.letter})`);
    assert.ok(match.defined, `${line.name} is defined`);
  }
  return lines.length;
}

function readelfBuildId(path: string): string | undefined {
  return /Build ID: ([0-9a-f]+)/.exec(run('readelf', ['-n', path]))?.[1];
}

/** readelf -r: every relocation's offset and type name, from .rela.dyn, .rela.plt and .relr.dyn. */
function readelfRelocations(path: string): string[] {
  const found: string[] = [];
  let inRelr = false;
  for (const line of run('readelf', ['-rW', path]).split('\n')) {
    if (line.startsWith('Relocation section')) inRelr = line.includes('.relr');
    const rela = /^([0-9a-f]{16})\s+[0-9a-f]{16}\s+(R_X86_64_\w+)/.exec(line);
    if (rela) found.push(`${BigInt(`0x${rela[1]}`).toString(16)} ${rela[2]}`);
    else if (inRelr && /^[0-9a-f]{16}$/.test(line.trim())) found.push(`${BigInt(`0x${line.trim()}`).toString(16)} R_X86_64_RELATIVE`);
  }
  return found.sort();
}

function assertHotpatchError(work: () => unknown, code: string, messagePart?: string): void {
  assert.throws(work, (err: unknown) => {
    assert.ok(err instanceof HotpatchError, `expected a HotpatchError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (messagePart) assert.ok(err.message.includes(messagePart), `"${err.message}" should mention ${messagePart}`);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return true;
  });
}

function symbolNamed(elf: ElfFile, name: string): ElfSymbol {
  const symbol = elf.symbols().find((s) => s.name === name);
  assert.ok(symbol, `${name} in ${elf.path}`);
  return symbol;
}

// ---------------------------------------------------------------------------------------------------------------
// symbols

test('static symbols of two files keep apart by their STT_FILE', () => {
  const elf = openElf(built['prog']);
  for (const name of ['counter', 'helper']) {
    const found = elf.symbols().filter((s) => s.name === name);
    assert.deepEqual(found.map((s) => s.file).sort(), ['a.c', 'b.c'], name);
    assert.ok(found.every((s) => s.bind === 'local' && s.defined && s.table === 'symtab'), name);
    assert.notEqual(found[0].value, found[1].value, `${name}: two different addresses`);
  }
  const types: Array<[string, string, string, number]> = [
    ['counter', 'object', 'local', 4],
    ['global_a', 'object', 'global', 4],
    ['run_a', 'func', 'global', -1],
    ['main', 'func', 'global', -1],
  ];
  for (const [name, type, bind, size] of types) {
    const symbol = symbolNamed(elf, name);
    assert.equal(symbol.type, type, name);
    assert.equal(symbol.bind, bind, name);
    if (size >= 0) assert.equal(symbol.size, size, name);
    if (bind !== 'local') assert.equal(symbol.file, undefined, `${name}: globals carry no file`);
  }
});

test('a screened parse gives the same symbols with the native screen (the file mapped, or bytes in memory) as without it', () => {
  // Both scans present, or "native" below would be the TypeScript loop compared with itself.
  assert.ok(nativeSymbolScan() && nativeSymbolFileScan(), 'the addon has scanSymbols and scanSymbolsFile');
  const screens = [
    nameScreen('[^\\0]*ount[^\\0]*', '', 'ount'), nameScreen('run_[^\\0]*', 'run_'), nameScreen('[^\\0]*elp[^\\0]*', '', 'elp'),
    nameScreen('[^\\0]*Heap[^\\0]*', '', 'Heap'), nameScreen('uv_[^\\0]*', 'uv_'), nameScreen('[^\\0]*zzqq[^\\0]*', '', 'zzqq'),
  ];
  const plain = (symbols: ElfSymbol[]) => JSON.stringify(symbols, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  for (const file of [built['prog'], built['lib.so'], built['libver.so'], process.execPath]) {
    for (const screen of screens) {
      const native = plain(openElf(file).symbolsMatching!(screen));
      // From bytes in memory the addon screens the tables it is given (no file to map): the same answer.
      assert.equal(plain(parseElf(readFileSync(file), file).symbolsMatching!(screen)), native, `${file} in memory: ${screen.loose.source}`);
      useNativeSymbolScan(false);
      try {
        assert.equal(native, plain(openElf(file).symbolsMatching!(screen)), `${file}: ${screen.loose.source}`);
      } finally {
        useNativeSymbolScan(true);
      }
    }
  }
});

test('a screened parse lists what the whole merged list holds of those names (the .dynsym twins it skips change nothing)', () => {
  const screens = [
    nameScreen('[^\\0]*ount[^\\0]*', '', 'ount'), nameScreen('run_[^\\0]*', 'run_'), nameScreen('[^\\0]*ver[^\\0]*', '', 'ver'),
    nameScreen('[^\\0]*Heap[^\\0]*', '', 'Heap'), nameScreen('uv_[^\\0]*', 'uv_'), nameScreen('[^\\0]*mem[^\\0]*', '', 'mem'),
    // libver.so's versioned definitions: lib_call@@VER_1, lib_other@@VER_2, compat@VER_1 and compat@@VER_2.
    nameScreen('[^\\0]*ib_[^\\0]*', '', 'ib_'), nameScreen('compat[^\\0]*', 'compat'),
  ];
  const each = (symbols: ElfSymbol[]) => symbols.map((s) => JSON.stringify(s, (_, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  for (const file of [built['prog'], built['lib.so'], built['libver.so'], process.execPath, libc]) {
    const whole = openElf(file).symbols();
    for (const screen of screens) {
      const screened = openElf(file).symbolsMatching!(screen);
      assert.deepEqual(each(screened), each(whole.filter((s) => screen.loose.test(s.name))), `${file}: ${screen.loose.source}`);
    }
  }
});

test('the symbols holding addresses are the same with the native scan as without it (node and libc: statics, unsized, none)', () => {
  assert.ok(nativeHolderScan(), 'the addon has holdSymbols');
  const plain = (symbols: ElfSymbol[][]) => JSON.stringify(symbols, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  for (const file of [built['prog'], built['lib.so'], process.execPath, libc]) {
    const elf = openElf(file);
    const funcs = elf.symbols().filter((s) => s.type === 'func' && s.size > 0);
    assert.ok(funcs.length > 0, file);
    // Starts, middles and ends of functions spread over the file, a static when there is one, and addresses outside.
    const step = Math.max(1, Math.floor(funcs.length / 40));
    const addresses = funcs.filter((_, i) => i % step === 0).flatMap((f) => [f.value, f.value + BigInt(f.size >> 1), f.value + BigInt(f.size - 1)]);
    addresses.push(1n, 0x7fffffffffffn, funcs[0]!.value - 1n);
    const native = plain(elf.symbolsHolding!(addresses));
    useNativeHolderScan(false);
    try {
      assert.equal(native, plain(openElf(file).symbolsHolding!(addresses)), file);
    } finally {
      useNativeHolderScan(true);
    }
    assert.ok(JSON.parse(native).some((h: unknown[]) => h.length > 0), `${file}: some address is held`);
  }
});

test('no null, STT_SECTION or STT_FILE entries, and each symbol once', () => {
  for (const file of ['prog', 'lib.so', 'libver.so']) {
    const symbols = openElf(built[file]).symbols();
    assert.ok(symbols.every((s) => s.name !== '' || s.type !== 'notype'), `${file}: no null symbol`);
    assert.ok(symbols.every((s) => s.type !== 'section' && s.type !== 'file'), file);
    const keys = symbols.map((s) => `${s.name}@${s.value}@${s.file ?? ''}`);
    assert.equal(new Set(keys).size, keys.length, `${file}: duplicates`);
  }
});

for (const file of ['prog', 'lib.so', 'libver.so', 'prog.debug']) {
  test(`every defined symbol nm lists is found with its value, size and binding: ${file}`, () => {
    assert.ok(assertMatchesNm(openElf(built[file])) > 10);
  });
}

test('an imported function is one symbol: undefined, from .symtab, with its version', () => {
  const printf = openElf(built['prog']).symbols().filter((s) => s.name.startsWith('printf'));
  assert.equal(printf.length, 1);
  assert.equal(printf[0].name, 'printf');
  assert.equal(printf[0].defined, false);
  assert.equal(printf[0].table, 'symtab');
  assert.equal(printf[0].version, 'GLIBC_2.2.5');
});

test('version definitions name exported symbols; .symtab\'s name@@VER is merged into the plain name', () => {
  const elf = openElf(built['libver.so']);
  // compat@@VER_2 is written so in .symtab (by .symver) and as compat, version VER_2, in .dynsym.
  const cases: Array<[string, string, bigint]> = [
    ['lib_call', 'VER_1', symbolNamed(elf, 'lib_call').value],
    ['lib_other', 'VER_2', symbolNamed(elf, 'lib_other').value],
    ['compat', 'VER_2', symbolNamed(elf, 'compat_new').value],
  ];
  for (const [name, version, value] of cases) {
    const dynamic = elf.dynamicSymbols().find((s) => s.name === name);
    assert.equal(dynamic?.version, version, `.dynsym ${name}`);
    const merged = elf.symbols().filter((s) => s.bind !== 'local' && (s.name === name || s.name.startsWith(`${name}@`)));
    assert.deepEqual(merged.map((s) => [s.name, s.version, s.table, s.value]), [[name, version, 'symtab', value]]);
  }
  // The hidden old version stays local, under the name .symtab gives it.
  assert.equal(symbolNamed(elf, 'compat@VER_1').value, symbolNamed(elf, 'compat_old').value);
});

test('what the dynamic linker may bind: the non-default version (name@VER) and st_other\'s visibility are kept', () => {
  const source = join(dir, 'visible.c');
  writeFileSync(source, `int compat_old(void) { return 1; }
int compat_new(void) { return 2; }
__asm__(".symver compat_old, compat@VER_1");
__asm__(".symver compat_new, compat@@VER_2");
__attribute__((visibility("protected"))) int guarded(void) { return 3; }
__attribute__((visibility("hidden"))) int inner(void) { return 4; }
int plain(void) { return inner(); }
`);
  writeFileSync(join(dir, 'visible.map'), 'VER_1 { global: *; };\nVER_2 { } VER_1;\n');
  const elf = openElf(gcc('libvisible.so', ['-shared', '-fPIC', '-Wl,--version-script=visible.map', source]));
  const dynamic = (name: string, version: string) => elf.dynamicSymbols().find((s) => s.name === name && s.version === version);
  assert.equal(dynamic('compat', 'VER_1')?.versionHidden, true, 'compat@VER_1 is not the default');
  assert.equal(dynamic('compat', 'VER_2')?.versionHidden, undefined, 'compat@@VER_2 is');
  assert.equal(dynamic('guarded', 'VER_1')?.visibility, 'protected');
  assert.equal(dynamic('plain', 'VER_1')?.visibility, undefined, 'default visibility is left out');
  assert.equal(elf.dynamicSymbols().some((s) => s.name === 'inner'), false, 'a hidden symbol is not exported at all');
});

test('dynamicSymbols lines up with .dynsym indexes, 0 included', () => {
  for (const file of ['prog', 'lib.so', 'prog.stripped']) {
    const elf = openElf(built[file]);
    const dynsym = elf.dynamicSymbols();
    const readelfCount = Number(/'\.dynsym' contains (\d+) entries/.exec(run('readelf', ['--dyn-syms', '-W', built[file]]))?.[1]);
    assert.equal(dynsym.length, readelfCount, file);
    assert.deepEqual([dynsym[0].name, dynsym[0].defined, dynsym[0].value], ['', false, 0n]);
    assert.ok(dynsym.every((s) => s.table === 'dynsym'));
  }
});

test('a stripped file has no .symtab but keeps .dynsym', () => {
  const elf = openElf(built['prog.stripped']);
  assert.equal(elf.hasSymtab, false);
  assert.equal(openElf(built['prog']).hasSymtab, true);
  const symbols = elf.symbols();
  assert.ok(symbols.length > 0);
  assert.ok(symbols.every((s) => s.table === 'dynsym'));
  assert.equal(symbols.find((s) => s.name === 'helper'), undefined);
  assert.equal(symbols.find((s) => s.name === 'printf')?.version, 'GLIBC_2.2.5');
});

test('without section headers .dynsym is found through DT_GNU_HASH or DT_HASH', () => {
  for (const file of ['lib.so', 'libsysv.so']) {
    const bytes = readFileSync(built[file]);
    const expected = parseElf(bytes).dynamicSymbols().map((s) => `${s.name}@${s.version ?? ''}:${s.value}`);
    const headless = Buffer.from(bytes);
    headless.writeBigUInt64LE(0n, 40); // e_shoff
    headless.writeUInt16LE(0, 60); // e_shnum
    headless.writeUInt16LE(0, 62); // e_shstrndx
    const elf = parseElf(headless, `${file} without sections`);
    assert.equal(elf.sections.length, 0);
    assert.deepEqual(elf.dynamicSymbols().map((s) => `${s.name}@${s.version ?? ''}:${s.value}`), expected, file);
    assert.ok(elf.relocations().some((r) => r.symName === 'ext_func'), file);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// dynamic section and relocations

test('a shared library: ET_DYN, soname, and the relocations of what it imports', () => {
  const elf = openElf(built['lib.so']);
  assert.equal(elf.type, 3);
  assert.equal(elf.machine, 62);
  const dynamic = elf.dynamic();
  assert.ok(dynamic);
  assert.equal(dynamic.soname, 'libdemo.so.1');
  assert.equal(dynamic.hasTextrel, false);
  const expected: Array<[string, number, string]> = [
    ['ext_value', R_X86_64_GLOB_DAT, 'rela.dyn'],
    ['ext_func', R_X86_64_JUMP_SLOT, 'rela.plt'],
  ];
  const dynsym = elf.dynamicSymbols();
  for (const [name, type, table] of expected) {
    const found = elf.relocations().filter((r) => r.symName === name);
    assert.equal(found.length, 1, name);
    assert.equal(found[0].type, type, name);
    assert.equal(found[0].table, table, name);
    assert.equal(found[0].sym?.name, name);
    assert.equal(dynsym[found[0].symIndex].name, name);
    assert.equal(relocationTypeName(found[0].type), type === R_X86_64_GLOB_DAT ? 'R_X86_64_GLOB_DAT' : 'R_X86_64_JUMP_SLOT');
  }
});

test('an executable: DT_NEEDED, DT_INIT, DT_INIT_ARRAY, DT_FLAGS_1', () => {
  const dynamic = openElf(built['prog']).dynamic();
  assert.ok(dynamic);
  assert.ok(dynamic.needed.includes('libc.so.6'), dynamic.needed.join(','));
  assert.ok(dynamic.init !== undefined && dynamic.init > 0n);
  assert.ok(dynamic.initArray && dynamic.initArray.size % 8n === 0n && dynamic.initArray.size > 0n);
  assert.notEqual(dynamic.flags1 & 0x08000000n, 0n, 'DF_1_PIE');
});

for (const file of ['lib.so', 'librelr.so']) {
  test(`relocations equal readelf's, RELATIVE ones with the right addends: ${file}`, (t) => {
    if (file === 'librelr.so' && !relrSupported) {
      t.skip('the linker here does not write DT_RELR');
      return;
    }
    const elf = openElf(built[file]);
    const ours = elf.relocations().map((r) => `${r.offset.toString(16)} ${relocationTypeName(r.type)}`).sort();
    assert.deepEqual(ours, readelfRelocations(built[file]));
    // ptrs[i] = &table[i]: a relative relocation at ptrs + 8i whose addend is table + 4i.
    const ptrs = symbolNamed(elf, 'ptrs').value;
    const table = symbolNamed(elf, 'table').value;
    for (let i = 0n; i < 4n; i++) {
      const relocation = elf.relocations().find((r) => r.offset === ptrs + 8n * i);
      assert.equal(relocation?.type, R_X86_64_RELATIVE);
      assert.equal(relocation?.addend, table + 4n * i);
    }
  });
}

test('a DT_RELASZ that also counts .rela.plt (older linkers) does not report PLT slots twice', () => {
  const elf = openElf(built['lib.so']);
  const bytes = readFileSync(built['lib.so']);
  const relaDyn = elf.sections.find((s) => s.name === '.rela.dyn');
  const relaPlt = elf.sections.find((s) => s.name === '.rela.plt');
  assert.ok(relaDyn && relaPlt);
  assert.equal(relaDyn.offset + relaDyn.size, relaPlt.offset, 'the fixture has the tables back to back');
  const dynamic = elf.sections.find((s) => s.name === '.dynamic');
  assert.ok(dynamic);
  let patched = false;
  for (let at = Number(dynamic.offset); at < Number(dynamic.offset + dynamic.size); at += 16) {
    if (bytes.readBigUInt64LE(at) === 8n) { // DT_RELASZ
      bytes.writeBigUInt64LE(relaDyn.size + relaPlt.size, at + 8);
      patched = true;
    }
  }
  assert.ok(patched);
  const summary = (file: ElfFile) => file.relocations().map((r) => `${r.table} ${r.offset} ${r.type}`);
  assert.deepEqual(summary(parseElf(bytes)), summary(elf));
});

test('relocationTypeName names the common types and falls back to the number', () => {
  const cases: Array<[number, string]> = [[0, 'R_X86_64_NONE'], [1, 'R_X86_64_64'], [8, 'R_X86_64_RELATIVE'],
    [18, 'R_X86_64_TPOFF64'], [37, 'R_X86_64_IRELATIVE'], [99, 'R_X86_64_99']];
  for (const [type, name] of cases) assert.equal(relocationTypeName(type), name);
});

// ---------------------------------------------------------------------------------------------------------------
// identity, debug files, readVirtual

test('buildId is what readelf -n prints', () => {
  for (const file of ['prog', 'lib.so', 'prog.stripped', 'prog.debug']) {
    const expected = readelfBuildId(built[file]);
    assert.ok(expected, `${file} has a build-id`);
    assert.equal(openElf(built[file]).buildId, expected, file);
  }
});

test('crc32 is the IEEE CRC-32', () => {
  const cases: Array<[string, number]> = [['', 0], ['a', 0xe8b7be43], ['123456789', 0xcbf43926],
    ['The quick brown fox jumps over the lazy dog', 0x414fa339], ['x'.repeat(1000), 0x3b41c9e6]];
  for (const [text, crc] of cases) assert.equal(crc32(Buffer.from(text)), crc, text);
  assert.equal(crc32(Buffer.from('6789'), crc32(Buffer.from('12345'))), 0xcbf43926, 'continues');
});

test('.gnu_debuglink: name and CRC of the debug file', () => {
  const elf = openElf(built['linked']);
  assert.deepEqual(elf.debugLink, { file: 'prog.debug', crc: crc32OfFile(built['prog.debug']) });
  assert.equal(openElf(built['prog']).debugLink, undefined);
});

test('findDebugFile: next to the file, in .debug/, by build-id; never a file with the wrong CRC', () => {
  const emptyRoot = mkdtempSync(join(dir, 'root-'));
  const sameDir = join(dir, 'same');
  const debugSubdir = join(dir, 'sub');
  mkdirSync(sameDir);
  mkdirSync(join(debugSubdir, '.debug'), { recursive: true });
  copyFileSync(built['linked'], join(sameDir, 'linked'));
  copyFileSync(built['prog.debug'], join(sameDir, 'prog.debug'));
  copyFileSync(built['linked'], join(debugSubdir, 'linked'));
  copyFileSync(built['prog.debug'], join(debugSubdir, '.debug', 'prog.debug'));
  assert.equal(findDebugFile(openElf(join(sameDir, 'linked')), { debugRoot: emptyRoot }), join(sameDir, 'prog.debug'));
  assert.equal(findDebugFile(openElf(join(debugSubdir, 'linked')), { debugRoot: emptyRoot }), join(debugSubdir, '.debug', 'prog.debug'));

  const buildId = openElf(built['prog']).buildId as string;
  const byIdRoot = mkdtempSync(join(dir, 'root-'));
  const byIdPath = join(byIdRoot, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
  mkdirSync(join(byIdRoot, '.build-id', buildId.slice(0, 2)), { recursive: true });
  copyFileSync(built['prog.debug'], byIdPath);
  assert.equal(findDebugFile(openElf(built['prog.stripped']), { debugRoot: byIdRoot }), byIdPath);

  // Same name, other contents: the CRC refuses it (the build-id matches, so only the CRC can tell).
  appendFileSync(join(sameDir, 'prog.debug'), Buffer.from([0]));
  assert.equal(findDebugFile(openElf(join(sameDir, 'linked')), { debugRoot: emptyRoot }), undefined);
  assert.equal(findDebugFile(openElf(built['prog']), { debugRoot: emptyRoot }), undefined);
});

test('mergeDebugSymbols lends the debug file\'s .symtab to the stripped file', () => {
  const stripped = openElf(built['linked']);
  const merged = mergeDebugSymbols(stripped, openElf(built['prog.debug']));
  assert.equal(merged.hasSymtab, true);
  assert.equal(merged.debugFile, built['prog.debug']);
  assert.equal(merged.path, built['linked']);
  const original = openElf(built['prog']);
  for (const name of ['helper', 'counter', 'run_a', 'global_a']) {
    const want = original.symbols().filter((s) => s.name === name).map((s) => `${s.value}:${s.file ?? ''}`).sort();
    const got = merged.symbols().filter((s) => s.name === name).map((s) => `${s.value}:${s.file ?? ''}`).sort();
    assert.deepEqual(got, want, name);
  }
  const printf = merged.symbols().filter((s) => s.name.startsWith('printf'));
  assert.deepEqual(printf.map((s) => [s.name, s.version, s.table]), [['printf', 'GLIBC_2.2.5', 'symtab']]);
  assert.deepEqual(merged.relocations(), stripped.relocations());

  assertHotpatchError(() => mergeDebugSymbols(stripped, openElf(built['lib.so'])), 'E_BUILD_ID', built['lib.so']);
});

test('readVirtual reads loaded bytes from the file and nothing else', () => {
  const elf = openElf(built['prog']);
  const main = symbolNamed(elf, 'main');
  const text = elf.sections.find((s) => s.name === '.text');
  assert.ok(text);
  const fileBytes = readFileSync(built['prog']);
  const at = Number(text.offset + (main.value - text.addr));
  assert.deepEqual(elf.readVirtual(main.value, main.size), fileBytes.subarray(at, at + main.size));
  const bss = elf.sections.find((s) => s.name === '.bss');
  assert.ok(bss);
  const cases: Array<[bigint, number]> = [[bss.addr, 4], [0xdead0000n, 4], [main.value, -1], [main.value, 1.5]];
  for (const [vaddr, size] of cases) assert.equal(elf.readVirtual(vaddr, size), undefined, `${vaddr} ${size}`);
  const copy = elf.readVirtual(main.value, 4);
  copy?.fill(0);
  assert.deepEqual(elf.readVirtual(main.value, 4), fileBytes.subarray(at, at + 4), 'a copy: writes do not stick');
});

// ---------------------------------------------------------------------------------------------------------------
// big files

// No timing assertions here: speed lives in bench/; the test timeout only guards against a hang.
test('/usr/bin/node: >50k symbols with their versions', { timeout: 120_000 }, (t) => {
  if (!existsSync('/usr/bin/node')) {
    t.skip('no /usr/bin/node');
    return;
  }
  const started = performance.now();
  const elf = openElf('/usr/bin/node');
  const symbols = elf.symbols();
  const elapsedMs = performance.now() - started;
  assert.ok(symbols.length > 50_000, `${symbols.length} symbols`);
  t.diagnostic(`${symbols.length} symbols in ${elapsedMs.toFixed(0)} ms`);
  assert.equal(symbolNamed(elf, 'main').type, 'func');
  assert.ok(symbols.some((s) => s.version?.startsWith('GLIBC_')));
  assert.ok(elf.relocations().length > 0);
  t.diagnostic(`openElf + symbols(): ${symbols.length} symbols in ${elapsedMs.toFixed(0)} ms`);
});

// ---------------------------------------------------------------------------------------------------------------
// errors

test('errors: not ELF, truncated, 32-bit, big-endian, missing, a directory', () => {
  const real = readFileSync(built['prog']);
  const thirtyTwo = Buffer.from(real);
  thirtyTwo[4] = 1;
  const bigEndian = Buffer.from(real);
  bigEndian[5] = 2;
  const files: Array<[string, Buffer | undefined, string, string]> = [
    ['text', Buffer.from('#!/bin/sh\necho hello\n'), 'E_NOT_ELF', 'not an ELF'],
    ['empty', Buffer.alloc(0), 'E_NOT_ELF', 'not an ELF'],
    ['truncated', real.subarray(0, 100), 'E_ELF_BAD', 'program headers'],
    ['header-only', real.subarray(0, 40), 'E_ELF_BAD', 'ELF64 header'],
    ['thirty-two', thirtyTwo, 'E_ELF_CLASS', '32-bit'],
    ['big-endian', bigEndian, 'E_ELF_BAD', 'little-endian'],
    ['missing', undefined, 'ENOENT', 'missing'],
  ];
  for (const [name, bytes, code, part] of files) {
    const path = join(dir, `bad-${name}`);
    if (bytes) writeFileSync(path, bytes);
    assertHotpatchError(() => openElf(path), code, path);
    assertHotpatchError(() => openElf(path), code, part);
    if (bytes) assertHotpatchError(() => parseElf(bytes, name), code, part);
  }
  assertHotpatchError(() => openElf(dir), 'E_NOT_ELF', dir);
});

test('a file changed on disk after opening is not read as a mix of two files', () => {
  const path = join(dir, 'changing');
  copyFileSync(built['prog'], path);
  const elf = openElf(path);
  appendFileSync(path, Buffer.alloc(64));
  assertHotpatchError(() => elf.symbols(), 'E_ELF_CHANGED', path);
  // A screen the addon would run on the mapped file checks it is the file opened, and refuses the same way.
  const screened = openElf(path);
  appendFileSync(path, Buffer.alloc(64));
  assertHotpatchError(() => screened.symbolsMatching!(nameScreen('[^\\0]*ain[^\\0]*', '', 'ain')), 'E_ELF_CHANGED', path);
  // The addon's own check: it maps the file only when inode, modification time and size are the ones given.
  const symtab = screened.sections.find((sec) => sec.type === 2)!;
  const strtab = screened.sections[symtab.link]!;
  const st = statSync(path);
  const scan = (ino: number, mtimeMs: number, size: number) => native().scanSymbolsFile!(path, ino, mtimeMs, size, Number(symtab.offset), Number(symtab.size),
    Number(strtab.offset), Number(strtab.size), Buffer.from('main'), true);
  assert.ok(scan(st.ino, st.mtimeMs, st.size)?.[1].split('\0').includes('main'), 'the file as it is: main found');
  assert.equal(scan(st.ino, st.mtimeMs, st.size - 64), null, 'another size');
  assert.equal(scan(st.ino, st.mtimeMs - 1000, st.size), null, 'another modification time');
  assert.equal(scan(st.ino + 1, st.mtimeMs, st.size), null, 'another inode');
});

// ---------------------------------------------------------------------------------------------------------------
// fuzz

/** mulberry32: a small seeded PRNG, so a failure repeats. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The byte ranges where a mutation changes structure rather than code: headers, tables, dynamic section. */
function structuralRanges(elf: ElfFile, size: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [[0, 64 + 56 * elf.segments.length]];
  for (const section of elf.sections) {
    if (['.dynamic', '.dynsym', '.gnu.hash', '.gnu.version', '.gnu.version_r', '.rela.dyn', '.rela.plt',
      '.note.gnu.build-id', '.gnu_debuglink', '.symtab'].includes(section.name)) {
      ranges.push([Number(section.offset), Number(section.offset + section.size)]);
    }
  }
  const shoff = Number(readFileSync(elf.path).readBigUInt64LE(40));
  ranges.push([shoff, size]);
  return ranges;
}

function mutate(base: Buffer, random: () => number, ranges: Array<[number, number]>): Buffer {
  const pick = (n: number) => Math.floor(random() * n);
  const kind = pick(5);
  if (kind === 0) return base.subarray(0, pick(base.length));
  const bytes = Buffer.from(base);
  const [from, to] = random() < 0.8 ? ranges[pick(ranges.length)] : [0, bytes.length];
  const at = from + pick(Math.max(1, to - from));
  const flips = 1 + pick(4);
  for (let i = 0; i < flips; i++) {
    const where = Math.min(bytes.length - 1, at + pick(16));
    if (kind === 1) bytes[where] ^= 1 << pick(8);
    else if (kind === 2) bytes[where] = pick(256);
    else if (kind === 3) bytes[where] = [0, 0xff, 0x7f, 0x80][pick(4)];
    else if (where + 8 <= bytes.length) bytes.writeBigUInt64LE(BigInt(pick(2 ** 31)) * BigInt(1 + pick(4)) ** BigInt(pick(3) * 8), where);
  }
  return bytes;
}

/** Everything a caller may ask of a parsed file, so lazy parts are fuzzed too. */
function exercise(elf: ElfFile): void {
  elf.symbols();
  elf.dynamicSymbols();
  elf.dynamic();
  elf.relocations();
  elf.readVirtual(elf.entry, 16);
}

test('fuzz: 3000 mutated files parse or throw HotpatchError, nothing else, never hang', { timeout: 120_000 }, (t) => {
  const random = prng(0x5eed);
  const started = performance.now();
  const mutantPath = join(dir, 'mutant');
  const refusals = new Map<string, number>();
  let parsed = 0;
  for (const file of ['lib.so', 'libver.so', 'prog']) {
    const base = readFileSync(built[file]);
    const ranges = structuralRanges(openElf(built[file]), base.length);
    for (let round = 0; round < 1000; round++) {
      const mutated = mutate(base, random, ranges);
      // Every 20th mutant goes through the file reader as well.
      const viaFile = round % 20 === 0;
      if (viaFile) writeFileSync(mutantPath, mutated);
      try {
        exercise(viaFile ? openElf(mutantPath) : parseElf(mutated, `${file}#${round}`));
        parsed++;
      } catch (err) {
        if (!(err instanceof HotpatchError)) {
          throw new Error(`${file} mutation ${round}: ${(err as Error).stack ?? String(err)}`);
        }
        refusals.set(err.code, (refusals.get(err.code) ?? 0) + 1);
      }
    }
  }
  const elapsedMs = performance.now() - started;
  t.diagnostic(`${parsed} parsed in full, refused: ${JSON.stringify(Object.fromEntries(refusals))}, ${elapsedMs.toFixed(0)} ms`);
  assert.ok(parsed > 100, `${parsed} mutants parsed in full`);
  assert.ok((refusals.get('E_ELF_BAD') ?? 0) > 100, 'the mutations reach the checks');
});
