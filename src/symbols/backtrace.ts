// Backtraces: a thread's stack unwound from a snapshot (registers and stack bytes taken while it was stopped) with each
// module's call frame information, no frame pointers assumed, and every frame named as gdb names it.
//
// The unwinding runs after the threads were let go: it reads only the snapshot, so what it sees is the stack as it was
// at the stop. Each module's DWARF is opened once per ELF file (the session's ElfCache keeps one ElfFile per file), the
// vDSO's from its bytes in the target once per address space.
import { openDwarf, type Dwarf, type FunctionFrame, type ReadMemory, type Registers } from '../dwarf/index.js';
import { applyFrameRule } from '../dwarf/unwind.js';
import type { FrameRule } from '../dwarf/cfa.js';
import { parseElf } from '../elf/reader.js';
import type { ElfFile } from '../elf/types.js';
import type { DwarfRegisterTable } from '../arch/types.js';
import { toHotpatchError } from '../errors.js';
import { demangleAll } from './demangle.js';
import type { AddressSpace } from './space.js';
import type { Module, Symbolized } from './types.js';

/** One thread as it stood at the stop: registers by name, and its stack from the stack pointer up. */
export interface StackSnapshot {
  registers: Registers;
  stack: Buffer;
  /** The bytes asked for: a stack shorter than this ended at its mapping's end. */
  stackBytesAsked: number;
}

/**
 * Code of hotpatch's own in the target (a trampoline, a veneer, the return stub), named for what it is. Its frame is
 * unwound with the call frame information at `cfiAddress` (a trampoline holds the original's first instructions), or,
 * without one, as at a function's first instruction (a veneer is one jump: nothing pushed yet).
 */
export interface OwnCode {
  name: string;
  cfiAddress?: bigint;
}

export interface BacktraceSources {
  space: AddressSpace;
  registerTable: DwarfRegisterTable;
  /** Reads the target (the vDSO's image, which never changes while it runs). */
  readTarget(address: bigint, length: number): Buffer;
  ownCode?(pc: bigint): OwnCode | undefined;
  /**
   * Mangled C++ names are left for the caller to demangle (demangleFrames), with every thread's in one batch and
   * after the threads run on; otherwise backtrace demangles them itself.
   */
  deferDemangling?: boolean;
}

/** A frame whose function is still a mangled C++ name (deferDemangling), and that name. */
export interface MangledFrame {
  frame: BacktraceFrame;
  linkage: string;
}

export interface BacktraceFrame {
  /** gdb's frame number: inlined frames have their own. */
  level: number;
  /** The pc: where the thread stands (level 0), else the return address into this frame. */
  pc: bigint;
  /** Function name: from the debug information, else the symbol table (demangled), else what the code is; none: `??`. */
  function?: string;
  /** From the symbol's start, when named from the symbol table. */
  offset?: bigint;
  /** An inlined copy: its caller is the next frame, at the same pc. */
  inlined: boolean;
  /** The caller of an inlined copy: the same machine frame as the one before it (gdb shows its pc once). */
  samePcAsInner?: boolean;
  file?: string;
  line?: number;
  /** The module the pc lies in (`[vdso]` for the vDSO); none for anonymous code. */
  module?: string;
  /** Offset in the module's file address space, for a frame without a name: `module+0x…`. */
  moduleOffset?: bigint;
  /** Code hotpatch placed there (trampoline, veneer, stub). */
  hotpatch?: boolean;
  /** This frame's caller was found by following the frame pointer (no call frame information covers the pc). */
  viaFramePointer?: boolean;
}

export type BacktraceEnd =
  /** The call frame information says this is the outermost frame (_start, a thread's start), or the pc is 0. */
  | { reason: 'outermost' }
  | { reason: 'limit'; limit: number }
  /** The stack read at the stop ends here: more would need a larger window. */
  | { reason: 'window'; bytes: number }
  | { reason: 'stuck'; message: string };

export interface ThreadBacktrace {
  frames: BacktraceFrame[];
  end: BacktraceEnd;
  /** With deferDemangling: the frames whose function is still a mangled C++ name, for demangleFrames. */
  mangled?: MangledFrame[];
}

export const DEFAULT_FRAME_LIMIT = 256;

/** Where a pc lies, for unwinding and naming. */
interface Region {
  start: bigint;
  end: bigint;
  name: string;
  loadBias: bigint;
  module?: Module;
  /** The vDSO's image (modules are named through the address space). */
  elf?: ElfFile;
  dwarf?: Dwarf;
}

const dwarfByElf = new WeakMap<ElfFile, Dwarf | null>();
const vdsoBySpace = new WeakMap<AddressSpace, Region | null>();

/** The DWARF of an ELF file, opened once (nothing is parsed until a question needs it). */
function dwarfOf(elf: ElfFile | undefined): Dwarf | undefined {
  if (!elf) return undefined;
  let d = dwarfByElf.get(elf);
  if (d === undefined) {
    try {
      d = openDwarf(elf);
    } catch {
      d = null;
    }
    dwarfByElf.set(elf, d);
  }
  return d ?? undefined;
}

/** The vDSO as a region with its own CFI (threads spinning on clock_gettime stand in it), read once per space. */
function vdsoRegion(sources: BacktraceSources): Region | undefined {
  const { space } = sources;
  const known = vdsoBySpace.get(space);
  if (known !== undefined) return known ?? undefined;
  let region: Region | null = null;
  const map = space.maps.find((m) => m.path === '[vdso]');
  if (map) {
    try {
      const image = sources.readTarget(map.start, Number(map.end - map.start));
      const elf = parseElf(Buffer.from(image), '[vdso]');
      const lowest = elf.segments.filter((s) => s.type === 1).reduce((lo, s) => (s.vaddr < lo ? s.vaddr : lo), 1n << 62n);
      region = { start: map.start, end: map.end, name: '[vdso]', loadBias: map.start - (lowest & ~0xfffn), elf, dwarf: openDwarf(elf, { debugFile: null }) };
    } catch {
      region = null;
    }
  }
  vdsoBySpace.set(space, region);
  return region ?? undefined;
}

function regionAt(sources: BacktraceSources, pc: bigint): Region | undefined {
  const m = sources.space.modules.find((x) => x.start <= pc && pc < x.end);
  if (m) return { start: m.start, end: m.end, name: m.name, loadBias: m.loadBias, module: m, dwarf: dwarfOf(sources.space.elfOf(m)) };
  const vdso = vdsoRegion(sources);
  return vdso && vdso.start <= pc && pc < vdso.end ? vdso : undefined;
}

/** A reader over the snapshot alone: memory outside the stack read at the stop is unknown, never read live. */
function snapshotReader(snapshot: StackSnapshot, sp: bigint, outside: { address?: bigint }): ReadMemory {
  const end = sp + BigInt(snapshot.stack.length);
  return (address, length) => {
    if (address >= sp && address + BigInt(length) <= end) {
      const at = Number(address - sp);
      return snapshot.stack.subarray(at, at + length);
    }
    outside.address ??= address;
    return undefined;
  };
}

/** The CFI row of a function's first instruction: nothing pushed but the return address (no call frame information needed). */
function entryRule(table: DwarfRegisterTable, pc: bigint): FrameRule {
  const size = table.addressSize;
  return {
    start: pc,
    end: pc + 1n,
    cfa: { kind: 'register', register: table.stackPointer, offset: size },
    registers: new Map([[table.returnAddressColumn, { kind: 'offset', offset: -size }]]),
    returnAddressRegister: table.returnAddressColumn,
    signalFrame: false,
    fde: { section: '.eh_frame', offset: 0, start: pc, end: pc + 1n, cieOffset: 0 },
  } as FrameRule;
}

interface Physical {
  pc: bigint;
  pcIsReturnAddress: boolean;
  region?: Region;
  own?: OwnCode;
  viaFramePointer?: boolean;
}

/**
 * The frames of one thread, innermost first, with how the walk ended. Walking stops at the outermost frame (the CFI
 * leaves the return address undefined, or it is 0), at `limit` frames, where the snapshot's stack ends, or where no
 * rule applies and no frame pointer leads on.
 */
export function backtrace(snapshot: StackSnapshot, sources: BacktraceSources, limit = DEFAULT_FRAME_LIMIT): ThreadBacktrace {
  const table = sources.registerTable;
  const spName = table.names[table.stackPointer]!;
  const fpName = table.framePointer !== undefined ? table.names[table.framePointer] : undefined;
  const sp0 = snapshot.registers[spName];
  const physical: Physical[] = [];
  let end: BacktraceEnd | undefined;
  if (sp0 === undefined || snapshot.registers[table.pcName] === undefined) {
    return { frames: [], end: { reason: 'stuck', message: 'the thread’s registers could not be read' } };
  }
  const outside: { address?: bigint } = {};
  const read = snapshotReader(snapshot, sp0, outside);
  const windowEnd = sp0 + BigInt(snapshot.stack.length);
  const windowFull = snapshot.stack.length >= snapshot.stackBytesAsked;

  let registers: Registers = snapshot.registers;
  let pcIsReturnAddress = false;
  while (end === undefined) {
    const pc = registers[table.pcName]!;
    if (pc === 0n) {
      end = { reason: 'outermost' };
      break;
    }
    if (physical.length >= limit) {
      end = { reason: 'limit', limit };
      break;
    }
    const own = sources.ownCode?.(pc);
    const region = regionAt(sources, own?.cfiAddress ?? pc);
    const frame: Physical = { pc, pcIsReturnAddress, region, own };
    physical.push(frame);

    // The rule for this frame: its module's CFI, a trampoline's original's, or a jump's (as at a function's entry).
    const lookupPc = own?.cfiAddress ?? pc;
    const sp = registers[spName];
    let caller;
    outside.address = undefined;
    try {
      if (own && own.cfiAddress === undefined) {
        caller = applyFrameRule(entryRule(table, pc), table, registers, read, { path: own.name });
      } else if (region?.dwarf?.hasCallFrameInfo && region.dwarf.frameRuleFor(lookupPc - region.loadBias - (pcIsReturnAddress ? 1n : 0n))) {
        caller = region.dwarf.unwindStep({ ...registers, [table.pcName]: lookupPc }, read, { loadBias: region.loadBias, pcIsReturnAddress });
      } else {
        // No call frame information covers the pc (JIT code, hand-written assembly): follow the frame pointer, as
        // gdb does, when it points into the stack above us; the frame is marked so.
        const fp = fpName ? registers[fpName] : undefined;
        const size = BigInt(table.addressSize);
        const readWord = (a: bigint) => {
          const b = read(a, table.addressSize);
          return b && b.length === table.addressSize ? b.readBigUInt64LE(0) : undefined;
        };
        const savedFp = fp !== undefined && sp !== undefined && fp > sp && fp < windowEnd ? readWord(fp) : undefined;
        const ra = savedFp !== undefined ? readWord(fp! + size) : undefined;
        if (fp === undefined || savedFp === undefined || ra === undefined) {
          end = { reason: 'stuck', message: `no call frame information covers ${describePc(pc, region)}${fpName ? ` and ${fpName} leads nowhere` : ''}` };
          break;
        }
        frame.viaFramePointer = true;
        caller = { registers: { [table.pcName]: ra, [spName]: fp! + 2n * size, [fpName!]: savedFp }, pcIsReturnAddress: true, cfa: fp! + 2n * size };
      }
    } catch (err) {
      if (outside.address !== undefined && windowFull && outside.address >= windowEnd) {
        end = { reason: 'window', bytes: snapshot.stackBytesAsked };
      } else {
        end = { reason: 'stuck', message: toHotpatchError(err).message };
      }
      break;
    }
    if (!caller) {
      end = { reason: 'outermost' };
      break;
    }
    const callerSp = caller.registers[spName];
    // A frame's caller lives higher on the stack; a signal frame may switch stacks (sigaltstack).
    if (caller.pcIsReturnAddress && callerSp !== undefined && sp !== undefined && callerSp <= sp) {
      end = { reason: 'stuck', message: `the caller's stack pointer 0x${callerSp.toString(16)} is not above this frame's (corrupt stack?)` };
      break;
    }
    registers = caller.registers;
    pcIsReturnAddress = caller.pcIsReturnAddress;
  }
  return { ...nameFrames(physical, sources), end: end ?? { reason: 'outermost' } };
}

function describePc(pc: bigint, region: Region | undefined): string {
  return region ? `${region.name}+0x${(pc - region.loadBias).toString(16)}` : `0x${pc.toString(16)} (no module)`;
}

/** Names for every physical frame: inlined frames from the debug information, symbols for the rest, in one pass each. */
function nameFrames(physical: Physical[], sources: BacktraceSources): { frames: BacktraceFrame[]; mangled?: MangledFrame[] } {
  // A return address may be one past the call at a function's very end: names and lines come from pc - 1 above frame 0.
  const lookupOf = (p: Physical) => p.pc - (p.pcIsReturnAddress ? 1n : 0n);
  const chains = physical.map((p): FunctionFrame[] => {
    if (p.own || !p.region?.dwarf?.hasDebugInfo) return [];
    try {
      return p.region.dwarf.functionAt(lookupOf(p) - p.region.loadBias);
    } catch {
      return [];  // damaged debug information: the symbol table names the frame
    }
  });
  // The symbol tables only for frames the debug information does not name (one scan per module for all of them).
  const needSymbols = physical.filter((p, i) => !p.own && p.region?.module && chains[i]!.length === 0).map(lookupOf);
  const symbolized = new Map<bigint, Symbolized>();
  const found = sources.space.symbolizeMany(needSymbols);
  needSymbols.forEach((a, i) => symbolized.set(a, found[i]!));

  const frames: BacktraceFrame[] = [];
  const pending: MangledFrame[] = [];
  physical.forEach((p, at) => {
    const base = {
      pc: p.pc,
      ...(p.region ? { module: p.region.name } : {}),
      ...(p.viaFramePointer ? { viaFramePointer: true } : {}),
    };
    if (p.own) {
      frames.push({ level: frames.length, ...base, function: p.own.name, inlined: false, hotpatch: true });
      return;
    }
    const lookup = lookupOf(p);
    const chain = chains[at]!;
    if (chain.length > 0) {
      chain.forEach((f, i) => {
        // The linkage name when there is one, as gdb shows it: C++ names qualified (node::Start, not Start), glibc's
        // internal aliases as they are (__GI___poll).
        const frame: BacktraceFrame = {
          level: frames.length, ...base, function: f.linkageName ?? f.name, inlined: f.inlined,
          ...(f.location ? { file: f.location.file, line: f.location.line } : {}),
        };
        // Inlined frames share the pc of the code that holds them: only the innermost stands at it.
        if (i > 0) frame.samePcAsInner = true;
        frames.push(frame);
        if (f.linkageName?.startsWith('_Z')) pending.push({ frame, linkage: f.linkageName });
      });
      return;
    }
    const s = symbolized.get(lookup);
    if (s?.symbol) {
      const frame: BacktraceFrame = { level: frames.length, ...base, function: s.symbol.name, offset: p.pc - s.symbol.address, inlined: false };
      frames.push(frame);
      if (s.symbol.name.startsWith('_Z')) pending.push({ frame, linkage: s.symbol.name });
      return;
    }
    const frame: BacktraceFrame = { level: frames.length, ...base, inlined: false };
    if (p.region) frame.moduleOffset = p.pc - p.region.loadBias;
    if (p.region?.elf) {
      // The vDSO: its own small symbol table names its functions.
      const holders = p.region.elf.symbolsHolding?.([lookup - p.region.loadBias])[0] ?? [];
      const sym = holders.find((h) => h.type === 'func') ?? holders[0];
      if (sym) {
        frame.function = sym.name;
        frame.offset = p.pc - p.region.loadBias - sym.value;
      }
    }
    frames.push(frame);
  });
  if (sources.deferDemangling) return { frames, mangled: pending };
  if (pending.length > 0) demangleFrames(pending, demangleAll(pending.map((p) => p.linkage)));
  return { frames };
}

/** C++ names demangled (in one batch), without the parameter list gdb fills with values. */
export function demangleFrames(pending: readonly MangledFrame[], demangled: Map<string, string>): void {
  for (const { frame, linkage } of pending) frame.function = withoutParameters(demangled.get(linkage) ?? linkage);
}

/** `node::Start(int, char**)` → `node::Start`: gdb puts the arguments' values there, we put nothing. */
export function withoutParameters(name: string): string {
  if (!name.endsWith(')') && !name.endsWith(') const')) return name;
  let depth = 0;
  const stop = name.endsWith(' const') ? name.length - ' const'.length : name.length;
  for (let i = stop - 1; i >= 0; i--) {
    const c = name[i];
    if (c === ')') depth++;
    else if (c === '(') {
      depth--;
      if (depth === 0) return i > 0 ? name.slice(0, i) : name;
    }
  }
  return name;
}
