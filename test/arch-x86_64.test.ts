// Unit tests for src/arch/x86_64: register blocks, jump encodings, disassembly, padding, relocation, branch checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HotpatchError } from '../src/errors.js';
import { currentArch } from '../src/arch/index.js';
import {
  x86_64, decodeRegs, encodeRegs, readRegisterByName, formatEflags, REG_OFFSET, REGISTER_NAMES, USER_REGS_SIZE,
  encodeJmpRel32, encodeJmpAbs14, jumpTargetOf, REL32_MIN, REL32_MAX, disassemble, paddingAfter, relocate, branchesInto,
  RETURN_STUB, STUB_DONE_OFFSET, STUB_SIGNAL,
} from '../src/arch/x86_64/index.js';
import { loadIced } from '../src/arch/x86_64/relocate.js';
import { pltSlot } from '../src/arch/x86_64/plt.js';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

// ---------------------------------------------------------------------------------------------------------------
// registers

const KERNEL_ORDER = [
  'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
  'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs',
];

/** A block where every field is different and uses all 64 bits, so a swapped or truncated field shows. */
function sampleBlock(): Buffer {
  const buf = Buffer.alloc(USER_REGS_SIZE);
  KERNEL_ORDER.forEach((_, i) => buf.writeBigUInt64LE(0xf0e0d0c0_00000000n + BigInt(i) * 0x01010101n + 0x100n, i * 8));
  return buf;
}

test('regs: the block is 27 u64 in kernel order and offsets match', () => {
  assert.equal(USER_REGS_SIZE, 216);
  assert.equal(x86_64.regsSize, 216);
  KERNEL_ORDER.forEach((name, i) => assert.equal(REG_OFFSET[name as keyof typeof REG_OFFSET], i * 8, name));
  const values = decodeRegs(sampleBlock()).values;
  KERNEL_ORDER.forEach((name, i) => assert.equal(values[name], 0xf0e0d0c0_00000000n + BigInt(i) * 0x01010101n + 0x100n, name));
  assert.equal(Object.keys(values).length, 27);
});

test('regs: encode(decode(block)) gives the same bytes; a partial set keeps the rest', () => {
  const original = sampleBlock();
  const out = Buffer.alloc(USER_REGS_SIZE);
  encodeRegs(decodeRegs(original), out);
  assert.deepEqual(out, original);

  const patched = Buffer.from(original);
  encodeRegs({ values: { rip: 0x401000n, orig_rax: -1n } }, patched);
  assert.equal(patched.readBigUInt64LE(REG_OFFSET.rip), 0x401000n);
  assert.equal(patched.readBigUInt64LE(REG_OFFSET.orig_rax), 0xffffffffffffffffn, '-1 is stored as all ones');
  assert.deepEqual(patched.subarray(0, REG_OFFSET.orig_rax), original.subarray(0, REG_OFFSET.orig_rax));
  assert.deepEqual(patched.subarray(REG_OFFSET.cs), original.subarray(REG_OFFSET.cs));
});

test('regs: encoding a name that is not a full register is refused', () => {
  assert.throws(() => encodeRegs({ values: { eax: 1n } }, Buffer.alloc(USER_REGS_SIZE)),
    (e: unknown) => e instanceof HotpatchError && e.code === 'E_BAD_REGISTER');
  assert.throws(() => decodeRegs(Buffer.alloc(100)), HotpatchError);
});

test('regs: readRegisterByName reads full names, aliases and narrower views', () => {
  const regs = { values: { ...decodeRegs(Buffer.alloc(USER_REGS_SIZE)).values,
    rax: 0x1122334455667788n, rdi: 0xffffffff80000001n, r8: 0xaabbccdd00112233n, rip: 0x555555555149n, rsp: 0x7ffc0000n } };
  const cases: Array<[string, bigint | undefined]> = [
    ['rax', 0x1122334455667788n], ['eax', 0x55667788n], ['ax', 0x7788n], ['al', 0x88n], ['ah', 0x77n],
    ['edi', 0x80000001n], ['di', 0x0001n], ['dil', 0x01n], ['r8d', 0x00112233n], ['r8w', 0x2233n], ['r8b', 0x33n],
    ['pc', 0x555555555149n], ['sp', 0x7ffc0000n], ['RIP', 0x555555555149n], ['eip', 0x55555149n],
    ['rflags', 0n], ['xmm0', undefined], ['', undefined], ['r16d', undefined],
  ];
  for (const [name, want] of cases) assert.equal(readRegisterByName(regs, name), want, name);
});

test('regs: display order starts with the general registers and ends with segments', () => {
  assert.equal(new Set(REGISTER_NAMES).size, 27);
  assert.deepEqual([...REGISTER_NAMES].sort(), [...KERNEL_ORDER].sort());
  assert.deepEqual(REGISTER_NAMES.slice(0, 4), ['rax', 'rbx', 'rcx', 'rdx']);
  assert.ok(REGISTER_NAMES.indexOf('rip') > REGISTER_NAMES.indexOf('r15'));
  assert.equal(REGISTER_NAMES.indexOf('eflags'), REGISTER_NAMES.indexOf('rip') + 1);
  assert.deepEqual(REGISTER_NAMES.slice(-6), ['cs', 'ss', 'ds', 'es', 'fs', 'gs']);
});

test('regs: formatEflags names the set flags, low bit first', () => {
  const cases: Array<[bigint, string]> = [
    [0x246n, 'PF ZF IF'], [0x202n, 'IF'], [0n, ''], [0x2n, ''], [0x1n, 'CF'],
    [0x8d5n, 'CF PF AF ZF SF OF'], [0x10700n, 'TF IF DF RF'], [0x240000n, 'AC ID'],
  ];
  for (const [value, want] of cases) assert.equal(formatEflags(value), want, `0x${value.toString(16)}`);
});

// ---------------------------------------------------------------------------------------------------------------
// jumps

test('jump: rel32 encodings at and just past the ±2 GiB boundary', () => {
  const cases: Array<[string, bigint, bigint, string | undefined]> = [
    ['to itself', 0x401000n, 0x401000n, 'e9fbffffff'],
    ['to the next instruction', 0x401000n, 0x401005n, 'e900000000'],
    ['short forward', 0x401000n, 0x401105n, 'e900010000'],
    ['farthest forward', 0x401000n, 0x401005n + REL32_MAX, 'e9ffffff7f'],
    ['one past forward', 0x401000n, 0x401005n + REL32_MAX + 1n, undefined],
    ['farthest backward', 0x90000000n, 0x90000005n + REL32_MIN, 'e900000080'],
    ['one past backward', 0x90000000n, 0x90000005n + REL32_MIN - 1n, undefined],
    ['high addresses, farthest back', 0x7fffffff0000n, 0x7fffffff0005n - 0x80000000n, 'e900000080'],
    ['PIE executable to a library', 0x555555555149n, 0x7ffff7e00000n, undefined],
    ['library to PIE executable', 0x7ffff7e00000n, 0x555555555149n, undefined],
  ];
  for (const [name, from, to, want] of cases) {
    const got = encodeJmpRel32(from, to);
    assert.equal(got === undefined ? undefined : hexOf(got), want, name);
    assert.deepEqual(x86_64.encodeShortJump(from, to), got, `${name} (through the Arch)`);
    if (got) assert.deepEqual(jumpTargetOf(got, from), { kind: 'rel32', size: 5, target: to }, `${name} read back`);
  }
  assert.equal(x86_64.shortJumpReach, 0x7fffffffn);
  assert.equal(x86_64.shortJumpSize, 5);
});

test('jump: the 14-byte absolute form is jmp [rip+0] followed by the address', () => {
  const cases: Array<[bigint, string]> = [
    [0x7ffff7e0a1b0n, 'ff2500000000b0a1e0f7ff7f0000'],
    [0n, 'ff25000000000000000000000000'],
    [0xffffffffffffffffn, 'ff2500000000ffffffffffffffff'],
  ];
  for (const [to, want] of cases) {
    const got = encodeJmpAbs14(to);
    assert.equal(hexOf(got), want);
    assert.deepEqual(x86_64.encodeAbsoluteJump(0x401000n, to), got);
    assert.deepEqual(jumpTargetOf(got, 0x401000n), { kind: 'abs14', size: 14, target: to });
  }
  assert.throws(() => encodeJmpAbs14(-1n), RangeError);
  assert.throws(() => encodeJmpAbs14(1n << 64n), RangeError);
});

test('jump: jumpTargetOf reads the jumps the redirect writes (rel32, rel8, abs14) and nothing else', () => {
  const cases: Array<[string, string]> = [
    ['push rbp', '554889e5c3'],
    ['rel32 cut short', 'e90000'],
    ['jmp [rip+8], not +0', 'ff25080000000000000000000000'],
    ['absolute form cut short', 'ff250000000011223344'],
    ['empty', ''],
  ];
  for (const [name, h] of cases) assert.equal(jumpTargetOf(bytes(h), 0x401000n), undefined, name);
  // A tiny function's entry: jmp rel8 to its hop, read back as the redirect wrote it (forward and backward).
  assert.deepEqual(jumpTargetOf(bytes('eb05909090'), 0x401000n), { kind: 'rel8', size: 2, target: 0x401007n });
  assert.deepEqual(jumpTargetOf(bytes('ebfe'), 0x401000n), { kind: 'rel8', size: 2, target: 0x401000n });
  // Reading from the middle of a larger buffer must use that view's offset.
  const buf = bytes('9090e9fbffffff');
  assert.deepEqual(jumpTargetOf(buf.subarray(2), 0x401002n), { kind: 'rel32', size: 5, target: 0x401002n });
});

// ---------------------------------------------------------------------------------------------------------------
// disassembly

test('disasm: a prologue, a call with its target, lea and ret', async () => {
  const code = bytes('55 4889e5 e810000000 8d4701 c3');
  const got = await disassemble(code, 0x401000n);
  assert.deepEqual(got.map((i) => [i.address, i.size, i.mnemonic, i.opStr]), [
    [0x401000n, 1, 'push', 'rbp'],
    [0x401001n, 3, 'mov', 'rbp, rsp'],
    [0x401004n, 5, 'call', '0x401019'],
    [0x401009n, 3, 'lea', 'eax, [rdi + 1]'],
    [0x40100cn, 1, 'ret', ''],
  ]);
  assert.equal(got[2]!.target, 0x401019n);
  assert.deepEqual(got.map((i) => [i.isCall, i.isBranch, i.isReturn, i.isPadding]), [
    [false, false, false, false], [false, false, false, false], [true, false, false, false],
    [false, false, false, false], [false, false, true, false],
  ]);
  assert.deepEqual(got[2]!.bytes, bytes('e810000000'));
  assert.equal(got[0]!.target, undefined);
});

test('disasm: branch kinds and their targets', async () => {
  const code = bytes('7405 ebfe e2fc e300 0f8400010000 ffe0 ff2500000000 f2c3');
  const got = await disassemble(code, 0x401000n);
  const rows = got.map((i) => [i.mnemonic, i.target, i.isBranch, i.isReturn]);
  assert.deepEqual(rows, [
    ['je', 0x401007n, true, false],
    ['jmp', 0x401002n, true, false],
    ['loop', 0x401002n, true, false],
    ['jrcxz', 0x401008n, true, false],
    ['je', 0x40110en, true, false],
    ['jmp', undefined, true, false],
    ['jmp', undefined, true, false],
    ['bnd ret', undefined, false, true],
  ]);
});

test('disasm: padding forms are recognised, real code is not', async () => {
  const cases: Array<[string, string, boolean]> = [
    ['66 2e 0f 1f 84 00 00 00 00 00', 'nop', true],
    ['66 66 2e 0f 1f 84 00 00 00 00 00', 'nop', true],
    ['0f 1f 40 00', 'nop', true],
    ['0f 1f 44 00 00', 'nop', true],
    ['66 90', 'nop', true],
    ['90', 'nop', true],
    ['cc', 'int3', true],
    ['f3 0f 1e fa', 'endbr64', false],
    ['55', 'push', false],
    ['0f 0b', 'ud2', false],
  ];
  for (const [h, mnemonic, padding] of cases) {
    const [insn, ...rest] = await disassemble(bytes(h), 0x1000n);
    assert.equal(rest.length, 0, h);
    assert.equal(insn!.size, bytes(h).length, h);
    assert.equal(insn!.mnemonic, mnemonic, h);
    assert.equal(insn!.isPadding, padding, h);
  }
});

test('disasm: undecodable bytes become one-byte (bad) entries and decoding goes on', async () => {
  const got = await disassemble(bytes('06 90 48'), 0x2000n);
  assert.deepEqual(got.map((i) => [i.address, i.size, i.mnemonic, i.opStr]), [
    [0x2000n, 1, '(bad)', '.byte 0x06'],
    [0x2001n, 1, 'nop', ''],
    [0x2002n, 1, '(bad)', '.byte 0x48'],
  ]);
  assert.deepEqual(await disassemble(new Uint8Array(0), 0x2000n), []);
  const garbage = new Uint8Array(64).fill(0x06);
  assert.equal((await disassemble(garbage, 0n)).length, 64);
});

test('disasm: count stops the listing, bad entries included', async () => {
  const code = bytes('55 06 4889e5 c3');
  assert.deepEqual((await disassemble(code, 0x10n, 2)).map((i) => i.mnemonic), ['push', '(bad)']);
  assert.deepEqual((await disassemble(code, 0x10n, 3)).map((i) => i.mnemonic), ['push', '(bad)', 'mov']);
  assert.equal((await disassemble(code, 0x10n, 100)).length, 4);
});

test('disasm: long input keeps addresses and decodes across internal windows', async () => {
  // A bad byte and a 10-byte nop placed around the 4096-byte mark, where the decoder resumes.
  const code = new Uint8Array(6000).fill(0x90);
  code.set(bytes('66 2e 0f 1f 84 00 00 00 00 00'), 4090);
  code[5000] = 0x06;
  const base = 0x555555554000n;
  const got = await disassemble(code, base);
  assert.equal(got.length, 6000 - 9);
  const long = got.find((i) => i.size === 10);
  assert.equal(long?.address, base + 4090n);
  const bad = got.filter((i) => i.mnemonic === '(bad)');
  assert.deepEqual(bad.map((i) => i.address), [base + 5000n]);
  let at = base;
  for (const insn of got) {
    assert.equal(insn.address, at);
    at += BigInt(insn.size);
  }
  assert.equal(at, base + 6000n);
});

test('paddingAfter: a 4-byte function followed by its nop padding', async () => {
  // gcc -O2 `static int tick(int x) { return x + 1; }`: lea eax,[rdi+1]; ret; then 12 bytes of padding.
  const code = bytes('8d4701 c3 66662e0f1f840000000000 90 55');
  const instrs = await disassemble(code, 0x401000n);
  const cases: Array<[string, bigint, bigint, number]> = [
    ['up to the next symbol', 0x401004n, 0x401010n, 12],
    ['next symbol inside the padding', 0x401004n, 0x40100an, 6],
    ['no next symbol close by: stops at push', 0x401004n, 0x402000n, 12],
    ['end is not an instruction boundary', 0x401003n, 0x401010n, 0],
    ['end at real code', 0x401000n, 0x401010n, 0],
    ['next symbol right at the end', 0x401004n, 0x401004n, 0],
  ];
  for (const [name, end, next, want] of cases) assert.equal(paddingAfter(instrs, end, next), want, name);
});

// ---------------------------------------------------------------------------------------------------------------
// relocation

interface Decoded {
  ip: bigint;
  length: number;
  text: string;
  target: bigint;
  ipRel?: bigint;
  isJccNear: boolean;
  isCallNear: boolean;
  isJmp: boolean;
  isJmpIndirect: boolean;
  nextIp: bigint;
}

/** Decode with iced, independently of the relocation code's own path, to check what the CPU will run. */
async function decodeAll(code: Uint8Array, ip: bigint, max = 64): Promise<Decoded[]> {
  const x86 = await loadIced();
  const decoder = new x86.Decoder(64, code, x86.DecoderOptions.None);
  decoder.ip = ip;
  const out: Decoded[] = [];
  while (decoder.canDecode && out.length < max) {
    const i = decoder.decode();
    out.push({
      ip: i.ip, length: i.length, text: i.toString(), target: i.nearBranchTarget,
      ...(i.isIpRelMemoryOperand ? { ipRel: i.ipRelMemoryAddress } : {}),
      isJccNear: i.isJccNear, isCallNear: i.isCallNear, isJmp: i.isJmpShortOrNear, isJmpIndirect: i.isJmpNearIndirect,
      nextIp: i.nextIP,
    });
    i.free();
  }
  decoder.free();
  return out;
}

function qwordAt(code: Uint8Array, base: bigint, address: bigint): bigint {
  return Buffer.from(code).readBigUInt64LE(Number(address - base));
}

const FROM = 0x555555554000n;

test('relocate: a rip-relative load keeps its absolute target and jumps back', async () => {
  const code = bytes('488b0510000000 c3');
  const to = FROM + 0x1000n;
  const r = await relocate(code, FROM, 5, to);
  assert.equal(r.consumed, 7);
  assert.equal(r.instructions, 1);
  const [mov, back, ...rest] = await decodeAll(r.bytes, to);
  assert.equal(mov!.ipRel, FROM + 7n + 0x10n, 'same absolute address as before');
  assert.equal(mov!.length, 7);
  assert.ok(back!.isJmp);
  assert.equal(back!.target, FROM + 7n, 'jumps back after the moved instruction');
  assert.equal(rest.length, 0);
  assert.equal(hexOf(r.bytes.subarray(7)), hexOf(encodeJmpRel32(to + 7n, FROM + 7n)!));
});

test('relocate: a leading short je is widened and keeps its target', async () => {
  // je +5; mov rbp,rsp; ...: the je's target (FROM+7) is 4 KiB away from the copy, past rel8 reach.
  const code = bytes('7405 4889e5 5d c3 90 c3');
  const to = FROM + 0x1000n;
  const r = await relocate(code, FROM, 5, to);
  assert.equal(r.consumed, 5);
  assert.equal(r.instructions, 2);
  const [je, mov, back] = await decodeAll(r.bytes, to);
  assert.ok(je!.isJccNear, je!.text);
  assert.equal(je!.target, FROM + 7n);
  assert.equal(mov!.text, 'mov rbp,rsp');
  assert.ok(back!.isJmp);
  assert.equal(back!.target, FROM + 5n);
});

test('relocate: a call keeps its target and returns onto the jump back', async () => {
  const code = bytes('e800010000 90');
  const to = FROM + 0x1000n;
  const r = await relocate(code, FROM, 5, to);
  assert.equal(r.consumed, 5);
  const [call, back] = await decodeAll(r.bytes, to);
  assert.ok(call!.isCallNear);
  assert.equal(call!.target, FROM + 5n + 0x100n);
  assert.equal(back!.ip, call!.nextIp);
  assert.equal(back!.target, FROM + 5n);
});

test('relocate: a trampoline out of rel32 reach ends in the 14-byte absolute jump', async () => {
  const code = bytes('55 4889e5 4154 c3');
  const to = 0x7f0000001000n;
  const r = await relocate(code, FROM, 5, to);
  assert.equal(r.consumed, 6);
  assert.equal(r.instructions, 3);
  assert.equal(hexOf(r.bytes), '554889e54154' + hexOf(encodeJmpAbs14(FROM + 6n)));
});

test('relocate: a far call becomes an indirect call that still returns onto the jump back', async () => {
  const code = bytes('e810000000 c3');
  const to = 0x7f0000001000n;
  const r = await relocate(code, FROM, 5, to);
  const [call, back] = await decodeAll(r.bytes, to);
  assert.ok(call!.ipRel !== undefined, call!.text);
  assert.equal(qwordAt(r.bytes, to, call!.ipRel!), FROM + 5n + 0x10n, 'call slot holds the original target');
  assert.equal(back!.ip, call!.nextIp, 'the return address is the jump back');
  assert.ok(back!.isJmpIndirect, back!.text);
  assert.equal(qwordAt(r.bytes, to, back!.ipRel!), FROM + 5n);
});

test('relocate: a far je becomes jcc around an absolute jump with the same target', async () => {
  const code = bytes('7410 4889e5 c3');
  const to = 0x7f0000001000n;
  const r = await relocate(code, FROM, 5, to);
  const decoded = await decodeAll(r.bytes, to, 3);
  const jumps = decoded.filter((d) => d.ipRel !== undefined).map((d) => qwordAt(r.bytes, to, d.ipRel!));
  assert.ok(jumps.includes(FROM + 2n + 0x10n), `je target kept: ${decoded.map((d) => d.text).join('; ')}`);
});

test('relocate: a function that returns inside the moved bytes needs no jump back', async () => {
  const code = bytes('8d4701 c3 0f1f4000 66662e0f1f840000000000');
  const r = await relocate(code, FROM, 5, FROM + 0x1000n);
  assert.equal(r.consumed, 8);
  assert.equal(r.instructions, 3);
  assert.equal(hexOf(r.bytes), '8d4701c30f1f4000', 'copied as is, nothing appended');
});

test('relocate: what cannot be moved is refused with E_RELOCATE', async () => {
  const isRelocate = (pattern: RegExp, hint?: RegExp) => (e: unknown) => {
    assert.ok(e instanceof HotpatchError, String(e));
    assert.equal(e.code, 'E_RELOCATE');
    assert.match(e.message, pattern);
    if (hint) assert.match(e.hint ?? '', hint);
    return true;
  };
  const far = FROM + 0x90000000n;
  await assert.rejects(relocate(bytes('488b0510000000 c3'), FROM, 5, far),
    isRelocate(/mov rax.*0x555555554000.*±2 GiB/, /within ±2 GiB/));
  await assert.rejects(relocate(bytes('488d0510000000 c3'), FROM, 5, FROM - 0x80000000n), isRelocate(/lea/));
  await assert.rejects(relocate(bytes('06 909090 c3'), FROM, 5, FROM + 0x1000n), isRelocate(/does not decode/));
  await assert.rejects(relocate(bytes('488b05'), FROM, 5, FROM + 0x1000n), isRelocate(/cut off/));
  await assert.rejects(relocate(bytes('9090'), FROM, 5, FROM + 0x1000n), isRelocate(/only 2 bytes/));
  // jmp to FROM+1: into the middle of itself, which the redirect's jump overwrites.
  await assert.rejects(relocate(bytes('ebff 909090 c3'), FROM, 5, FROM + 0x1000n), isRelocate(/branches to 0x555555554001/));
  // mov eax,[rip-6] reads the first byte of the function, which becomes our jump.
  await assert.rejects(relocate(bytes('8b05faffffff c3'), FROM, 5, FROM + 0x1000n), isRelocate(/accesses 0x555555554000/));
});

test('relocate: lea of an overwritten address and branches between moved instructions are fine', async () => {
  const to = FROM + 0x1000n;
  // lea rax,[rip-7] takes the function's own address: it must stay the original address, not the copy's.
  const lea = await relocate(bytes('488d05f9ffffff c3'), FROM, 5, to);
  const [mov, back] = await decodeAll(lea.bytes, to);
  assert.equal(mov!.text, `mov rax,${FROM.toString(16).toUpperCase()}h`);
  assert.equal(back!.target, FROM + 7n);
  await assert.rejects(relocate(bytes('8d05faffffff c3'), FROM, 5, to), HotpatchError, '32-bit lea of itself');
  // jmp +0 (to the nop right after it, inside the block) follows the moved copy.
  const inner = await relocate(bytes('eb00 909090 c3'), FROM, 5, to);
  const [jmp] = await decodeAll(inner.bytes, to);
  assert.equal(jmp!.target, to + 2n);
});

test('relocate through the Arch seam returns bytes, consumed and count', async () => {
  const r = await x86_64.relocate(bytes('55 4889e5 c3'), FROM, 4, FROM + 0x100n);
  assert.deepEqual([r.consumed, r.instructions], [4, 2]);
  assert.equal(hexOf(r.bytes.subarray(0, 4)), '554889e5');
});

test('branchesInto: a loop back-edge into the first 5 bytes is found', async () => {
  // xor eax,eax; add eax,edi (loop head at +2); dec edi; jne +2; jmp +0 (to entry); ret
  const code = bytes('31c0 01f8 ffcf 75fa eb f6 c3');
  const instrs = await disassemble(code, FROM);
  const hits = branchesInto(instrs, FROM, FROM + 5n);
  assert.deepEqual(hits.map((i) => [i.address, i.mnemonic, i.target]), [[FROM + 6n, 'jne', FROM + 2n]]);
  assert.equal(instrs[4]!.target, FROM, 'the jump to the entry itself is allowed');
  assert.deepEqual(branchesInto(instrs, FROM, FROM + 2n), [], 'nothing lands strictly inside the first 2 bytes');
  // The same branch seen from inside the overwritten range is the relocator's business, not a conflict.
  assert.deepEqual(branchesInto(instrs, FROM + 4n, FROM + 9n).map((i) => i.address), []);
});

test('currentArch is x86_64 here', () => {
  const arch = currentArch();
  assert.equal(arch.name, 'x86_64');
  assert.equal(arch.pcName, 'rip');
  assert.equal(arch.spName, 'rsp');
  assert.deepEqual(arch.registerNames, [...REGISTER_NAMES]);
});

test('return stub: decodes to gettid, getpid, tgkill(SIGURG), then sigaltstack(NULL, &uc_stack) and rt_sigreturn; done is right after tgkill', async () => {
  const at = 0x7000n;
  const insns = await disassemble(RETURN_STUB, at);
  assert.equal(insns.reduce((n, i) => n + i.size, 0), RETURN_STUB.length, 'every byte decodes, no junk at the end');
  const text = insns.map((i) => `${i.mnemonic} ${i.opStr}`.trim());
  assert.deepEqual(text, [
    'mov rbx, rax',
    'mov eax, 0xba', 'syscall', 'mov esi, eax',
    'mov eax, 0x27', 'syscall', 'mov edi, eax',
    'mov edx, 0x17', 'mov eax, 0xea', 'syscall',
    'xor edi, edi', 'lea rsi, [rsp + 0x10]', 'mov eax, 0x83', 'syscall',
    'mov eax, 0xf', 'syscall',
    'ud2',
  ]);
  assert.equal(STUB_SIGNAL, 23, 'SIGURG on x86-64 Linux');
  const done = insns.findIndex((i) => i.address === at + BigInt(STUB_DONE_OFFSET));
  assert.equal(text[done - 1], 'syscall');
  assert.equal(text[done - 2], 'mov eax, 0xea', 'the syscall before done is tgkill');
  assert.ok(insns.every((i) => i.target === undefined), 'nothing in it depends on where it is placed');
});

test('PLT entries: the GOT slot of .plt (jmp first), .plt.sec (endbr64; bnd jmp) and .plt.got entries; none for PLT0 or IBT .plt', () => {
  const at = 0x1030n;
  // jmp [rip+0x2fe2]; push 0; jmp PLT0
  assert.equal(pltSlot(bytes('ff 25 e2 2f 00 00 68 00 00 00 00 e9 e0 ff ff ff'), at), at + 6n + 0x2fe2n);
  // endbr64; bnd jmp [rip-0x10]; nop
  assert.equal(pltSlot(bytes('f3 0f 1e fa f2 ff 25 f0 ff ff ff 0f 1f 44 00 00'), at), at + 11n - 0x10n);
  // .plt.got without IBT: jmp [rip+0x10]; xchg ax, ax
  assert.equal(pltSlot(bytes('ff 25 10 00 00 00 66 90'), 0x1090n), 0x1090n + 6n + 0x10n);
  // IBT .plt: endbr64; push 1; bnd jmp PLT0 (no GOT load); and a truncated entry
  assert.equal(pltSlot(bytes('f3 0f 1e fa 68 01 00 00 00 f2 e9 e1 ff ff ff 90'), at), undefined);
  assert.equal(pltSlot(bytes('ff 25 00'), at), undefined);
});
