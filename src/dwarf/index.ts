// The DWARF reader's public face: openDwarf(elf) answers line, function, inlining and unwind questions about one module.
//
// Pure: it reads files and never a process. Addresses in and out are file virtual addresses (bigint), as the
// ELF reader's; callers add the module's load bias (unwindStep takes it as an option, since it works on
// run-time registers). Debug information comes from the file itself or from its separate debug file (found
// through build-id or .gnu_debuglink as gdb does); .eh_frame from the file, .debug_frame from either. Nothing
// is parsed at open: each question reads the sections and units it needs, and what it parsed is kept. A file
// without DWARF answers undefined or [], never an error; damaged DWARF throws E_DWARF_BAD.
import type { ElfFile, ElfSection, ElfSymbol } from '../elf/types.js';
import { findDebugFile, type DebugFileSearch } from '../elf/debugfile.js';
import { openElf } from '../elf/reader.js';
import { dwarfRegistersForMachine } from '../arch/dwarf.js';
import { unwindFailed } from './cursor.js';
import { sectionSet, type SectionSet } from './sections.js';
import { DebugInfo, type Unit } from './units.js';
import { readLineHeader, runLineProgram, type LineHeader, type LineTable } from './lines.js';
import { FunctionIndex } from './functions.js';
import { findPrototypes, type Prototype } from './prototype.js';
import { FrameSection, type Fde } from './cfi.js';
import { frameRuleAt, frameRows, type FrameRule, type RegisterRule } from './cfa.js';
import { applyFrameRule } from './unwind.js';
import type {
  FunctionFrame, InlinedCopy, ReadMemory, Registers, SourceLine, SourcePosition, UnwindOptions, UnwoundFrame,
} from './types.js';

export type * from './types.js';
export type { Prototype, PrototypeParameter } from './prototype.js';

export interface Dwarf {
  /** The file the debug information was read from (the separate debug file when there is one). */
  readonly debugPath: string | undefined;
  readonly hasDebugInfo: boolean;
  readonly hasCallFrameInfo: boolean;
  /** The line-table row that covers `pc`; undefined outside every sequence or on a line-0 row. */
  lineFor(pc: bigint): SourceLine | undefined;
  /**
   * The first address of each run of line-table rows for `file`:`line` (statement rows only), sorted. `file`
   * matches a full path, a path suffix at a '/' boundary, or a base name.
   */
  addressesFor(file: string, line: number): bigint[];
  /**
   * Innermost first: the inlined copies that hold `pc`, then the out-of-line function; [] without debug info.
   * Where the line table covers pc but no DIE does (gcc leaves some clones without one), the one frame is named
   * from the ELF symbol table, as addr2line does.
   */
  functionAt(pc: bigint): FunctionFrame[];
  /** Every place the function was inlined: by name, or by an address inside its out-of-line code. */
  inlinedCopies(target: string | bigint): InlinedCopy[];
  /**
   * The C prototype of each function named `name` (with `file`, only those of compilation units of that source file:
   * a static function's file), with the type declarations it needs; [] without debug info.
   */
  prototypes(name: string, file?: string): Prototype[];
  /** The CFI row (rules for the CFA and the caller's registers) that holds `pc`; undefined where there is no FDE. */
  frameRuleFor(pc: bigint): FrameRule | undefined;
  /** Every row of the FDE that covers `pc` (what readelf --debug-dump=frames-interp prints for it). */
  frameRowsAround(pc: bigint): FrameRule[];
  /** A rule in readelf's notation: CFA "rsp+8" or "exp", registers "c-16", "u", "s", "v+8", "exp", "vexp", a name. */
  describeFrameRule(rule: FrameRule): { cfa: string; registers: Record<string, string> };
  /**
   * One step up the stack from a stopped frame's registers (run-time values) and a reader of its memory: the
   * caller's registers, or undefined at the outermost frame. Throws E_UNWIND when the step cannot be made (no
   * CFI for the pc, memory that cannot be read).
   */
  unwindStep(registers: Registers, readMemory: ReadMemory, options?: UnwindOptions): UnwoundFrame | undefined;
}

export interface OpenDwarfOptions extends DebugFileSearch {
  /** The separate debug file to use; null: do not look for one; absent: look as gdb does. */
  debugFile?: ElfFile | null;
}

/** The debug file to read DWARF from: the given one, the one the ELF was merged with, or one found on disk. */
function debugElfFor(elf: ElfFile, options: OpenDwarfOptions): ElfFile | undefined {
  if (options.debugFile !== undefined) return options.debugFile ?? undefined;
  if (elf.sections.some((s) => s.name === '.debug_info' || s.name === '.zdebug_info')) return undefined;
  // A debug file that cannot be found or read leaves the file's own sections: no error for what is optional.
  try {
    const path = elf.debugFile ?? findDebugFile(elf, options);
    return path ? openElf(path) : undefined;
  } catch {
    return undefined;
  }
}

function sectionNamed(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}

export function openDwarf(elf: ElfFile, options: OpenDwarfOptions = {}): Dwarf {
  const debugElf = debugElfFor(elf, options);
  const own = sectionSet(elf);
  const debug = debugElf ? sectionSet(debugElf) : undefined;
  const infoSet: SectionSet = debug?.has('.debug_info') ? debug : own;
  const registerTable = dwarfRegistersForMachine(elf.machine);
  const addressSize = registerTable?.addressSize ?? 8;
  const bases = { text: sectionNamed(elf, '.text')?.addr, data: sectionNamed(elf, '.got')?.addr };

  let debugInfo: DebugInfo | undefined | null = null;
  const info = (): DebugInfo | undefined => {
    if (debugInfo === null) {
      const data = infoSet.get('.debug_info');
      debugInfo = data ? new DebugInfo(infoSet, data) : undefined;
    }
    return debugInfo;
  };

  // Line tables, by .debug_line offset: the header alone for file names, the rows when a pc or line needs them.
  const headers = new Map<Unit, LineHeader | undefined>();
  const tables = new Map<number, LineTable>();
  const lineHeader = (unit: Unit): LineHeader | undefined => {
    if (headers.has(unit)) return headers.get(unit);
    const di = info() as DebugInfo;
    const u = di.unitInfo(unit);
    const line = infoSet.get('.debug_line');
    const header = u.stmtList !== undefined && line ? readLineHeader(line, infoSet, u.stmtList, u.compDir, unit.addressSize) : undefined;
    headers.set(unit, header);
    return header;
  };
  const lineTable = (unit: Unit): LineTable | undefined => {
    const header = lineHeader(unit);
    if (!header) return undefined;
    let table = tables.get(header.offset);
    if (!table) {
      table = runLineProgram(infoSet.get('.debug_line')!, header);
      tables.set(header.offset, table);
    }
    return table;
  };

  let functionIndex: FunctionIndex | undefined;
  const functions = (): FunctionIndex | undefined => {
    const di = info();
    if (!di) return undefined;
    functionIndex ??= new FunctionIndex(di, (unit) => lineHeader(unit)?.files);
    return functionIndex;
  };

  const lineFor = (pc: bigint): SourceLine | undefined => {
    const index = functions();
    const unit = index?.unitForPc(pc);
    const row = unit && lineTable(unit)?.lookup(pc);
    return row && row.line !== 0 ? row : undefined;
  };

  const addressesFor = (file: string, line: number): bigint[] => {
    const di = info();
    if (!di) return [];
    const matchesFile = fileMatcher(file);
    const found = new Set<bigint>();
    const done = new Set<number>();
    for (const unit of di.units()) {
      const header = lineHeader(unit);
      if (!header || done.has(header.offset)) continue;
      done.add(header.offset);
      const wanted = new Set<number>();
      header.files.forEach((f, i) => {
        if (f !== undefined && matchesFile(f)) wanted.add(i);
      });
      if (wanted.size === 0) continue;
      const table = lineTable(unit) as LineTable;
      for (const seq of table.sequences) {
        for (let i = seq.first; i < seq.last; i++) {
          if (table.lines[i] !== line || !wanted.has(table.files[i]) || !table.isStmt[i]) continue;
          const previous = i - 1;
          const continues = previous >= seq.first && table.lines[previous] === line && table.files[previous] === table.files[i];
          if (!continues) found.add(table.address(seq, i));
        }
      }
    }
    return [...found].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  };

  // Call frame information: .eh_frame first (what the run time itself unwinds with), then .debug_frame.
  let frameSectionList: FrameSection[] | undefined;
  const frameSections = (): FrameSection[] => {
    if (frameSectionList) return frameSectionList;
    const list: FrameSection[] = [];
    const ehFrame = own.get('.eh_frame');
    if (ehFrame) list.push(new FrameSection(ehFrame, '.eh_frame', addressSize, bases, own.get('.eh_frame_hdr')));
    const debugFrame = debug?.get('.debug_frame') ?? own.get('.debug_frame');
    if (debugFrame) list.push(new FrameSection(debugFrame, '.debug_frame', addressSize, bases));
    frameSectionList = list;
    return list;
  };

  const fdeFor = (pc: bigint): { section: FrameSection; fde: Fde } | undefined => {
    for (const section of frameSections()) {
      const fde = section.fdeFor(pc);
      if (fde) return { section, fde };
    }
    return undefined;
  };

  const frameRuleFor = (pc: bigint): FrameRule | undefined => {
    const found = fdeFor(pc);
    return found && frameRuleAt(found.section, found.fde, pc);
  };

  const registerName = (n: number): string => registerTable?.names[n] ?? `r${n}`;

  // Functions of the symbol table by address, made only when a pc has lines but no DIE.
  let functionSymbols: ElfSymbol[] | undefined;
  const symbolAt = (pc: bigint): ElfSymbol | undefined => {
    functionSymbols ??= (debugElf?.hasSymtab ? debugElf : elf).symbols()
      .filter((s) => s.type === 'func' && s.defined && s.size > 0)
      .sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    let lo = 0;
    let hi = functionSymbols.length - 1;
    let found: ElfSymbol | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (functionSymbols[mid].value <= pc) {
        found = functionSymbols[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found && pc < found.value + BigInt(found.size) ? found : undefined;
  };

  return {
    debugPath: infoSet.has('.debug_info') ? infoSet.path : undefined,
    hasDebugInfo: infoSet.has('.debug_info'),
    hasCallFrameInfo: own.has('.eh_frame') || own.has('.debug_frame') || (debug?.has('.debug_frame') ?? false),
    lineFor,
    addressesFor,
    functionAt(pc) {
      const frames = functions()?.framesAt(pc, (p) => positionOf(lineFor(p))) ?? [];
      if (frames.length > 0) return frames;
      const line = lineFor(pc);
      const symbol = line && symbolAt(pc);
      if (!symbol) return [];
      return [{
        name: symbol.name, inlined: false, location: positionOf(line), entryPc: symbol.value,
        ranges: [{ start: symbol.value, end: symbol.value + BigInt(symbol.size) }],
      }];
    },
    inlinedCopies: (target) => functions()?.inlinedCopies(target) ?? [],
    prototypes(name, file) {
      const di = info();
      if (!di) return [];
      const matches = file === undefined ? undefined : fileMatcher(file);
      return findPrototypes(di, name, matches && ((unit) => unit !== undefined && (matches(unit) || matches(unit.slice(unit.lastIndexOf('/') + 1)))));
    },
    frameRuleFor,
    frameRowsAround(pc) {
      const found = fdeFor(pc);
      return found ? frameRows(found.section, found.fde) : [];
    },
    describeFrameRule: (rule) => describeRule(rule, registerName),
    unwindStep(registers, readMemory, options = {}) {
      if (!registerTable) throw unwindFailed(`${elf.path}: unwinding is not supported for machine ${elf.machine} yet`);
      const pc = registers[registerTable.pcName];
      if (pc === undefined) throw unwindFailed(`the registers have no ${registerTable.pcName}`);
      const lookup = pc - (options.loadBias ?? 0n) - (options.pcIsReturnAddress ? 1n : 0n);
      const rule = frameRuleFor(lookup);
      if (!rule) throw unwindFailed(`no call frame information covers pc 0x${pc.toString(16)} in ${elf.path}`);
      return applyFrameRule(rule, registerTable, registers, readMemory, { path: elf.path });
    },
  };
}

function positionOf(line: SourceLine | undefined): SourcePosition | undefined {
  return line && { file: line.file, line: line.line, column: line.column };
}

/** A full path, a suffix of one at a '/' boundary, or a bare base name. */
function fileMatcher(file: string): (path: string) => boolean {
  if (file.startsWith('/')) return (path) => path === file;
  return (path) => path === file || path.endsWith(`/${file}`);
}

function describeRegisterRule(rule: RegisterRule, name: (n: number) => string): string {
  switch (rule.kind) {
    case 'undefined': return 'u';
    case 'sameValue': return 's';
    case 'offset': return `c${rule.offset >= 0 ? '+' : ''}${rule.offset}`;
    case 'valOffset': return `v${rule.offset >= 0 ? '+' : ''}${rule.offset}`;
    case 'register': return name(rule.register);
    case 'expression': return 'exp';
    case 'valExpression': return 'vexp';
  }
}

function describeRule(rule: FrameRule, name: (n: number) => string): { cfa: string; registers: Record<string, string> } {
  const cfa = rule.cfa.kind === 'expression' ? 'exp' : `${name(rule.cfa.register)}${rule.cfa.offset >= 0 ? '+' : ''}${rule.cfa.offset}`;
  const registers: Record<string, string> = {};
  for (const [n, r] of [...rule.registers].sort((a, b) => a[0] - b[0])) {
    registers[n === rule.returnAddressRegister ? 'ra' : name(n)] = describeRegisterRule(r, name);
  }
  return { cfa, registers };
}
