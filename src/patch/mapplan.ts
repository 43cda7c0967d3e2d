// Plans loading a shared library into a target without its dynamic linker: bytes to write, relocations applied, protections, constructors.
//
// Pure: the plan is data computed from the ELF file, a base address and a symbol binder. The caller reserves
// `size` bytes at `base` (fresh anonymous memory, so everything not written is zero), writes `writes`, applies
// `protections`, and, when asked, calls `initFunctions` in order.
//
// Symbol resolution (a deliberate difference from ld.so): a symbol the library itself defines resolves inside
// the library, as if it were linked with -Bsymbolic. ld.so would look in the global scope first (interposition),
// but a hand-mapped patch is in no global scope: nothing can interpose on it, and a same-named symbol of the
// target (a patch's `tick_v2` next to the program's) must not capture the patch's own references. Only
// undefined symbols go to the binder.
//
// Thread-local references (`extern __thread` in the patch) are filled from the binder's TLS target: module id and
// offset for the general-dynamic pair, the offset from the thread pointer for initial-exec. A library's own TLS
// (a PT_TLS segment: a module id and a block per thread) would need ld.so's bookkeeping and is refused.
//
// Errors say what is wrong with the file for this loader and name no other load method: the caller knows whether
// another method would accept the file and says so (src/patch/precheck.ts).
import { basename } from 'node:path';
import { HotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import { ET_DYN, PF_R, PF_W, PF_X, PT_GNU_RELRO, PT_LOAD, PT_TLS, SHN_ABS } from '../elf/constants.js';
import { archForMachine } from '../arch/index.js';
import type { Arch } from '../arch/types.js';
import { PROT } from '../process/steps.js';
import type { ElfFile, ElfRelocation, ElfSegment, ElfSymbol } from '../elf/types.js';
import { tlsSlotValue, type TlsRole, type TlsTarget } from './tls.js';

export const PAGE_SIZE = 0x1000n;
const PROT_READ = Number(PROT.READ);
const PROT_WRITE = Number(PROT.WRITE);
const PROT_EXEC = Number(PROT.EXEC);

/** DT_FLAGS_1 bit that marks a position-independent executable (ld.so refuses to dlopen one too). */
const DF_1_PIE = 0x08000000n;
const U64 = 1n << 64n;
const tlsRoles = (t: Arch['relocTypes']) => new Map<number, TlsRole>([[t.dtpMod, 'module'], [t.dtpOff, 'offset'], [t.tpOff, 'threadPointer']]);
const appliedTypes = (t: Arch['relocTypes']) => new Set([t.none, t.relative, t.abs64, t.globDat, t.jumpSlot, t.pc32, t.dtpMod, t.dtpOff, t.tpOff]);

/**
 * Resolves one undefined symbol of the library in the target. Called once per distinct name (and version),
 * with the first relocation that names it; undefined means "not found" (a hard failure such as an ambiguous
 * name should throw). The address must be what the code should reach: for an STT_GNU_IFUNC of the target
 * (glibc's memcpy, strlen …) the selected implementation, not the resolver.
 */
export interface SymbolBinder {
  (name: string, reloc: ElfRelocation): { address: bigint; description: string; tls?: undefined } | { tls: TlsTarget; description: string; address?: undefined } | undefined;
}

export interface MapPlan {
  /** Total bytes to reserve (page-aligned), covering every PT_LOAD from firstVaddr to the highest vaddr+memsz rounded up. */
  size: bigint;
  /** The library's lowest PT_LOAD vaddr rounded down to a page: run-time address = base + (vaddr - firstVaddr). */
  firstVaddr: bigint;
  /**
   * Bytes to write at base + offset, relocations applied: each PT_LOAD's file contents, extended with zeros only
   * as far as a relocated place past filesz needs (the rest of .bss is already zero in fresh anonymous memory).
   */
  writes: { offset: bigint; bytes: Buffer }[];
  /**
   * mprotect after writing: sorted, page-aligned, non-overlapping ranges covering all of [0, size). A page two
   * segments share gets the union of their permissions; pages of no segment (holes) get 0 (PROT_NONE, as ld.so
   * leaves them); GNU_RELRO pages lose PROT_WRITE, rounded as ld.so does (start and end both rounded down).
   */
  protections: { offset: bigint; size: bigint; prot: number }[];
  /**
   * Every relocation bound to a symbol, in relocation order (for the output `counter -> b.c:counter 0x55…`).
   * `internal` marks the library's own symbols (resolved inside it, see the file comment); `place` is the
   * run-time address written. A thread-local variable of the target has `tls` instead of an address.
   */
  bindings: { symbol: string; address?: bigint; tls?: TlsTarget; description: string; type: string; place: bigint; internal: boolean }[];
  /** Weak undefined symbols the binder did not find: their references hold 0 (plus addend for an absolute 64-bit one), as with ld.so. */
  unresolvedWeak: string[];
  /**
   * Constructors to call if --init: DT_INIT, then the DT_INIT_ARRAY entries, as run-time addresses read from the
   * relocated image. Entries 0 and -1 are skipped: calling them could only crash the target.
   */
  initFunctions: bigint[];
  /** Symbols the library exports (defined, non-local .dynsym entries in its memory), at run-time addresses. */
  exports: { name: string; address: bigint; size: number; type: string }[];
}


function alignDown(value: bigint): bigint {
  return value - (value % PAGE_SIZE);
}

function alignUp(value: bigint): bigint {
  return alignDown(value + PAGE_SIZE - 1n);
}

function bad(elf: ElfFile, what: string): HotpatchError {
  return new HotpatchError('E_ELF_BAD', `${elf.path}: ${what}`, 'the file is truncated or damaged; rebuild it or copy it again');
}

/** The PT_LOAD segments that occupy memory, by address, checked not to overlap (their writes would clash). */
function loadSegments(elf: ElfFile): ElfSegment[] {
  const loads = elf.segments.filter((s) => s.type === PT_LOAD && s.memsz > 0n).sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
  if (loads.length === 0) throw bad(elf, 'no PT_LOAD segment: nothing to map');
  for (const [i, segment] of loads.entries()) {
    if (segment.filesz > segment.memsz) {
      throw bad(elf, `PT_LOAD at ${hex(segment.vaddr)} has more file bytes (${segment.filesz}) than memory (${segment.memsz})`);
    }
    const next = loads[i + 1];
    if (next && segment.vaddr + segment.memsz > next.vaddr) {
      throw bad(elf, `PT_LOAD segments at ${hex(segment.vaddr)} and ${hex(next.vaddr)} overlap`);
    }
  }
  return loads;
}

/** The page-aligned address range the library's PT_LOAD segments need, to pick a base before planning. */
export function segmentsSpan(elf: ElfFile): { firstVaddr: bigint; size: bigint } {
  const loads = loadSegments(elf);
  const firstVaddr = alignDown(loads[0].vaddr);
  let end = 0n;
  for (const s of loads) if (s.vaddr + s.memsz > end) end = s.vaddr + s.memsz;
  return { firstVaddr, size: alignUp(end) - firstVaddr };
}

/** What a map load cannot do at all, refused before any work: wrong kind of file, TLS, text relocations. */
function checkLoadable(elf: ElfFile): Arch {
  const arch = archForMachine(elf.machine);
  if (!arch) {
    throw new HotpatchError('E_ARCH', `${elf.path}: built for machine ${elf.machine}, which hotpatch does not handle (it handles x86-64, EM_X86_64 = 62)`,
      'build the patch with the same compiler target as the program');
  }
  if (elf.type !== ET_DYN) {
    throw new HotpatchError('E_NOT_DYN', `${elf.path}: not a shared library (ELF type ${elf.type}, not ET_DYN)`,
      'build the patch with gcc -shared -fPIC');
  }
  const dynamic = elf.dynamic();
  if (dynamic && (dynamic.flags1 & DF_1_PIE) !== 0n) {
    throw new HotpatchError('E_NOT_DYN', `${elf.path}: a position-independent executable, not a shared library`,
      'build the patch with gcc -shared -fPIC');
  }
  if (elf.segments.some((s) => s.type === PT_TLS)) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC',
      `${elf.path}: has thread-local variables of its own (a PT_TLS segment), which a library mapped without the target's dynamic linker cannot have`,
      'keep __thread variables out of the patch (it may use the program\'s own: extern __thread … __attribute__((weak)))');
  }
  if (dynamic?.hasTextrel) {
    throw new HotpatchError('E_TEXTREL', `${elf.path}: has text relocations (DT_TEXTREL): its code would have to be written at load time`,
      'rebuild the patch with -fPIC');
  }
  return arch;
}

/** Every relocation type we do not apply, all named at once; IRELATIVE and TLS descriptors with what to do. */
function checkTypes(elf: ElfFile, relocations: ElfRelocation[], arch: Arch): void {
  const t = arch.relocTypes;
  const applied = appliedTypes(t);
  const unsupported = new Set<number>();
  for (const r of relocations) if (!applied.has(r.type)) unsupported.add(r.type);
  if (unsupported.size === 0) return;
  const names = [...unsupported].sort((a, b) => a - b).map(arch.relocationName).join(', ');
  if (unsupported.has(t.tlsDesc)) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC',
      `${elf.path}: uses TLS descriptors (${arch.relocationName(t.tlsDesc)}, -mtls-dialect=gnu2), whose resolver lives in the target's dynamic linker`,
      'rebuild the patch with the default -mtls-dialect=gnu');
  }
  if (unsupported.has(t.irelative)) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC',
      `${elf.path}: has GNU indirect functions (${arch.relocationName(t.irelative)}: ifunc resolvers would have to run in the target)`,
      'call the implementation directly instead of through an ifunc');
  }
  throw new HotpatchError('E_UNSUPPORTED_RELOC', `${elf.path}: relocation types this loader does not handle: ${names}`,
    'it applies RELATIVE, 64, GLOB_DAT, JUMP_SLOT, PC32, and DTPMOD64, DTPOFF64, TPOFF64 against the executable\'s thread-local variables');
}

interface Resolution {
  address: bigint;
  /** A thread-local variable of the target: `address` is meaningless (0), the TLS target fills the relocation. */
  tls?: TlsTarget;
  description: string;
  internal: boolean;
  /** A weak undefined symbol nobody defines: the value is 0 and no binding is shown. */
  unresolvedWeak: boolean;
}

/** A symbol's run-time address inside the library: absolute symbols keep their value. */
function ownAddress(sym: ElfSymbol, bias: bigint): bigint {
  return sym.shndx === SHN_ABS ? sym.value : sym.value + bias;
}

/**
 * Resolves the symbol of every relocation that names one: the library's own definitions inside it, the rest
 * through the binder (once per name and version). Collects every missing strong name before failing.
 */
function resolveSymbols(elf: ElfFile, relocations: ElfRelocation[], bias: bigint, bind: SymbolBinder, arch: Arch): (r: ElfRelocation) => Resolution | undefined {
  const t = arch.relocTypes;
  const roles = tlsRoles(t);
  const library = basename(elf.path);
  const byKey = new Map<string, Resolution>();
  const missing = new Set<string>();
  const keyOf = (sym: ElfSymbol) => (sym.defined ? `own:${sym.name}:${sym.value}` : `${sym.name}@${sym.version ?? ''}`);
  for (const r of relocations) {
    const sym = r.sym;
    if (!sym || r.type === t.none) continue;
    const key = keyOf(sym);
    if (byKey.has(key) || missing.has(sym.name)) continue;
    if (sym.defined) {
      if (sym.type === 'ifunc') {
        throw new HotpatchError('E_UNSUPPORTED_RELOC',
          `${elf.path}: ${sym.name} is a GNU indirect function (ifunc): its resolver would have to run in the target`,
          'call the implementation directly instead of through an ifunc');
      }
      if (sym.type === 'tls' || roles.has(r.type)) {
        throw new HotpatchError('E_UNSUPPORTED_RELOC',
          `${elf.path}: refers to its own thread-local variable ${sym.name || '(local)'} (${arch.relocationName(r.type)}), which a library mapped without the target's dynamic linker cannot have`,
          'keep __thread variables out of the patch (it may use the program\'s own: extern __thread … __attribute__((weak)))');
      }
      byKey.set(key, { address: ownAddress(sym, bias), description: `${library}!${sym.name}`, internal: true, unresolvedWeak: false });
      continue;
    }
    const found = bind(sym.name, r);
    if (found?.tls) {
      byKey.set(key, { address: 0n, tls: found.tls, description: found.description, internal: false, unresolvedWeak: false });
    } else if (found) {
      byKey.set(key, { address: BigInt.asUintN(64, found.address), description: found.description, internal: false, unresolvedWeak: false });
    } else if (sym.bind === 'weak') {
      byKey.set(key, { address: 0n, description: 'unresolved weak symbol (0)', internal: false, unresolvedWeak: true });
    } else {
      missing.add(sym.name);
    }
  }
  if (missing.size > 0) {
    const names = [...missing].sort();
    throw new HotpatchError('E_UNRESOLVED',
      `${elf.path}: ${names.length} undefined symbol${names.length === 1 ? '' : 's'} not found in the target: ${names.join(', ')}`,
      'check the names, pick an address with --bind NAME=WHERE, or declare a reference that may stay unresolved __attribute__((weak))');
  }
  return (r) => (r.sym && r.type !== t.none ? byKey.get(keyOf(r.sym)) : undefined);
}

/** One PT_LOAD's bytes as they will be written, and how it maps to run time. */
interface SegmentImage {
  segment: ElfSegment;
  bytes: Buffer;
}

function placeWidth(type: number, t: Arch['relocTypes']): number {
  return type === t.pc32 ? 4 : 8;
}

function segmentHolding(loads: ElfSegment[], vaddr: bigint, width: number): number {
  return loads.findIndex((s) => vaddr >= s.vaddr && vaddr + BigInt(width) <= s.vaddr + s.memsz);
}

/** Each segment's file bytes, zero-extended past filesz only as far as the furthest relocated place in it. */
function segmentImages(elf: ElfFile, loads: ElfSegment[], relocations: ElfRelocation[], arch: Arch): SegmentImage[] {
  const lengths = loads.map((s) => s.filesz);
  for (const r of relocations) {
    if (r.type === arch.relocTypes.none) continue;
    const width = placeWidth(r.type, arch.relocTypes);
    const index = segmentHolding(loads, r.offset, width);
    if (index < 0) throw bad(elf, `${arch.relocationName(r.type)} at ${hex(r.offset)} patches memory outside every PT_LOAD segment`);
    const end = r.offset + BigInt(width) - loads[index].vaddr;
    if (end > lengths[index]) lengths[index] = end;
  }
  return loads.map((segment, i) => {
    const fileBytes = segment.filesz === 0n ? Buffer.alloc(0) : elf.readVirtual(segment.vaddr, Number(segment.filesz));
    if (!fileBytes) throw bad(elf, `the file bytes of the PT_LOAD at ${hex(segment.vaddr)} are not in the file`);
    const bytes = Buffer.alloc(Number(lengths[i]));
    fileBytes.copy(bytes);
    return { segment, bytes };
  });
}

/**
 * Page protections over [firstVaddr, firstVaddr + size): cut at every segment and RELRO page boundary, each
 * piece the union of the segments covering it, RELRO pieces without write, equal neighbours merged.
 */
function planProtections(elf: ElfFile, loads: ElfSegment[], firstVaddr: bigint, size: bigint): MapPlan['protections'] {
  const pieces = loads.map((s) => ({ start: alignDown(s.vaddr), end: alignUp(s.vaddr + s.memsz), prot: protOf(s.flags) }));
  // ld.so rounds both ends down: a partial last page stays writable, since it holds data that is not RELRO.
  const relro = elf.segments.filter((s) => s.type === PT_GNU_RELRO)
    .map((s) => ({ start: alignDown(s.vaddr), end: alignDown(s.vaddr + s.memsz) }))
    .filter((r) => r.end > r.start);
  const cuts = new Set<bigint>([firstVaddr, firstVaddr + size]);
  for (const p of [...pieces, ...relro]) {
    cuts.add(p.start);
    cuts.add(p.end);
  }
  const points = [...cuts].filter((c) => c >= firstVaddr && c <= firstVaddr + size).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: MapPlan['protections'] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    let prot = 0;
    for (const p of pieces) if (start >= p.start && start < p.end) prot |= p.prot;
    if (relro.some((r) => start >= r.start && start < r.end)) prot &= ~PROT_WRITE;
    const last = out[out.length - 1];
    if (last && last.prot === prot && last.offset + last.size === start - firstVaddr) {
      last.size += end - start;
    } else {
      out.push({ offset: start - firstVaddr, size: end - start, prot });
    }
  }
  return out;
}

function protOf(flags: number): number {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) | ((flags & PF_X) ? PROT_EXEC : 0);
}

/** The 8-byte word at a file virtual address in the relocated images (zero in .bss past what we write). */
function wordAt(elf: ElfFile, images: SegmentImage[], vaddr: bigint): bigint {
  const image = images.find(({ segment }) => vaddr >= segment.vaddr && vaddr + 8n <= segment.vaddr + segment.memsz);
  if (!image) throw bad(elf, `${hex(vaddr)} is not in any PT_LOAD segment`);
  const at = Number(vaddr - image.segment.vaddr);
  return at + 8 <= image.bytes.length ? image.bytes.readBigUInt64LE(at) : 0n;
}

/**
 * The word a TLS relocation holds: from the binder's TLS target; 0 for a weak reference nobody defines (as ld.so
 * leaves it). Refused: the library's own TLS, a variable hotpatch cannot place, a symbol that is not thread-local.
 */
function tlsValue(elf: ElfFile, r: ElfRelocation, role: TlsRole, resolution: Resolution | undefined, arch: Arch): bigint {
  const what = `${arch.relocationName(r.type)} at ${hex(r.offset)}`;
  if (!r.sym) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC',
      `${elf.path}: ${what} refers to its own thread-local storage, which a library mapped without the target's dynamic linker cannot have`,
      'keep __thread variables out of the patch (it may use the program\'s own: extern __thread … __attribute__((weak)))');
  }
  if (!resolution || resolution.unresolvedWeak) return 0n;
  if (!resolution.tls) {
    throw new HotpatchError('E_TLS_MISMATCH',
      `${elf.path}: ${what} treats ${r.symName} as thread-local, but ${resolution.description} is not thread-local in the target`,
      'declare it without __thread in the patch');
  }
  const filled = tlsSlotValue(role, resolution.tls, r.addend);
  if ('refused' in filled) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC', `${elf.path}: cannot fill ${what} for ${r.symName}: ${filled.refused}`,
      'refer to thread-local variables of the executable only');
  }
  return filled.value;
}

/** Plans loading `elf` at `base` (page-aligned): see MapPlan. Throws HotpatchError for what cannot be loaded this way. */
export function planMapLoad(elf: ElfFile, base: bigint, bind: SymbolBinder): MapPlan {
  const arch = checkLoadable(elf);
  const t = arch.relocTypes;
  const roles = tlsRoles(t);
  if (base < 0n || base % PAGE_SIZE !== 0n) {
    throw new HotpatchError('E_BAD_BASE', `map load base ${hex(base)} is not a page-aligned address`, 'pick the base with segmentsSpan and a free range');
  }
  const loads = loadSegments(elf);
  const { firstVaddr, size } = segmentsSpan(elf);
  // The load bias: what turns a file virtual address into a run-time one.
  const bias = base - firstVaddr;
  const runtime = (vaddr: bigint) => BigInt.asUintN(64, vaddr + bias);

  const relocations = elf.relocations();
  checkTypes(elf, relocations, arch);
  const resolutionOf = resolveSymbols(elf, relocations, bias, bind, arch);
  const images = segmentImages(elf, loads, relocations, arch);

  const bindings: MapPlan['bindings'] = [];
  for (const r of relocations) {
    if (r.type === t.none) continue;
    const resolution = resolutionOf(r);
    const symbolValue = resolution?.address ?? 0n;
    const place = runtime(r.offset);
    const index = segmentHolding(loads, r.offset, placeWidth(r.type, t));
    const image = images[index];
    const at = Number(r.offset - image.segment.vaddr);
    const tlsRole = roles.get(r.type);
    if (tlsRole) {
      image.bytes.writeBigUInt64LE(tlsValue(elf, r, tlsRole, resolution, arch), at);
    } else if (resolution?.tls) {
      throw new HotpatchError('E_TLS_MISMATCH',
        `${elf.path}: ${arch.relocationName(r.type)} at ${hex(r.offset)} treats ${r.symName} as an address, but ${resolution.description} is thread-local in the target`,
        `declare it \`extern __thread\` in the patch`);
    }
    switch (r.type) {
      case t.relative:
        image.bytes.writeBigUInt64LE(BigInt.asUintN(64, bias + r.addend), at);
        break;
      case t.abs64:
        image.bytes.writeBigUInt64LE(BigInt.asUintN(64, symbolValue + r.addend), at);
        break;
      case t.globDat:
      case t.jumpSlot:
        // ld.so stores S for both and ignores the addend (it is 0 in what linkers emit).
        image.bytes.writeBigUInt64LE(symbolValue, at);
        break;
      case t.pc32: {
        const value = BigInt.asIntN(64, symbolValue + r.addend - place);
        if (value < -(1n << 31n) || value >= 1n << 31n) {
          throw new HotpatchError('E_RELOC_OVERFLOW',
            `${elf.path}: ${arch.relocationName(t.pc32)} at ${hex(r.offset)}${r.symName ? ` to ${r.symName}` : ''} needs a distance of ${value}, beyond ±2 GiB`,
            'load the patch nearer the symbol it refers to, or rebuild it with -fPIC so it goes through the GOT');
        }
        image.bytes.writeInt32LE(Number(value), at);
        break;
      }
    }
    if (resolution && !resolution.unresolvedWeak && r.sym) {
      bindings.push({
        symbol: r.symName, ...(resolution.tls ? { tls: resolution.tls } : { address: resolution.address }), description: resolution.description,
        type: arch.relocationName(r.type), place, internal: resolution.internal,
      });
    }
  }

  const unresolvedWeak = [...new Set(relocations.filter((r) => resolutionOf(r)?.unresolvedWeak).map((r) => r.symName))];

  // glibc's order: DT_INIT first, then DT_INIT_ARRAY front to back.
  const initFunctions: bigint[] = [];
  const dynamic = elf.dynamic();
  if (dynamic?.init !== undefined && dynamic.init !== 0n) initFunctions.push(runtime(dynamic.init));
  if (dynamic?.initArray) {
    for (let at = 0n; at + 8n <= dynamic.initArray.size; at += 8n) {
      const entry = wordAt(elf, images, dynamic.initArray.addr + at);
      if (entry !== 0n && entry !== U64 - 1n) initFunctions.push(entry);
    }
  }

  // Absolute symbols (version names, linker markers) are not in the library's memory: nothing to redirect to.
  const exports = elf.dynamicSymbols()
    .filter((s) => s.defined && s.bind !== 'local' && s.shndx !== SHN_ABS && s.type !== 'section' && s.type !== 'file')
    .map((s) => ({ name: s.name, address: runtime(s.value), size: s.size, type: s.type }));

  const writes = images
    .filter((image) => image.bytes.length > 0)
    .map((image) => ({ offset: image.segment.vaddr - firstVaddr, bytes: image.bytes }));

  return {
    size, firstVaddr, writes,
    protections: planProtections(elf, loads, firstVaddr, size),
    bindings, unresolvedWeak, initFunctions, exports,
  };
}
