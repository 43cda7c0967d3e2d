// Unit tests for src/symbols: maps parsing and load bias, the address parser, the symbol index, and resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HotpatchError } from '../src/errors.js';
import { demangleAll, demangleAllAsync } from '../src/symbols/demangle.js';
import type { ElfFile, ElfSegment, ElfSymbol } from '../src/elf/types.js';
import type { Module } from '../src/symbols/types.js';
import { parseMaps, readMaps, modulesFromMaps, moduleNameOf, moduleAt } from '../src/symbols/maps.js';
import { realpathSync } from 'node:fs';
import { parseAddress, type AddressExpr } from '../src/symbols/expr.js';
import { SymbolIndex, boundedEditDistance } from '../src/symbols/index.js';
import { resolveAddress, spellingFor, resolveModuleName, type ResolveContext } from '../src/symbols/resolve.js';
import { lookupScope, linkerChoice } from '../src/symbols/scope.js';
import { readLinkMap, type LinkMapEntry } from '../src/symbols/linkmap.js';

// ---------------------------------------------------------------------------------------------------------------
// maps

const MAPS = `\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234                       /home/u/my prog/counter
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1234                       /home/u/my prog/counter
55d0c0a02000-55d0c0a03000 r--p 00002000 08:01 1234                       /home/u/my prog/counter
55d0c0a03000-55d0c0a04000 rw-p 00002000 08:01 1234                       /home/u/my prog/counter
55d0c1000000-55d0c1021000 rw-p 00000000 00:00 0                          [heap]
7f1234500000-7f1234528000 r--p 00000000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f1234528000-7f123469d000 r-xp 00028000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f123469d000-7f12346f5000 r--p 0019d000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f12346f5000-7f12346f9000 rw-p 001f4000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
7f12346f9000-7f1234706000 rw-p 00000000 00:00 0 
7f1234790000-7f1234791000 r--p 00000000 08:01 999                        /tmp/libpatch.so (deleted)
7f1234791000-7f1234792000 r-xp 00001000 08:01 999                        /tmp/libpatch.so (deleted)
7f12347b0000-7f12347c0000 r--p 00000000 08:01 777                        /usr/lib/locale/locale-archive
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
7ffd001fe000-7ffd00200000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`;

test('parseMaps reads every field, keeps spaces in paths and flags deleted files', () => {
  const entries = parseMaps(MAPS);
  assert.equal(entries.length, 16);
  assert.deepEqual(entries[1], {
    start: 0x55d0c0a01000n, end: 0x55d0c0a02000n, perms: 'r-xp', offset: 0x1000n, dev: '08:01', inode: 1234,
    path: '/home/u/my prog/counter',
  });
  assert.equal(entries[4]!.path, '[heap]');
  assert.equal(entries[9]!.path, '', 'anonymous mapping (trailing space) has an empty path');
  assert.equal(entries[9]!.inode, 0);
  assert.equal(entries[10]!.path, '/tmp/libpatch.so (deleted)');
  assert.equal(entries[10]!.deleted, true);
  assert.equal(entries[0]!.deleted, undefined);
  assert.equal(entries[15]!.start, 0xffffffffff600000n);
});

test('parseMaps rejects a malformed line with its number', () => {
  assert.throws(() => parseMaps('55d0c0a00000-55d0c0a01000 r--p 0\n'),
    (e: unknown) => e instanceof HotpatchError && e.code === 'E_BAD_MAPS' && /line 1/.test(e.message));
  assert.deepEqual(parseMaps('\n\n'), []);
});

test('moduleNameOf takes the basename and drops the deleted mark', () => {
  const cases: [string, string][] = [
    ['/usr/lib/x86_64-linux-gnu/libc.so.6', 'libc.so.6'],
    ['/home/u/my prog/counter', 'counter'],
    ['/tmp/libpatch.so (deleted)', 'libpatch.so'],
    ['/usr/lib/libstdc++.so.6', 'libstdc++.so.6'],
  ];
  for (const [path, name] of cases) assert.equal(moduleNameOf(path), name, path);
});

function load(vaddr: bigint, offset: bigint, memsz: bigint, flags = 5): ElfSegment {
  return { type: 1, flags, offset, vaddr, filesz: memsz, memsz, align: 0x1000n };
}

test('modulesFromMaps groups code modules and skips pseudo mappings and data files', () => {
  const modules = modulesFromMaps(parseMaps(MAPS));
  assert.deepEqual(modules.map((m) => m.name), ['counter', 'libc.so.6', 'libpatch.so']);
  const counter = modules[0]!;
  assert.equal(counter.path, '/home/u/my prog/counter');
  assert.equal(counter.maps.length, 4);
  assert.equal(counter.start, 0x55d0c0a00000n);
  assert.equal(counter.end, 0x55d0c0a04000n);
  assert.equal(modules[2]!.path, '/tmp/libpatch.so (deleted)', 'path kept as mapped so nobody opens a replacement');
});

test('load bias: table of layouts', () => {
  const cases: { name: string; maps: string; segments?: ElfSegment[]; bias: bigint; end?: bigint }[] = [
    {
      name: 'PIE: lowest PT_LOAD at vaddr 0',
      maps: '55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1 /a/pie\n55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1 /a/pie',
      segments: [load(0n, 0n, 0x1000n, 4), load(0x1000n, 0x1000n, 0x1000n)],
      bias: 0x55d0c0a00000n,
    },
    {
      name: 'ET_EXEC non-PIE: bias 0',
      maps: '00400000-00401000 r--p 00000000 08:01 2 /a/exec\n00401000-00402000 r-xp 00001000 08:01 2 /a/exec',
      segments: [load(0x400000n, 0n, 0x1000n, 4), load(0x401000n, 0x1000n, 0x1000n)],
      bias: 0n,
    },
    {
      name: 'ET_EXEC, old layout: data shares the first file page (a second offset-0 mapping)',
      maps: '00400000-00401000 r-xp 00000000 08:01 3 /a/tiny\n00600000-00601000 rw-p 00000000 08:01 3 /a/tiny',
      segments: [load(0x400000n, 0n, 0x7c4n), load(0x600e10n, 0xe10n, 0x230n, 6)],
      bias: 0n,
      end: 0x601040n,
    },
    {
      name: 'prelinked library: lowest vaddr not 0',
      maps: '7f0000000000-7f0000001000 r-xp 00000000 08:01 4 /a/libpre.so',
      segments: [load(0x3000000n, 0n, 0x1000n)],
      bias: 0x7f0000000000n - 0x3000000n,
    },
    {
      name: 'first PT_LOAD not at a page boundary of the file',
      maps: '00400000-00401000 r-xp 00000000 08:01 5 /a/odd',
      segments: [load(0x4001e0n, 0x1e0n, 0x100n)],
      bias: 0n,
    },
    {
      name: 'no segments known: assume vaddr 0',
      maps: '7f1234500000-7f1234528000 r--p 00000000 08:01 6 /a/lib.so\n7f1234528000-7f123469d000 r-xp 00028000 08:01 6 /a/lib.so',
      bias: 0x7f1234500000n,
    },
    {
      name: '.bss past the last file page: end from memsz',
      maps: '55d0c0a00000-55d0c0a01000 r-xp 00000000 08:01 7 /a/bss\n55d0c0a01000-55d0c0a02000 rw-p 00001000 08:01 7 /a/bss',
      segments: [load(0n, 0n, 0x1000n), load(0x1000n, 0x1000n, 0x5000n, 6)],
      bias: 0x55d0c0a00000n,
      end: 0x55d0c0a06000n,
    },
  ];
  for (const c of cases) {
    const seen: string[] = [];
    const [module] = modulesFromMaps(parseMaps(c.maps), c.segments && ((path) => (seen.push(path), c.segments)));
    assert.ok(module, c.name);
    assert.equal(module.loadBias, c.bias, c.name);
    if (c.end !== undefined) assert.equal(module.end, c.end, c.name);
    if (c.segments) assert.deepEqual(seen, [module.path], c.name);
  }
});

test('readMaps reads a live process (this one) and names a gone one', () => {
  const entries = readMaps(process.pid);
  assert.ok(entries.some((e) => e.path === '[stack]'));
  const modules = modulesFromMaps(entries);
  const node = moduleNameOf(realpathSync(process.execPath));
  assert.ok(modules.some((m) => m.name === node), `${node} in ${modules.map((m) => m.name).join(', ')}`);
  assert.ok(modules.every((m) => m.start < m.end && m.maps.length > 0));
  assert.throws(() => readMaps(2 ** 22 + 12345), (e: unknown) => e instanceof HotpatchError && e.code === 'ESRCH');
});

test('moduleAt finds the module holding an address', () => {
  const modules = modulesFromMaps(parseMaps(MAPS));
  assert.equal(moduleAt(modules, 0x7f1234600000n)?.name, 'libc.so.6');
  assert.equal(moduleAt(modules, 0x1000n), undefined);
});

// ---------------------------------------------------------------------------------------------------------------
// address expressions

const sym = (name: string, extra: { module?: string; file?: string } = {}): AddressExpr['base'] =>
  ({ kind: 'symbol', name, ...extra });

test('parseAddress: valid expressions', () => {
  const cases: [string, AddressExpr][] = [
    ['0x401136', { base: { kind: 'number', value: 0x401136n }, offset: 0n }],
    ['0X401136', { base: { kind: 'number', value: 0x401136n }, offset: 0n }],
    ['0xdeadBEEF', { base: { kind: 'number', value: 0xdeadbeefn }, offset: 0n }],
    ['4198710', { base: { kind: 'number', value: 4198710n }, offset: 0n }],
    ['010', { base: { kind: 'number', value: 10n }, offset: 0n }],
    ['0', { base: { kind: 'number', value: 0n }, offset: 0n }],
    ['0xffffffffffffffff', { base: { kind: 'number', value: (1n << 64n) - 1n }, offset: 0n }],
    ['0x1000+0x10', { base: { kind: 'number', value: 0x1000n }, offset: 0x10n }],
    ['main', { base: sym('main'), offset: 0n }],
    ['  main  ', { base: sym('main'), offset: 0n }],
    ['main+0x10', { base: sym('main'), offset: 0x10n }],
    ['main-8', { base: sym('main'), offset: -8n }],
    ['main+16', { base: sym('main'), offset: 16n }],
    ['main + 16', { base: sym('main'), offset: 16n }],
    ['main+0x10-2', { base: sym('main'), offset: 0xen }],
    ['_start', { base: sym('_start'), offset: 0n }],
    ['tick.cold', { base: sym('tick.cold'), offset: 0n }],
    ['tick.constprop.0+4', { base: sym('tick.constprop.0'), offset: 4n }],
    ['memcpy@GLIBC_2.14', { base: sym('memcpy@GLIBC_2.14'), offset: 0n }],
    ['memcpy@@GLIBC_2.14', { base: sym('memcpy@@GLIBC_2.14'), offset: 0n }],
    ['ns::f', { base: sym('ns::f'), offset: 0n }],
    ['a::b::~C', { base: sym('a::b::~C'), offset: 0n }],
    ['counter.c:tick', { base: sym('tick', { file: 'counter.c' }), offset: 0n }],
    ['counter.c:tick+4', { base: sym('tick', { file: 'counter.c' }), offset: 4n }],
    ['my-file.c:tick-4', { base: sym('tick', { file: 'my-file.c' }), offset: -4n }],
    ['src/x.c:f', { base: sym('f', { file: 'src/x.c' }), offset: 0n }],
    ['x.cc:ns::f', { base: sym('ns::f', { file: 'x.cc' }), offset: 0n }],
    ['libc.so.6!malloc', { base: sym('malloc', { module: 'libc.so.6' }), offset: 0n }],
    ['libstdc++.so.6!foo', { base: sym('foo', { module: 'libstdc++.so.6' }), offset: 0n }],
    ['ld-linux-x86-64.so.2!_dl_start+0x8', { base: sym('_dl_start', { module: 'ld-linux-x86-64.so.2' }), offset: 8n }],
    ['libfoo.so!foo.c:tick', { base: sym('tick', { module: 'libfoo.so', file: 'foo.c' }), offset: 0n }],
    ['libfoo.so!foo.c:tick-0x10', { base: sym('tick', { module: 'libfoo.so', file: 'foo.c' }), offset: -0x10n }],
    ['#3!tick_v2', { base: sym('tick_v2', { module: '#3' }), offset: 0n }],
    ['/tmp/a/patch.so!hrtime_wrap+4', { base: sym('hrtime_wrap', { module: '/tmp/a/patch.so' }), offset: 4n }],
    ['/opt/lib-x+1/a.so!src/util.c:f', { base: sym('f', { module: '/opt/lib-x+1/a.so', file: 'src/util.c' }), offset: 0n }],
    ['$rip', { base: { kind: 'register', name: 'rip' }, offset: 0n }],
    ['$RSP+8', { base: { kind: 'register', name: 'rsp' }, offset: 8n }],
    ['$fs_base', { base: { kind: 'register', name: 'fs_base' }, offset: 0n }],
    ['$rsp-0x80', { base: { kind: 'register', name: 'rsp' }, offset: -0x80n }],
  ];
  for (const [text, expected] of cases) assert.deepEqual(parseAddress(text), expected, text);
});

test('parseAddress: malformed expressions name what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['   ', /empty/],
    ['0xZZ', /bad number "0xZZ"/],
    ['0x', /bad number/],
    ['12abc', /bad number/],
    ['foo+', /missing number after '\+'/],
    ['foo-', /missing number after '-'/],
    ['foo+bar', /bad offset "bar"/],
    ['foo+-8', /missing number after '\+'/],
    ['foo+0xZZ', /bad offset/],
    ['!foo', /missing module name/],
    ['a!b!c', /more than one '!'/],
    ['libc.so.6!', /missing symbol name/],
    ['+5', /missing base before '\+'/],
    ['-5', /missing base before '-'/],
    ['$', /missing register name/],
    ['$1x', /bad register name/],
    ['$rip+', /missing number/],
    ['0x10000000000000000', /does not fit in 64 bits/],
    ['18446744073709551616', /does not fit in 64 bits/],
    ['main+0x10000000000000000', /does not fit in 64 bits/],
    ['*0x401000', /dereference/],
    ['foo bar', /unexpected space/],
    [':tick', /missing file name/],
    ['a.c:b.c:tick', /more than one ':'/],
    ['counter.c:', /missing symbol name/],
    ['libc!$rip', /register cannot take a module/],
    ['a.c:$rip', /register cannot take a module or file/],
    ['libc!0x10', /is a number, not a symbol/],
    ['fo#o', /bad symbol name/],
    ['a b!foo', /contains a space/],
    ['b a.c:foo', /bad file name/],
  ];
  for (const [text, what] of cases) {
    assert.throws(() => parseAddress(text), (e: unknown) => {
      assert.ok(e instanceof HotpatchError, text);
      assert.equal(e.code, 'E_BAD_ADDRESS', text);
      assert.ok(e.message.startsWith(`bad address "${text}": `), `${text}: ${e.message}`);
      assert.match(e.message, what, text);
      assert.match(e.hint ?? '', /module!name/);
      return true;
    }, text);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// the index

function elfSym(name: string, value: bigint, more: Partial<ElfSymbol> = {}): ElfSymbol {
  return { name, value, size: 16, type: 'func', bind: 'global', shndx: 14, defined: true, table: 'symtab', ...more };
}

function module(name: string, start: bigint, end: bigint, loadBias = start): Module {
  return { name, path: `/opt/app/${name}`, loadBias, start, end, maps: [] };
}

const COUNTER = module('counter', 0x555555554000n, 0x555555559000n);
const LIBFOO = module('libfoo.so', 0x7ffff7fb0000n, 0x7ffff7fb8000n);
const LIBFOOBAR = module('libfoobar.so', 0x7ffff7fc0000n, 0x7ffff7fc8000n);
const LIBC = module('libc.so.6', 0x7ffff7d00000n, 0x7ffff7e00000n);

function buildIndex(): SymbolIndex {
  const index = new SymbolIndex();
  index.addModule(COUNTER, [
    elfSym('counter.c', 0n, { type: 'file', bind: 'local', shndx: 0xfff1 }),
    elfSym('tick', 0x1129n, { bind: 'local', file: 'counter.c' }),
    elfSym('main', 0x1139n, { size: 30 }),
    elfSym('_start', 0x1040n, { size: 34 }),
    elfSym('counter', 0x4010n, { type: 'object', size: 4 }),
    elfSym('shared', 0x1200n),
    elfSym('label_in_main', 0x1140n, { type: 'notype', size: 0, bind: 'local', file: 'counter.c' }),
    elfSym('printf', 0n, { shndx: 0, defined: false }),
    elfSym('tls_var', 0x10n, { type: 'tls', size: 4 }),
    elfSym('.text', 0x1040n, { type: 'section', bind: 'local' }),
    elfSym('util_twin', 0x1300n, { bind: 'local', file: 'src/util.c' }),
    elfSym('util_twin', 0x1310n, { bind: 'local', file: 'lib/util.c' }),
  ]);
  index.addModule(LIBFOO, [
    elfSym('foo_init', 0x1000n, { table: 'dynsym' }),
    elfSym('foo_init', 0x1000n, { file: 'foo.c' }),
    elfSym('tick', 0x1100n, { size: 8, bind: 'local', file: '/src/libfoo/foo.c' }),
    elfSym('foo', 0x1200n),
    elfSym('foo_alias', 0x1200n, { bind: 'weak' }),
    elfSym('dup', 0x1300n, { bind: 'weak', table: 'dynsym' }),
    elfSym('dup', 0x1300n, { bind: 'global' }),
    elfSym('shared', 0x1400n),
  ]);
  index.addModule(LIBFOOBAR, [elfSym('bar', 0x1000n)]);
  index.addModule(LIBC, [
    elfSym('__libc_malloc', 0x9a000n, { size: 400 }),
    elfSym('malloc', 0x9a000n, { size: 400 }),
    elfSym('__malloc', 0x9a000n, { size: 400, bind: 'weak' }),
    elfSym('memcpy', 0xa0000n, { version: 'GLIBC_2.14', table: 'dynsym' }),
    elfSym('memcpy', 0xa1000n, { version: 'GLIBC_2.2.5', table: 'dynsym' }),
    elfSym('free', 0x9b000n, { size: 300 }),
  ]);
  return index;
}

test('index: skipped entries and dedup', () => {
  const index = buildIndex();
  assert.equal(index.lookup('printf').length, 0, 'undefined');
  assert.equal(index.lookup('tls_var').length, 0, 'TLS offsets are not addresses');
  assert.equal(index.lookup('.text').length, 0, 'section');
  assert.equal(index.lookup('counter.c').length, 0, 'STT_FILE');
  const init = index.lookup('foo_init');
  assert.equal(init.length, 1, '.dynsym and .symtab entry for one symbol');
  assert.equal(init[0]!.table, 'symtab');
  assert.equal(init[0]!.file, 'foo.c');
  const dup = index.lookup('dup');
  assert.equal(dup.length, 1);
  assert.equal(dup[0]!.bind, 'global', 'global wins over weak for the same symbol');
  assert.equal(index.size, 21);
});

test('index: lookup by name, module, file and version', () => {
  const index = buildIndex();
  const cases: { name: string; filter?: { module?: string; file?: string }; addresses: bigint[] }[] = [
    { name: 'main', addresses: [0x555555554000n + 0x1139n] },
    { name: 'tick', addresses: [0x555555554000n + 0x1129n, 0x7ffff7fb0000n + 0x1100n] },
    { name: 'tick', filter: { module: 'libfoo.so' }, addresses: [0x7ffff7fb1100n] },
    { name: 'tick', filter: { file: 'counter.c' }, addresses: [0x555555555129n] },
    { name: 'tick', filter: { file: 'foo.c' }, addresses: [0x7ffff7fb1100n], },
    { name: 'tick', filter: { file: 'x/foo.c' }, addresses: [0x7ffff7fb1100n] },
    { name: 'tick', filter: { module: 'counter', file: 'foo.c' }, addresses: [] },
    { name: 'tick', filter: { module: 'libfoo' }, addresses: [] },
    { name: 'memcpy', addresses: [0x7ffff7da0000n, 0x7ffff7da1000n] },
    { name: 'memcpy@GLIBC_2.14', addresses: [0x7ffff7da0000n] },
    { name: 'memcpy@@GLIBC_2.2.5', addresses: [0x7ffff7da1000n] },
    { name: 'memcpy@GLIBC_9', addresses: [] },
    { name: 'nope', addresses: [] },
  ];
  for (const c of cases) {
    assert.deepEqual(index.lookup(c.name, c.filter).map((s) => s.address), c.addresses, `${c.name} ${JSON.stringify(c.filter)}`);
  }
  assert.equal(index.versionFor(index.lookup('memcpy@GLIBC_2.14')[0]!), 'GLIBC_2.14');
});

test('index: symbolize', () => {
  const index = buildIndex();
  const cases: { address: bigint; name?: string; module?: string; offset: bigint }[] = [
    { address: 0x555555555139n, name: 'main', module: 'counter', offset: 0n },
    { address: 0x555555555145n, name: 'main', module: 'counter', offset: 0xcn },
    { address: 0x555555555140n, name: 'main', module: 'counter', offset: 7n },
    { address: 0x555555555156n, name: 'main', module: 'counter', offset: 0x1dn },
    { address: 0x555555555157n, name: 'label_in_main', module: 'counter', offset: 0x17n },
    { address: 0x555555558012n, name: 'counter', module: 'counter', offset: 2n },
    { address: 0x7ffff7d9a000n, name: 'malloc', module: 'libc.so.6', offset: 0n },
    { address: 0x7ffff7d9a010n, name: 'malloc', module: 'libc.so.6', offset: 0x10n },
    { address: 0x7ffff7fb1208n, name: 'foo', module: 'libfoo.so', offset: 8n },
    { address: 0x555555554010n, module: 'counter', offset: 0x10n },
    { address: 0x7ffff7fc0010n, module: 'libfoobar.so', offset: 0x10n },
    { address: 0x1000n, offset: 0x1000n },
  ];
  for (const c of cases) {
    const got = index.symbolize(c.address);
    const label = `0x${c.address.toString(16)}`;
    assert.equal(got.address, c.address, label);
    assert.equal(got.symbol?.name, c.name, label);
    assert.equal(got.module, c.module, label);
    assert.equal(got.offset, c.offset, label);
  }
});

test('index: symbolize sees modules added later', () => {
  const index = buildIndex();
  const late = module('late.so', 0x7ffff0000000n, 0x7ffff0001000n);
  assert.equal(index.symbolize(0x7ffff0000100n).symbol, undefined);
  index.addModule(late, [elfSym('late_fn', 0x100n)]);
  assert.equal(index.symbolize(0x7ffff0000104n).symbol?.name, 'late_fn');
});

test('index: match with substrings and globs', () => {
  const index = buildIndex();
  const names = (pattern: string, filter?: Parameters<SymbolIndex['match']>[1]) => index.match(pattern, filter).map((s) => `${s.module}!${s.name}`);
  const cases: { pattern: string; filter?: Parameters<SymbolIndex['match']>[1]; expected: string[] }[] = [
    { pattern: 'tick', expected: ['counter!tick', 'libfoo.so!tick'] },
    { pattern: 'ick', expected: ['counter!tick', 'libfoo.so!tick'] },
    { pattern: 'ick*', expected: [] },
    { pattern: '*ick', expected: ['counter!tick', 'libfoo.so!tick'] },
    { pattern: 't?ck', expected: ['counter!tick', 'libfoo.so!tick'] },
    { pattern: 'foo*', expected: ['libfoo.so!foo_init', 'libfoo.so!foo', 'libfoo.so!foo_alias'] },
    { pattern: 'foo*', filter: { type: 'func' }, expected: ['libfoo.so!foo_init', 'libfoo.so!foo', 'libfoo.so!foo_alias'] },
    { pattern: '*', filter: { type: 'object' }, expected: ['counter!counter'] },
    { pattern: '*', filter: { localOnly: true, module: 'counter' }, expected: ['counter!tick', 'counter!label_in_main', 'counter!util_twin', 'counter!util_twin'] },
    { pattern: 'malloc', expected: ['libc.so.6!malloc', 'libc.so.6!__libc_malloc', 'libc.so.6!__malloc'] },
    { pattern: 'memcpy@*', expected: [] },
    { pattern: 'shared', filter: { module: 'libfoo.so' }, expected: ['libfoo.so!shared'] },
    { pattern: 'a.b', expected: [] },
  ];
  for (const c of cases) assert.deepEqual(names(c.pattern, c.filter), c.expected, `${c.pattern} ${JSON.stringify(c.filter)}`);
});

test('index: suggest', () => {
  const index = buildIndex();
  const cases: [string, string[]][] = [
    ['tik', ['tick']],
    ['mallco', ['malloc']],
    ['Main', ['main']],
    ['fre', ['free']],
    ['foo_', ['foo', 'foo_init']],
    ['xyzzy', []],
  ];
  for (const [typed, firsts] of cases) {
    const got = index.suggest(typed, 5);
    assert.ok(got.length <= 5, typed);
    assert.deepEqual(got.slice(0, firsts.length), firsts, `${typed}: ${got.join(', ')}`);
  }
  assert.deepEqual(index.suggest('shar', 1), ['shared']);
  assert.ok(!index.suggest('main').includes('main'), 'the name itself is no suggestion');
});

test('boundedEditDistance', () => {
  const cases: [string, string, number, number][] = [
    ['malloc', 'malloc', 2, 0],
    ['mallco', 'malloc', 2, 1],
    ['tik', 'tick', 2, 1],
    ['kitten', 'sitting', 3, 3],
    ['kitten', 'sitting', 2, 3],
    ['', 'abc', 5, 3],
    ['abcdef', 'ab', 2, 3],
  ];
  for (const [a, b, max, d] of cases) assert.equal(boundedEditDistance(a, b, max), d, `${a} ${b} ${max}`);
});

test('boundedEditDistance agrees with the full computation on random strings', () => {
  const full = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
        if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
      }
    }
    return d[a.length]![b.length]!;
  };
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
  const word = () => Array.from({ length: random(9) }, () => 'abc'[random(3)]).join('');
  for (let k = 0; k < 3000; k++) {
    const a = word();
    const b = random(2) === 0 ? word() : a.slice(0, random(a.length + 1)) + 'abc'[random(3)] + a.slice(random(a.length + 1));
    const max = random(4);
    assert.equal(boundedEditDistance(a, b, max), Math.min(full(a, b), max + 1), `${a} ${b} ${max}`);
  }
});

test('index: completions are sorted, distinct and limited', () => {
  const index = buildIndex();
  assert.deepEqual(index.completions('foo', 10), ['foo', 'foo_alias', 'foo_init']);
  assert.deepEqual(index.completions('foo', 2), ['foo', 'foo_alias']);
  assert.deepEqual(index.completions('ti', 10), ['tick']);
  assert.deepEqual(index.completions('util', 10), ['util_twin']);
  assert.deepEqual(index.completions('zz', 10), []);
  index.prepare();
  assert.deepEqual(index.completions('m', 10), ['main', 'malloc', 'memcpy']);
  assert.equal(index.completions('', 100).length, new Set(index.all().map((s) => s.name)).size);
});

// ---------------------------------------------------------------------------------------------------------------
// resolution

function context(registers?: Record<string, bigint>): ResolveContext {
  return {
    index: buildIndex(),
    modules: [COUNTER, LIBFOO, LIBFOOBAR, LIBC],
    readRegister: registers && ((name) => registers[name]),
  };
}

function rejects(text: string, ctx: ResolveContext, code: string, message: RegExp, hint?: RegExp): void {
  assert.throws(() => resolveAddress(text, ctx), (e: unknown) => {
    assert.ok(e instanceof HotpatchError, text);
    assert.equal(e.code, code, `${text}: ${e.message}`);
    assert.match(e.message, message, text);
    if (hint) assert.match(e.hint ?? '', hint, `${text}: ${e.hint}`);
    return true;
  }, text);
}

test('resolveAddress: symbols, filters and offsets', () => {
  const ctx = context();
  const cases: [string, bigint, string][] = [
    ['main', 0x555555555139n, 'main'],
    ['main+4', 0x55555555513dn, 'main+0x4'],
    ['main-0x10', 0x555555555129n, 'main-0x10'],
    ['counter.c:tick', 0x555555555129n, 'counter.c:tick'],
    ['counter.c:tick+4', 0x55555555512dn, 'counter.c:tick+0x4'],
    ['foo.c:tick', 0x7ffff7fb1100n, 'foo.c:tick'],
    ['libfoo.so!tick', 0x7ffff7fb1100n, 'foo.c:tick'],
    ['libfoo.so!foo.c:tick', 0x7ffff7fb1100n, 'foo.c:tick'],
    ['counter!tick', 0x555555555129n, 'counter.c:tick'],
    ['libc!malloc', 0x7ffff7d9a000n, 'malloc'],
    ['libfoo.so!shared', 0x7ffff7fb1400n, 'libfoo.so!shared'],
    ['/opt/app/counter!shared', 0x555555555200n, 'counter!shared'],
    ['dup', 0x7ffff7fb1300n, 'dup'],
    ['foo_alias', 0x7ffff7fb1200n, 'foo_alias'],
    ['memcpy@GLIBC_2.14', 0x7ffff7da0000n, 'memcpy@GLIBC_2.14'],
  ];
  for (const [text, address, description] of cases) {
    const got = resolveAddress(text, ctx);
    assert.equal(got.address, address, text);
    assert.equal(got.description, description, text);
    assert.ok(got.symbol, text);
  }
  assert.equal(resolveAddress('main', ctx).symbol?.module, 'counter');
});

test('resolveAddress: numbers and registers', () => {
  const ctx = context({ rip: 0x555555555145n, rsp: 0x7ffd00001000n });
  const cases: [string, bigint, string, string | undefined][] = [
    ['0x555555555145', 0x555555555145n, '0x555555555145 (main+0xc)', 'main'],
    ['0x1000', 0x1000n, '0x1000', undefined],
    ['0x555555554010', 0x555555554010n, '0x555555554010 (counter+0x10)', undefined],
    ['$rip', 0x555555555145n, '$rip = 0x555555555145 (main+0xc)', 'main'],
    ['$rip-0xc', 0x555555555139n, '$rip-0xc = 0x555555555139 (main)', 'main'],
    ['$rsp+8', 0x7ffd00001008n, '$rsp+0x8 = 0x7ffd00001008', undefined],
  ];
  for (const [text, address, description, symbol] of cases) {
    const got = resolveAddress(text, ctx);
    assert.equal(got.address, address, text);
    assert.equal(got.description, description, text);
    assert.equal(got.symbol?.name, symbol, text);
  }
});

test('resolveAddress: errors', () => {
  const ctx = context({ rip: 0x1000n });
  rejects('tik', ctx, 'E_UNKNOWN_SYMBOL', /^unknown symbol "tik"$/, /^did you mean: tick/);
  rejects('mallco', ctx, 'E_UNKNOWN_SYMBOL', /"mallco"/, /did you mean: malloc/);
  rejects('xyzzy', ctx, 'E_UNKNOWN_SYMBOL', /"xyzzy"/, /no similar names/);
  rejects('libc.so.6!tick', ctx, 'E_UNKNOWN_SYMBOL', /"libc.so.6!tick"/, /tick is defined as: counter.c:tick, foo.c:tick/);
  rejects('bar.c:tick', ctx, 'E_UNKNOWN_SYMBOL', /"bar.c:tick"/, /counter.c:tick/);
  rejects('tick', ctx, 'E_AMBIGUOUS_SYMBOL',
    /^ambiguous symbol "tick": counter.c:tick \(0x555555555129\), foo.c:tick \(0x7ffff7fb1100\)$/);
  rejects('shared', ctx, 'E_AMBIGUOUS_SYMBOL', /counter!shared \(0x555555555200\), libfoo.so!shared \(0x7ffff7fb1400\)/);
  rejects('memcpy', ctx, 'E_AMBIGUOUS_SYMBOL', /memcpy@GLIBC_2.14 \(0x7ffff7da0000\), memcpy@GLIBC_2.2.5 \(0x7ffff7da1000\)/);
  rejects('util_twin', ctx, 'E_AMBIGUOUS_SYMBOL', /: src\/util.c:util_twin \(0x555555555300\), lib\/util.c:util_twin \(0x555555555310\)$/,
    /^type one of the listed spellings to pick one, e.g. src\/util.c:util_twin$/);
  rejects('libnope!foo', ctx, 'E_UNKNOWN_MODULE', /unknown module "libnope"/, /libc.so.6/);
  rejects('libfo!foo', ctx, 'E_AMBIGUOUS_MODULE', /libfoo.so, libfoobar.so/);
  rejects('$xmm99', ctx, 'E_BAD_REGISTER', /unknown register "\$xmm99"/);
  rejects('$pc', { ...ctx, registerNames: ['rip', 'rsp'] }, 'E_BAD_REGISTER', /"\$pc"/, /^registers: \$rip, \$rsp$/);
  rejects('$rip', context(), 'E_NO_TARGET', /no thread/);
  rejects('$rip-0x2000', ctx, 'E_BAD_ADDRESS', /outside 64 bits/);
  rejects('0xffffffffffffffff+1', ctx, 'E_BAD_ADDRESS', /outside 64 bits/);
  rejects('main+', ctx, 'E_BAD_ADDRESS', /missing number/);
});

test('resolveModuleName: exact, path, prefix at a name boundary', () => {
  const modules = [COUNTER, LIBFOO, LIBFOOBAR, LIBC, module('libcrypto.so.3', 0x1000n, 0x2000n)];
  assert.equal(resolveModuleName('libfoo.so', modules), 'libfoo.so');
  assert.equal(resolveModuleName('libfoo', modules), 'libfoo.so');
  assert.equal(resolveModuleName('libfoob', modules), 'libfoobar.so');
  assert.equal(resolveModuleName('libc', modules), 'libc.so.6');
  assert.equal(resolveModuleName('libcr', modules), 'libcrypto.so.3');
  assert.equal(resolveModuleName('/opt/app/counter', modules), 'counter');
  assert.throws(() => resolveModuleName('lib', modules), /ambiguous module "lib"/);
});

test('spellingFor: shortest spelling that picks the symbol', () => {
  const index = buildIndex();
  const one = (name: string, moduleName: string, file?: string) =>
    index.lookup(name, { module: moduleName, file })[0]!;
  const cases: [string, string, string | undefined, string][] = [
    ['main', 'counter', undefined, 'main'],
    ['tick', 'counter', undefined, 'counter.c:tick'],
    ['tick', 'libfoo.so', undefined, 'foo.c:tick'],
    ['shared', 'counter', undefined, 'counter!shared'],
    ['malloc', 'libc.so.6', undefined, 'malloc'],
    ['util_twin', 'counter', 'src/util.c', 'src/util.c:util_twin'],
    ['util_twin', 'counter', 'lib/util.c', 'lib/util.c:util_twin'],
  ];
  for (const [name, moduleName, file, spelling] of cases) {
    const s = one(name, moduleName, file);
    assert.equal(spellingFor(s, { index, modules: index.modules }), spelling, `${moduleName}!${name}`);
    if (!spelling.startsWith('0x')) assert.equal(resolveAddress(spelling, { index, modules: index.modules }).address, s.address);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// several copies of one library, and the dynamic linker's choice

test('resolveAddress: copies of one library are told apart by #ID and by path, and every listed spelling resolves', () => {
  const copy = (path: string, start: bigint): Module => ({ name: 'patch.so', path, loadBias: start, start, end: start + 0x8000n, maps: [] });
  const byMap = copy('/tmp/a/patch.so', 0x7f0000000000n);
  const byProgram = copy('/tmp/b/patch.so', 0x7f1000000000n);
  const samePath = copy('/tmp/a/patch.so', 0x7f2000000000n);
  const index = new SymbolIndex();
  for (const m of [byMap, byProgram, samePath]) {
    index.addModule(m, [elfSym('fix', 0x1100n), elfSym('helper', 0x1200n, { bind: 'local', file: 'patch.c' })]);
  }
  const ctx: ResolveContext = { index, modules: index.modules, loadIds: new Map([[byMap, 1], [samePath, 3]]) };
  const expected: [string, bigint][] = [
    ['#1!fix', 0x7f0000001100n],
    ['/tmp/b/patch.so!fix', 0x7f1000001100n],
    ['#3!fix', 0x7f2000001100n],
  ];
  for (const [spelling, address] of expected) {
    const got = resolveAddress(spelling, ctx);
    assert.equal(got.address, address, spelling);
    assert.equal(got.description, spelling, `${spelling} is its own shortest spelling`);
  }
  assert.equal(resolveAddress('#3!patch.c:helper+2', ctx).address, 0x7f2000001202n);
  assert.equal(resolveAddress('/tmp/b/patch.so!helper', ctx).description, '/tmp/b/patch.so!helper');

  // Every ambiguity lists, for each place, a spelling that picks it: the listed words are typed back one by one.
  for (const typed of ['fix', 'patch.so!fix', 'helper', 'patch.c:helper', '/tmp/a/patch.so!fix']) {
    let message = '';
    assert.throws(() => resolveAddress(typed, ctx), (e: unknown) => {
      assert.ok(e instanceof HotpatchError && e.code === 'E_AMBIGUOUS_SYMBOL', typed);
      assert.match(e.hint ?? '', /^type one of the listed spellings/);
      message = e.message;
      return true;
    });
    const listed = [...message.matchAll(/(\S+) \((0x[0-9a-f]+)\)/g)];
    assert.ok(listed.length >= 2, message);
    for (const [, spelling, address] of listed) assert.equal(resolveAddress(spelling!, ctx).address, BigInt(address!), `${typed}: ${spelling}`);
  }
  rejects('#2!fix', ctx, 'E_UNKNOWN_MODULE', /no library #2 loaded by hotpatch/, /#1 patch.so, #3 patch.so/);
  rejects('#1!fix', { ...ctx, loadIds: undefined }, 'E_UNKNOWN_MODULE', /#1/, /hotpatch has loaded no library/);
});

test('spellingFor: two statics recorded with the same file in one module are only their addresses', () => {
  const m = module('twins', 0x400000n, 0x500000n, 0n);
  const index = new SymbolIndex();
  index.addModule(m, [elfSym('twin', 0x401000n, { bind: 'local', file: 'util.c' }), elfSym('twin', 0x401100n, { bind: 'local', file: 'util.c' })]);
  const ctx: ResolveContext = { index, modules: index.modules };
  rejects('twin', ctx, 'E_AMBIGUOUS_SYMBOL', /^ambiguous symbol "twin": 0x401000, 0x401100$/, /e.g. 0x401000$/);
  assert.equal(resolveAddress('0x401100', ctx).address, 0x401100n);
});

/** An ElfFile as lookupScope and linkerChoice read it: its .dynsym and its DT_NEEDED and DT_SONAME. */
function fakeElf(dynsym: ElfSymbol[], needed: string[] = [], soname?: string): ElfFile {
  return {
    dynamicSymbols: () => dynsym,
    dynamic: () => ({ needed, flags: 0n, flags1: 0n, hasTextrel: false, ...(soname ? { soname } : {}) }),
  } as unknown as ElfFile;
}

const exported = (name: string, value: bigint, more: Partial<ElfSymbol> = {}) => elfSym(name, value, { table: 'dynsym', ...more });

function linkerWorld() {
  const app = module('app', 0x555555554000n, 0x555555560000n);
  const pre = module('libpre.so', 0x7ff000000000n, 0x7ff000010000n);
  const libc = module('libc.so.6', 0x7ff100000000n, 0x7ff100200000n);
  const ld = module('ld-linux-x86-64.so.2', 0x7ff200000000n, 0x7ff200040000n);
  const plug = module('libplug.so', 0x7ff300000000n, 0x7ff300010000n);
  const dynsyms = new Map<Module, ElfSymbol[]>([
    [app, [exported('dup', 0x1100n)]],
    [pre, [exported('pre_and_plug', 0x1000n)]],
    [libc, [
      exported('getpid', 0x10000n), exported('dup', 0x10100n),
      exported('compat', 0x10200n, { version: 'V1', versionHidden: true }), exported('compat', 0x10300n, { version: 'V2' }),
      exported('hidden_one', 0x10400n, { visibility: 'hidden' }),
    ]],
    [ld, [exported('hidden_one', 0x2000n)]],
    [plug, [exported('pre_and_plug', 0x1000n), exported('only_plug', 0x1100n)]],
  ]);
  const elves = new Map<Module, ElfFile>([
    [app, fakeElf(dynsyms.get(app)!, ['libc.so.6'])],
    [pre, fakeElf(dynsyms.get(pre)!)],
    [libc, fakeElf(dynsyms.get(libc)!, ['ld-linux-x86-64.so.2'], 'libc.so.6')],
    [ld, fakeElf(dynsyms.get(ld)!, [], 'ld-linux-x86-64.so.2')],
    [plug, fakeElf(dynsyms.get(plug)!)],
  ]);
  const index = new SymbolIndex();
  for (const [m, syms] of dynsyms) index.addModule(m, syms);
  // Locals only .symtab has: ld.so's own getpid, and a static of one name in two objects.
  index.addModule(ld, [elfSym('getpid', 0x3000n, { bind: 'local', file: 'rtld.c' }), elfSym('only_plug', 0x3100n, { bind: 'local', file: 'rtld.c' })]);
  index.addModule(app, [elfSym('stat_only', 0x1200n, { bind: 'local', file: 'app.c' })]);
  index.addModule(libc, [elfSym('stat_only', 0x10500n, { bind: 'local', file: 'libc.c' })]);
  const modules = [app, pre, libc, ld, plug];
  const linkMap: LinkMapEntry[] = [
    { loadBias: app.loadBias, name: '', dynamicAddress: app.start + 0x3000n },
    { loadBias: 0x7ffff7fc1000n, name: 'linux-vdso.so.1', dynamicAddress: 0x7ffff7fc1300n },
    { loadBias: pre.loadBias, name: '/opt/libpre.so', dynamicAddress: pre.start + 0x3000n },
    { loadBias: libc.loadBias, name: '/lib/x86_64-linux-gnu/libc.so.6', dynamicAddress: libc.start + 0x1f0000n },
    { loadBias: ld.loadBias, name: '/lib64/ld-linux-x86-64.so.2', dynamicAddress: ld.start + 0x30000n },
    { loadBias: plug.loadBias, name: '/opt/libplug.so', dynamicAddress: plug.start + 0x3000n },
  ];
  return { app, pre, libc, ld, plug, modules, index, linkMap, elfOf: (m: Module) => elves.get(m) };
}

test('lookupScope: the link map up to what the executable needs (preloads in, later dlopens out); else DT_NEEDED order', () => {
  const w = linkerWorld();
  const fromLinkMap = lookupScope(w.app, w.modules, w.elfOf, w.linkMap);
  assert.equal(fromLinkMap.source, 'link map');
  assert.deepEqual(fromLinkMap.modules.map((m) => m.name), ['app', 'libpre.so', 'libc.so.6', 'ld-linux-x86-64.so.2']);
  const fromFiles = lookupScope(w.app, [w.plug, w.ld, w.libc, w.pre, w.app], w.elfOf);
  assert.equal(fromFiles.source, 'DT_NEEDED');
  assert.deepEqual(fromFiles.modules.map((m) => m.name), ['app', 'libc.so.6', 'ld-linux-x86-64.so.2']);
  assert.deepEqual(lookupScope(undefined, w.modules, w.elfOf).modules, []);
});

test('linkerChoice and resolveAddress: a plain name takes the exported definition first in load order, and says so', () => {
  const w = linkerWorld();
  const scope = lookupScope(w.app, w.modules, w.elfOf, w.linkMap);
  const ctx: ResolveContext = { index: w.index, modules: w.modules, linkerChoice: (c) => linkerChoice(c, scope, w.elfOf) };
  const cases: [string, bigint, string, RegExp][] = [
    ['getpid', w.libc.loadBias + 0x10000n, 'libc.so.6!getpid', /^getpid: 2 definitions; chose libc.so.6!getpid \(what the dynamic linker binds\)$/],
    ['dup', w.app.loadBias + 0x1100n, 'app!dup', /^dup: 2 definitions; chose app!dup/],
    ['compat', w.libc.loadBias + 0x10300n, 'libc.so.6!compat@V2', /chose libc.so.6!compat@V2/],
    ['hidden_one', w.ld.loadBias + 0x2000n, 'ld-linux-x86-64.so.2!hidden_one', /chose ld-linux-x86-64.so.2!hidden_one/],
    ['pre_and_plug', w.pre.loadBias + 0x1000n, 'libpre.so!pre_and_plug', /chose libpre.so!pre_and_plug/],
  ];
  for (const [text, address, description, note] of cases) {
    const got = resolveAddress(text, ctx);
    assert.equal(got.address, address, text);
    assert.equal(got.description, description, text);
    assert.match(got.note ?? '', note, text);
  }
  // Statics never win, a library outside the scope is not bound, and a qualified name means exactly what it says.
  rejects('stat_only', ctx, 'E_AMBIGUOUS_SYMBOL', /app.c:stat_only .*libc.c:stat_only/);
  rejects('only_plug', ctx, 'E_AMBIGUOUS_SYMBOL', /libplug.so!only_plug .*rtld.c:only_plug|rtld.c:only_plug .*libplug.so!only_plug/);
  rejects('libc.so.6!compat', ctx, 'E_AMBIGUOUS_SYMBOL', /compat@V1/);
  rejects('getpid', { ...ctx, linkerChoice: undefined }, 'E_AMBIGUOUS_SYMBOL', /libc.so.6!getpid .*rtld.c:getpid|rtld.c:getpid .*libc.so.6!getpid/);
  assert.equal(resolveAddress('libc.so.6!getpid', ctx).note, undefined, 'one definition there: nothing chosen');
});

test('readLinkMap follows DT_DEBUG → r_debug → link_map in the target\'s memory; a broken chain gives undefined', () => {
  const main = module('app', 0x10000000n, 0x10010000n);
  const elf = { segments: [{ type: 2, flags: 6, offset: 0x3000n, vaddr: 0x3000n, filesz: 48n, memsz: 48n, align: 8n }] } as unknown as ElfFile;
  const memory = new Map<bigint, Buffer>();
  const words = (...values: bigint[]) => Buffer.concat(values.map((v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; }));
  const layout = (debug: bigint, secondNext: bigint) => {
    memory.clear();
    memory.set(0x10003000n, words(1n, 0x10n, 21n, debug, 0n, 0n));  // DT_NEEDED, DT_DEBUG, DT_NULL
    memory.set(0x5000n, words(1n, 0x6000n));                           // r_version, r_map
    memory.set(0x6000n, words(0x10000000n, 0x7000n, 0x10003000n, 0x6100n, 0n));
    memory.set(0x6100n, words(0x7f0000000000n, 0x7100n, 0x7f0000001000n, secondNext, 0x6000n));
    memory.set(0x7000n, Buffer.from('\0'));
    memory.set(0x7100n, Buffer.from('/lib/libc.so.6\0junk'));
  };
  const read = (address: bigint, length: number) => {
    for (const [start, bytes] of memory) {
      if (start <= address && address < start + BigInt(bytes.length)) return bytes.subarray(Number(address - start), Number(address - start) + length);
    }
    return Buffer.alloc(0);
  };
  layout(0x5000n, 0n);
  assert.deepEqual(readLinkMap(main, elf, read), [
    { loadBias: 0x10000000n, name: '', dynamicAddress: 0x10003000n },
    { loadBias: 0x7f0000000000n, name: '/lib/libc.so.6', dynamicAddress: 0x7f0000001000n },
  ]);
  layout(0n, 0n);
  assert.equal(readLinkMap(main, elf, read), undefined, 'DT_DEBUG still 0: ld.so has not run');
  layout(0x5000n, 0x6000n);
  assert.equal(readLinkMap(main, elf, read), undefined, 'a chain that loops');
  layout(0x5000n, 0x9000n);
  assert.equal(readLinkMap(main, elf, read), undefined, 'a chain into unmapped memory');
});

test('demangling: C++ names in gdb\'s spelling, other names as they are, clones named; a cancelled batch says E_CANCELLED', async () => {
  const names = ['_ZN4node5StartEiPPc', 'main', '_ZNK2v88internal4Heap7IsLargeENS0_10HeapObjectE.cold', '_Z', 'i',
    '_ZN2v88internal10HeapObject11PrintHeaderERSoPKc'];
  const out = demangleAll(names);
  assert.equal(out.get('_ZN4node5StartEiPPc'), 'node::Start(int, char**)');
  assert.equal(out.get('main'), 'main', 'not a C++ name: unchanged');
  assert.equal(out.get('i'), 'i', 'a type code alone is not a symbol name: unchanged, not "int"');
  assert.equal(out.get('_Z'), '_Z', 'a name that does not demangle: unchanged');
  assert.equal(out.get('_ZNK2v88internal4Heap7IsLargeENS0_10HeapObjectE.cold'), 'v8::internal::Heap::IsLarge(v8::internal::HeapObject) const [clone .cold]');
  assert.equal(out.get('_ZN2v88internal10HeapObject11PrintHeaderERSoPKc'), 'v8::internal::HeapObject::PrintHeader(std::ostream&, char const*)', 'gdb\'s std::ostream');
  // More than one slice of names (ns::f0() … ns::f8999()), to cancel between slices.
  const many = Array.from({ length: 9000 }, (_, i) => `_ZN2ns${String(i).length + 1}f${i}Ev`);
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(demangleAllAsync(many, aborted.signal, 'cancelled here'), (e: HotpatchError) => e.code === 'E_CANCELLED' && e.message === 'cancelled here');
  const all = await demangleAllAsync(many, new AbortController().signal, 'cancelled');
  assert.equal(all.size, many.length);
  assert.equal(all.get('_ZN2ns5f1234Ev'), 'ns::f1234()');
});
