// Unit tests for src/dwarf: the dwarf_inline fixtures (DWARF 5, DWARF 4 compressed, .debug_frame) against readelf.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { HotpatchError } from '../src/errors.js';
import { openElf, parseElf } from '../src/elf/reader.js';
import { openDwarf, type Dwarf, type InlinedCopy } from '../src/dwarf/index.js';
import { fixturePath } from './helpers/fixtures.js';
import {
  attrRef, expectedRow, llvmDieRanges, readelfDies, readelfFileTables, readelfFrames, readelfLineSequences, readelfName,
  type ReadelfFde,
} from './helpers/dwarf-tools.js';

const FIXTURES = ['dwarf_inline', 'dwarf_inline_v4', 'dwarf_inline_debugframe'];

let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hotpatch-dwarf-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function symbolAddress(path: string, name: string): bigint {
  const symbol = openElf(path).symbols().find((s) => s.name === name && s.type === 'func');
  assert.ok(symbol, `${name} in ${path}`);
  return symbol.value;
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// line tables

for (const fixture of FIXTURES) {
  test(`${fixture}: lineFor agrees with readelf --debug-dump=decodedline at every row address and the byte after`, () => {
    const path = fixturePath(fixture);
    const dwarf = openDwarf(openElf(path), { debugFile: null });
    const sequences = readelfLineSequences(path);
    assert.ok(sequences.length >= 3, 'one sequence per text section and unit');
    let checked = 0;
    for (const { rows, end } of sequences) {
      const addresses = [...new Set(rows.map((r) => r.address))];
      addresses.forEach((address, i) => {
        const next = addresses[i + 1] ?? end;
        for (const pc of next > address + 1n ? [address, address + 1n] : [address]) {
          const expected = expectedRow(rows, pc)!;
          const got = dwarf.lineFor(pc);
          if (expected.line === 0) {
            assert.equal(got, undefined, `${hex(pc)}: line 0 is no line`);
            continue;
          }
          assert.ok(got, `${hex(pc)}: a line (readelf: ${expected.file}:${expected.line})`);
          assert.equal(`${basename(got.file)}:${got.line}`, `${expected.file}:${expected.line}`, `line at ${hex(pc)}`);
          assert.equal(got.address, expected.address, `row address for ${hex(pc)}`);
          checked++;
        }
      });
      if (!sequences.some((s) => s.rows[0].address === end)) assert.equal(dwarf.lineFor(end), undefined, `${hex(end)} ends its sequence`);
    }
    assert.ok(checked > 80, `${checked} addresses checked`);
  });

  test(`${fixture}: addressesFor gives the first address of each run of statement rows readelf lists for a line`, () => {
    const path = fixturePath(fixture);
    const dwarf = openDwarf(openElf(path), { debugFile: null });
    const expected = new Map<string, Set<bigint>>();
    for (const { rows } of readelfLineSequences(path)) {
      rows.forEach((row, i) => {
        const previous = rows[i - 1];
        if (!row.isStmt || (previous && previous.line === row.line && previous.file === row.file)) return;
        const key = `${row.file}:${row.line}`;
        if (!expected.has(key)) expected.set(key, new Set());
        expected.get(key)!.add(row.address);
      });
    }
    assert.ok(expected.size > 20);
    for (const [key, addresses] of expected) {
      const [file, line] = key.split(':');
      const want = [...addresses].sort((a, b) => (a < b ? -1 : 1)).map(hex);
      assert.deepEqual(dwarf.addressesFor(file, Number(line)).map(hex), want, key);
    }
    // scale_add's body line: inlined into main once and into twice twice.
    const bodyLine = readFileSync(fixturePath('../dwarf_inline.c'), 'utf8').split('\n').indexOf('\treturn x * 3 + g_sink;') + 1;
    assert.ok(dwarf.addressesFor('dwarf_inline.c', bodyLine).length >= 3, 'scale_add body at three places or more');
    assert.deepEqual(dwarf.addressesFor('fixtures/dwarf_inline.c', bodyLine), dwarf.addressesFor('dwarf_inline.c', bodyLine), 'a path suffix');
    assert.deepEqual(dwarf.addressesFor('nope.c', bodyLine), []);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// inlined subroutines

interface ExpectedCopy {
  offset: number;
  function: string;
  caller: string;
  callFile: string;
  callLine: number;
  ranges: string[];
}

/** Every DW_TAG_inlined_subroutine as readelf's info and rawline dumps describe it (range lists: llvm-dwarfdump). */
function readelfInlinedCopies(path: string): ExpectedCopy[] {
  const dies = readelfDies(path);
  const ranges = llvmDieRanges(path);
  const fileTables = readelfFileTables(path);
  const out: ExpectedCopy[] = [];
  for (const die of dies.values()) {
    if (die.tag !== 'DW_TAG_inlined_subroutine') continue;
    let caller = die.parent;
    while (caller && caller.tag !== 'DW_TAG_subprogram' && caller.tag !== 'DW_TAG_inlined_subroutine') caller = caller.parent;
    const root = dies.get(die.unitRoot)!;
    const files = fileTables.get(Number(root.attrs.get('DW_AT_stmt_list')))!;
    const low = die.attrs.get('DW_AT_low_pc');
    let pieces: { start: bigint; end: bigint }[];
    if (low !== undefined) {
      const start = BigInt(low);
      const high = BigInt(die.attrs.get('DW_AT_high_pc')!);
      pieces = [{ start, end: high < start ? start + high : high }];
    } else {
      pieces = ranges.get(die.offset) ?? [];
    }
    out.push({
      offset: die.offset,
      function: readelfName(dies, attrRef(die.attrs.get('DW_AT_abstract_origin'))!)!,
      caller: caller ? readelfName(dies, caller.offset)! : '??',
      callFile: files.get(Number(die.attrs.get('DW_AT_call_file')))!,
      callLine: Number(die.attrs.get('DW_AT_call_line')),
      ranges: pieces.filter((p) => p.end > p.start).map((p) => `${hex(p.start)}-${hex(p.end)}`).sort(),
    });
  }
  return out;
}

function describeCopy(c: InlinedCopy): ExpectedCopy {
  return {
    offset: c.dieOffset,
    function: c.function,
    caller: c.caller,
    callFile: basename(c.callSite?.file ?? '?'),
    callLine: c.callSite?.line ?? -1,
    ranges: c.ranges.map((r) => `${hex(r.start)}-${hex(r.end)}`).sort(),
  };
}

for (const fixture of FIXTURES) {
  test(`${fixture}: inlinedCopies and functionAt agree with readelf's DW_TAG_inlined_subroutine DIEs`, () => {
    const path = fixturePath(fixture);
    const dwarf = openDwarf(openElf(path), { debugFile: null });
    const expected = readelfInlinedCopies(path);
    const names = [...new Set(expected.map((e) => e.function))];
    for (const wanted of ['scale_add', 'both_ways', 'wait_here', 'pick']) assert.ok(names.includes(wanted), `${wanted} is inlined somewhere`);
    for (const name of names) {
      const want = expected.filter((e) => e.function === name).sort((a, b) => a.offset - b.offset);
      const got = dwarf.inlinedCopies(name).map(describeCopy).sort((a, b) => a.offset - b.offset);
      assert.deepEqual(got, want, `copies of ${name}`);
    }
    const scaleAdd = dwarf.inlinedCopies('scale_add');
    assert.deepEqual([...new Set(scaleAdd.map((c) => c.outerFunction))].sort(), ['main', 'twice']);
    // At each copy's first address, the frames hold the copy, and its caller right after it.
    for (const copy of expected) {
      if (copy.ranges.length === 0) continue;
      const pc = BigInt(copy.ranges[0].split('-')[0]);
      const frames = dwarf.functionAt(pc);
      const at = frames.findIndex((f) => f.dieOffset === copy.offset);
      assert.ok(at >= 0, `${copy.function}@${hex(pc)} in ${frames.map((f) => f.name)}`);
      assert.equal(frames[at].inlined, true);
      assert.equal(frames[at + 1]?.name, copy.caller, `${copy.function}@${hex(pc)}: caller`);
      assert.equal(frames[at + 1]?.location?.line, copy.callLine, 'the caller is at the call site');
      assert.equal(frames[frames.length - 1].inlined, false, 'the last frame is the out-of-line function');
    }
  });
}

test('inlinedCopies by address: the copies of that function only; functionAt of plain functions', () => {
  const path = fixturePath('dwarf_inline');
  const dwarf = openDwarf(openElf(path), { debugFile: null });
  const bothWays = symbolAddress(path, 'both_ways');
  const byName = dwarf.inlinedCopies('both_ways').map((c) => c.dieOffset);
  assert.ok(byName.length >= 1, 'both_ways is inlined into twice');
  assert.deepEqual(dwarf.inlinedCopies(bothWays).map((c) => c.dieOffset), byName);
  assert.deepEqual(dwarf.inlinedCopies(bothWays + 2n).map((c) => c.dieOffset), byName, 'any address inside it');
  assert.deepEqual(dwarf.inlinedCopies('twice'), [], 'twice is never inlined');
  assert.deepEqual(dwarf.inlinedCopies('no_such_function'), []);
  for (const name of ['recurse', 'big_frame', 'chain_a', 'chain_b', 'both_ways']) {
    const frames = dwarf.functionAt(symbolAddress(path, name));
    assert.deepEqual(frames.map((f) => [f.name, f.inlined]), [[name, false]], name);
    assert.equal(frames[0].entryPc, symbolAddress(path, name));
  }
  const other = dwarf.functionAt(symbolAddress(path, 'other_unit') + 4n);
  assert.equal(other[other.length - 1].name, 'other_unit', 'the second unit is found');
  assert.deepEqual(dwarf.functionAt(0n), []);
  assert.equal(dwarf.lineFor(0n), undefined);
});

// ---------------------------------------------------------------------------------------------------------------
// call frame information

/** Every row of every FDE, at its first address and its last, against readelf's frames-interp table. */
function checkFrames(dwarf: Dwarf, fdes: ReadelfFde[], label: string): number {
  let checked = 0;
  for (const fde of fdes) {
    fde.rows.forEach((row, i) => {
      const end = fde.rows[i + 1]?.loc ?? fde.end;
      for (const pc of end - 1n > row.loc ? [row.loc, end - 1n] : [row.loc]) {
        const rule = dwarf.frameRuleFor(pc);
        assert.ok(rule, `${label} ${fde.section} FDE at 0x${fde.offset.toString(16)}: a rule for ${hex(pc)}`);
        // Where .eh_frame and .debug_frame both cover a pc, ours answers from .eh_frame.
        if (rule.fde.section !== fde.section) continue;
        const ours = dwarf.describeFrameRule(rule);
        assert.equal(ours.cfa, row.cfa, `${label} CFA at ${hex(pc)}`);
        const theirs = Object.fromEntries(Object.entries(row.registers).filter(([, v]) => v !== 'u'));
        const mine = Object.fromEntries(Object.entries(ours.registers).filter(([, v]) => v !== 'u'));
        assert.deepEqual(mine, theirs, `${label} registers at ${hex(pc)}`);
        checked++;
      }
    });
  }
  return checked;
}

for (const fixture of FIXTURES) {
  test(`${fixture}: frameRuleFor agrees with readelf --debug-dump=frames-interp at every row`, () => {
    const path = fixturePath(fixture);
    const dwarf = openDwarf(openElf(path), { debugFile: null });
    const fdes = readelfFrames(path);
    const checked = checkFrames(dwarf, fdes, fixture);
    assert.ok(checked > 20, `${checked} rows`);
    // The shapes the fixture was made for.
    const bigFrame = symbolAddress(path, 'big_frame');
    const rows = dwarf.frameRowsAround(bigFrame).map((r) => dwarf.describeFrameRule(r).cfa);
    assert.ok(rows.includes('r11+65552'), `stack-clash probe loop: ${rows}`);
    assert.ok(rows.includes('rsp+65552'), `big frame: ${rows}`);
    const section = fixture === 'dwarf_inline_debugframe' ? '.debug_frame' : '.eh_frame';
    assert.equal(dwarf.frameRuleFor(bigFrame)?.fde.section, section);
  });
}

test('the PLT CFA expression: rsp+8, and 8 more once the entry pushed', () => {
  const path = fixturePath('dwarf_inline');
  const elf = openElf(path);
  const dwarf = openDwarf(elf, { debugFile: null });
  const plt = elf.sections.find((s) => s.name === '.plt')!;
  const raw = run('readelf', ['--debug-dump=frames', path]);
  // gcc/ld: DW_OP_breg7 (rsp): 8; DW_OP_breg16 (rip): 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
  const threshold = Number(/DW_OP_lit15; DW_OP_and; DW_OP_lit(\d+); DW_OP_ge/.exec(raw)![1]);
  const rsp = 0x7ffc00001000n;
  const bias = 0x555500000000n;
  let checked = 0;
  for (let pc = plt.addr + 16n; pc < plt.addr + plt.size; pc++) {
    const rule = dwarf.frameRuleFor(pc);
    if (rule?.cfa.kind !== 'expression') continue;
    const cfa = rsp + 8n + ((pc & 15n) >= BigInt(threshold) ? 8n : 0n);
    const memory = (address: bigint, length: number) => {
      const b = Buffer.alloc(length);
      if (address === cfa - 8n) b.writeBigUInt64LE(bias + 0x1234n);
      return b;
    };
    const caller = dwarf.unwindStep({ rip: pc + bias, rsp }, memory, { loadBias: bias });
    assert.equal(caller?.cfa, cfa, `CFA at ${hex(pc)}`);
    assert.equal(caller?.registers.rip, bias + 0x1234n);
    assert.equal(caller?.registers.rsp, cfa);
    checked++;
  }
  assert.ok(checked >= 16, `${checked} PLT addresses`);
});

test('unwindStep: callee-saved registers from the stack, CFA from r11 in the probe loop, the end at _start', () => {
  const path = fixturePath('dwarf_inline');
  const dwarf = openDwarf(openElf(path), { debugFile: null });
  const rows = dwarf.frameRowsAround(symbolAddress(path, 'big_frame'));
  const stack = new Map<bigint, bigint>();
  const memory = (address: bigint, length: number) => {
    const value = stack.get(address);
    if (value === undefined || length !== 8) return undefined;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value);
    return b;
  };
  for (const [cfaText, base] of [['rsp+65552', 'rsp'], ['r11+65552', 'r11']] as const) {
    const row = rows.find((r) => dwarf.describeFrameRule(r).cfa === cfaText)!;
    const baseValue = 0x7ffd00000000n;
    const cfa = baseValue + 65552n;
    stack.clear();
    stack.set(cfa - 8n, 0x1111n);
    stack.set(cfa - 16n, 0x2222n);
    const registers = { rip: row.start, rsp: 0x7ffd00000000n, [base]: baseValue, rbx: 7n, rbp: 8n, r12: 9n, rax: 1n };
    const caller = dwarf.unwindStep(registers, memory)!;
    assert.deepEqual(caller.registers, { rip: 0x1111n, rsp: cfa, rbx: 0x2222n, rbp: 8n, r12: 9n }, cfaText);
    assert.equal(caller.pcIsReturnAddress, true);
    stack.delete(cfa - 16n);
    assert.throws(() => dwarf.unwindStep(registers, memory), (e: HotpatchError) => e.code === 'E_UNWIND' && /cannot read/.test(e.message));
  }
  // _start's CIE leaves the return address undefined: the outermost frame.
  const start = openElf(path).entry;
  assert.equal(dwarf.unwindStep({ rip: start + 4n, rsp: 0x1000n }, memory), undefined);
  assert.throws(() => dwarf.unwindStep({ rip: 0x10n, rsp: 0x1000n }, memory), (e: HotpatchError) => e.code === 'E_UNWIND');
  // A return address is looked up one byte back: a call as the last instruction still finds its own function.
  const chainC = symbolAddress(path, 'chain_c');
  assert.equal(dwarf.frameRuleFor(chainC)?.fde.start, chainC);
});

// ---------------------------------------------------------------------------------------------------------------
// files without DWARF, separate debug files

test('a file without DWARF answers empty; a separate debug file is found by .gnu_debuglink and gives the same answers', () => {
  const path = fixturePath('dwarf_inline_v4');
  const original = openDwarf(openElf(path), { debugFile: null });
  const bare = join(dir, 'bare');
  run('strip', ['--strip-debug', '-o', bare, path]);
  const none = openDwarf(openElf(bare), { debugFile: null });
  const pc = symbolAddress(path, 'twice') + 2n;
  assert.equal(none.hasDebugInfo, false);
  assert.equal(none.lineFor(pc), undefined);
  assert.deepEqual(none.functionAt(pc), []);
  assert.deepEqual(none.inlinedCopies('scale_add'), []);
  assert.deepEqual(none.addressesFor('dwarf_inline.c', 22), []);
  assert.ok(none.frameRuleFor(pc), 'CFI is in .eh_frame, not in the debug information');

  const debug = join(dir, 'split.debug');
  const split = join(dir, 'split');
  run('objcopy', ['--only-keep-debug', path, debug]);
  copyFileSync(path, join(dir, 'split.tmp'));
  run('objcopy', ['--strip-debug', `--add-gnu-debuglink=${debug}`, join(dir, 'split.tmp'), split]);
  const found = openDwarf(openElf(split), { debugRoot: join(dir, 'no-debug-root') });
  assert.equal(found.debugPath, debug);
  assert.deepEqual(found.lineFor(pc), original.lineFor(pc));
  assert.deepEqual(found.functionAt(pc), original.functionAt(pc));
  assert.deepEqual(found.inlinedCopies('scale_add'), original.inlinedCopies('scale_add'));
  assert.deepEqual(found.frameRuleFor(pc), original.frameRuleFor(pc));
});

// ---------------------------------------------------------------------------------------------------------------
// damage

/** The fixture's bytes with `edit` applied to one section's bytes, opened from memory. */
function damaged(fixture: string, section: string, edit: (bytes: Buffer) => void): Dwarf {
  const path = fixturePath(fixture);
  const bytes = Buffer.from(readFileSync(path));
  const s = openElf(path).sections.find((x) => x.name === section)!;
  edit(bytes.subarray(Number(s.offset), Number(s.offset + s.size)));
  return openDwarf(parseElf(bytes, `${path} (damaged)`), { debugFile: null });
}

function assertDwarfBad(work: () => unknown, pattern: RegExp, label: string): void {
  assert.throws(work, (e: unknown) => {
    assert.ok(e instanceof HotpatchError, `${label}: ${String(e)}`);
    assert.equal(e.code, 'E_DWARF_BAD', `${label}: ${e.message}`);
    assert.match(e.message, pattern, label);
    return true;
  });
}

test('damaged DWARF is E_DWARF_BAD with the place named: a cyclic abstract origin, a unit past its section, an unknown form', () => {
  const path = fixturePath('dwarf_inline');
  const dies = readelfDies(path);
  const copy = [...dies.values()].find((d) => d.tag === 'DW_TAG_inlined_subroutine' && readelfName(dies, d.offset) === 'scale_add')!;
  const text = run('readelf', ['-W', '--debug-dump=info', path]);
  // The attribute's own offset, from its line "<429>   DW_AT_abstract_origin: <0x7cd>" after the DIE's header.
  const after = text.slice(text.indexOf(`<${copy.offset.toString(16)}>: Abbrev`));
  const attrOffset = parseInt(/<([0-9a-f]+)>\s+DW_AT_abstract_origin/.exec(after)![1], 16);
  const unitStart = copy.unitRoot - 12; // DWARF 5 32-bit unit header
  const looped = damaged('dwarf_inline', '.debug_info', (b) => b.writeUInt32LE(copy.offset - unitStart, attrOffset));
  assertDwarfBad(() => looped.inlinedCopies('scale_add'), /\.debug_info at 0x[0-9a-f]+: .*loop/, 'cycle');
  const pc = BigInt(readelfInlinedCopies(path).find((c) => c.offset === copy.offset)!.ranges[0].split('-')[0]);
  assertDwarfBad(() => looped.functionAt(pc), /loop/, 'cycle via functionAt');

  const long = damaged('dwarf_inline', '.debug_info', (b) => b.writeUInt32LE(0x7fffff00, 0));
  assertDwarfBad(() => long.functionAt(pc), /runs past the end/, 'unit length');
  assert.match((() => { try { long.functionAt(pc); } catch (e) { return (e as HotpatchError).message; } return ''; })(),
    /dwarf_inline \(damaged\): \.debug_info at 0x0:/, 'the message names file, section and offset');

  const form = damaged('dwarf_inline', '.debug_abbrev', (b) => {
    // The first attribute spec of the first abbreviation: code, tag, children, then (name, form).
    let i = 0;
    while (b[i] & 0x80) i++;
    i++;
    while (b[i] & 0x80) i++;
    i += 2;
    while (b[i] & 0x80) i++;
    b[i + 1] = 0x7f;
  });
  assertDwarfBad(() => form.lineFor(pc), /unknown form 0x7f/, 'form');

  const recurse = symbolAddress(path, 'recurse');
  const cie = openDwarf(openElf(path), { debugFile: null }).frameRuleFor(recurse)!.fde.cieOffset;
  const frames = damaged('dwarf_inline', '.eh_frame', (b) => b.writeUInt32LE(0x7fff0000, cie));
  assertDwarfBad(() => frames.frameRuleFor(recurse), new RegExp(`\\.eh_frame at 0x${cie.toString(16)}: .*runs past the end`), 'CIE length');
});

test('fuzz: 400 damaged copies give answers or HotpatchErrors (E_DWARF_BAD, E_UNWIND), never another exception or a hang', { timeout: 120_000 }, () => {
  const path = fixturePath('dwarf_inline');
  const pristine = readFileSync(path);
  const elf = openElf(path);
  const sections = ['.debug_info', '.debug_abbrev', '.debug_line', '.debug_rnglists', '.debug_str', '.eh_frame', '.eh_frame_hdr', '.debug_aranges']
    .map((name) => elf.sections.find((s) => s.name === name)!);
  const pcs = ['twice', 'recurse', 'big_frame', 'chain_c', 'main', 'both_ways'].map((n) => symbolAddress(path, n) + 3n);
  let seed = 12345;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const codes = new Map<string, number>();
  let slowest = 0;
  for (let i = 0; i < 400; i++) {
    const bytes = Buffer.from(pristine);
    const section = sections[i % sections.length];
    for (let k = 0; k <= random(4); k++) {
      const at = Number(section.offset) + random(Number(section.size));
      bytes[at] = random(3) === 0 ? 0xff : bytes[at] ^ (1 << random(8));
    }
    const started = performance.now();
    const attempt = (work: () => unknown) => {
      try {
        work();
        codes.set('ok', (codes.get('ok') ?? 0) + 1);
      } catch (e) {
        if (!(e instanceof HotpatchError)) throw new Error(`mutant ${i} in ${section.name}: ${(e as Error).stack}`);
        assert.ok(['E_DWARF_BAD', 'E_UNWIND'].includes(e.code), `mutant ${i}: ${e.code} ${e.message}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }
    };
    const dwarf = openDwarf(parseElf(bytes, `mutant ${i}`), { debugFile: null });
    const memory = () => Buffer.alloc(8, 1);
    for (const pc of pcs) {
      attempt(() => dwarf.lineFor(pc));
      attempt(() => dwarf.functionAt(pc));
      attempt(() => dwarf.frameRowsAround(pc));
      attempt(() => dwarf.unwindStep({ rip: pc, rsp: 0x7000n, rbx: 1n }, memory));
    }
    attempt(() => dwarf.inlinedCopies('scale_add'));
    attempt(() => dwarf.addressesFor('dwarf_inline.c', 22));
    slowest = Math.max(slowest, performance.now() - started);
  }
  assert.ok((codes.get('E_DWARF_BAD') ?? 0) > 50, `the mutations reach the checks: ${[...codes]}`);
  assert.ok(slowest < 2000, `slowest mutant ${slowest.toFixed(0)} ms`);
});
