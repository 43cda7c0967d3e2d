// Functions in .debug_info: the chain of inlined frames at a pc, and every place a function was inlined.
//
// A unit's code-bearing DIEs (subprograms, inlined subroutines, lexical blocks) are gathered into a tree of
// scopes the first time a pc in that unit is asked about; abstract instances (DW_AT_inline, no code) are
// skipped whole. Names come through DW_AT_abstract_origin and DW_AT_specification chains, each DIE read once
// and remembered; a chain that loops or runs deeper than MAX_CHAIN is damage (E_DWARF_BAD), never a hang.
// inlinedCopies walks every unit once per question and keeps only the names it resolved, so a large file costs
// time (a few hundred ms for libpython's 9 MB), not memory.
import { Cursor, dwarfBad, type SectionData } from './cursor.js';
import * as C from './constants.js';
import { rangesContain, type AddressRange } from './ranges.js';
import { SKIP_CHILDREN, type DebugInfo, type Die, type Unit } from './units.js';
import type { FunctionFrame, InlinedCopy, SourcePosition } from './types.js';

const MAX_CHAIN = 32;

interface Scope {
  die: Die;
  tag: number;
  ranges: AddressRange[];
  children: Scope[];
}

const SCOPE_TAGS = (tag: number) =>
  tag === C.DW_TAG_subprogram || tag === C.DW_TAG_inlined_subroutine || tag === C.DW_TAG_lexical_block;

/** The line-table file names of a unit (for DW_AT_call_file/DW_AT_decl_file), supplied by the line reader. */
export type UnitFiles = (unit: Unit) => (string | undefined)[] | undefined;

interface UnitSpan {
  start: bigint;
  end: bigint;
  unit: Unit;
}

export class FunctionIndex {
  private readonly scopeTrees = new Map<Unit, Scope[]>();
  private readonly names = new Map<number, { name?: string; linkageName?: string }>();
  private readonly roots = new Map<number, number>();
  private unitSpans?: UnitSpan[];

  constructor(private readonly info: DebugInfo, private readonly unitFiles: UnitFiles) {}

  /** The unit whose code holds `pc` (from .debug_aranges, else the units' own ranges). */
  unitForPc(pc: bigint): Unit | undefined {
    const spans = this.spans();
    let lo = 0;
    let hi = spans.length - 1;
    let candidate = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (spans[mid].start <= pc) {
        candidate = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // Spans do not overlap in linked output, but a few units' lists can nest oddly: look back a little.
    for (let i = candidate; i >= 0 && i > candidate - 8; i--) {
      if (pc >= spans[i].start && pc < spans[i].end) return spans[i].unit;
    }
    return undefined;
  }

  private spans(): UnitSpan[] {
    if (this.unitSpans) return this.unitSpans;
    const spans: UnitSpan[] = [];
    const covered = new Set<number>();
    const aranges = this.info.sections.get('.debug_aranges');
    const units = this.info.units();
    if (aranges) {
      const byOffset = new Map(units.map((u) => [u.offset, u]));
      for (const { unitOffset, ranges } of readAranges(aranges, this.info.path)) {
        const unit = byOffset.get(unitOffset);
        // A set for a unit that is not there (a stale table) is ignored; the unit's own ranges still count.
        if (!unit) continue;
        covered.add(unitOffset);
        for (const r of ranges) spans.push({ ...r, unit });
      }
    }
    for (const unit of units) {
      if (covered.has(unit.offset) || unit.unitType === C.DW_UT_type || unit.unitType === C.DW_UT_split_type) continue;
      const root = this.info.unitInfo(unit).root;
      for (const r of this.info.ranges(root)) spans.push({ ...r, unit });
    }
    spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.unitSpans = spans;
    return spans;
  }

  /** The code-bearing scopes of a unit, as a tree (cached). */
  private scopes(unit: Unit): Scope[] {
    const cached = this.scopeTrees.get(unit);
    if (cached) return cached;
    const top: Scope[] = [];
    const stack: { depth: number; scope: Scope }[] = [];
    this.info.walk(unit, SCOPE_TAGS, (die, depth) => {
      while (stack.length && stack[stack.length - 1].depth >= depth) stack.pop();
      const ranges = this.info.ranges(die);
      // An abstract instance or a declaration has no code and holds none.
      if (ranges.length === 0) return die.tag === C.DW_TAG_subprogram ? SKIP_CHILDREN : undefined;
      const scope: Scope = { die, tag: die.tag, ranges, children: [] };
      (stack.length ? stack[stack.length - 1].scope.children : top).push(scope);
      stack.push({ depth, scope });
      return undefined;
    });
    this.scopeTrees.set(unit, top);
    return top;
  }

  /** Innermost first: the inlined copies that hold `pc`, then the out-of-line function. Empty without debug info. */
  framesAt(pc: bigint, lineAt: (pc: bigint) => SourcePosition | undefined): FunctionFrame[] {
    const unit = this.unitForPc(pc);
    if (!unit) return [];
    const chain: Scope[] = [];
    let level = this.scopes(unit);
    for (;;) {
      const inside = level.find((s) => rangesContain(s.ranges, pc));
      if (!inside) break;
      // A subprogram nested in another (GNU C nested functions) starts a new chain: its parent is no caller.
      if (inside.tag === C.DW_TAG_subprogram) chain.length = 0;
      if (inside.tag !== C.DW_TAG_lexical_block) chain.push(inside);
      level = inside.children;
    }
    if (chain.length === 0) return [];
    const files = this.unitFiles(unit);
    const frames: FunctionFrame[] = [];
    let location = lineAt(pc);
    for (let i = chain.length - 1; i >= 0; i--) {
      const scope = chain[i];
      const inlined = scope.tag === C.DW_TAG_inlined_subroutine;
      const names = this.namesOf(scope.die.offset);
      const frame: FunctionFrame = {
        name: names.name ?? '??',
        inlined,
        ranges: scope.ranges,
        dieOffset: scope.die.offset,
      };
      if (names.linkageName) frame.linkageName = names.linkageName;
      const entry = this.entryOf(scope.die, scope.ranges);
      if (entry !== undefined) frame.entryPc = entry;
      if (location) frame.location = location;
      if (inlined) {
        const site = this.callSite(scope.die, files);
        if (site) frame.callSite = site;
        location = site;
      }
      frames.push(frame);
    }
    return frames;
  }

  private entryOf(die: Die, ranges: AddressRange[]): bigint | undefined {
    const entry = this.info.address(die, C.DW_AT_entry_pc);
    if (entry !== undefined) return entry;
    // DWARF 5 allows entry_pc as an offset from the low pc (a constant form).
    const i = die.names.indexOf(C.DW_AT_entry_pc);
    const low = this.info.address(die, C.DW_AT_low_pc);
    if (i >= 0 && low !== undefined && typeof die.values[i] === 'number') return low + BigInt(die.values[i] as number);
    if (low !== undefined) return low;
    // As gdb: the start of the first range listed (gcc lists the hot part first, the .cold part after).
    return ranges[0]?.start;
  }

  private callSite(die: Die, files: (string | undefined)[] | undefined): SourcePosition | undefined {
    const fileIndex = this.info.unsigned(die, C.DW_AT_call_file);
    const line = this.info.unsigned(die, C.DW_AT_call_line);
    if (fileIndex === undefined || line === undefined) return undefined;
    return {
      file: files?.[fileIndex] ?? `<file ${fileIndex}>`,
      line,
      column: this.info.unsigned(die, C.DW_AT_call_column) ?? 0,
    };
  }

  /** The DIE's name and linkage name, found through abstract origins and specifications. */
  namesOf(offset: number): { name?: string; linkageName?: string } {
    const cached = this.names.get(offset);
    if (cached) return cached;
    const result: { name?: string; linkageName?: string } = {};
    const seen: number[] = [];
    let at: number | undefined = offset;
    while (at !== undefined && (result.name === undefined || result.linkageName === undefined)) {
      if (seen.includes(at) || seen.length >= MAX_CHAIN) {
        throw dwarfBad(this.info.path, '.debug_info', offset, 'DW_AT_abstract_origin/DW_AT_specification references form a loop');
      }
      seen.push(at);
      const known = this.names.get(at);
      if (known) {
        result.name ??= known.name;
        result.linkageName ??= known.linkageName;
        break;
      }
      const die = this.info.readDie(at);
      if (!die) throw dwarfBad(this.info.path, '.debug_info', at, 'a DIE reference points at a null entry');
      result.name ??= this.info.string(die, C.DW_AT_name);
      result.linkageName ??= this.info.string(die, C.DW_AT_linkage_name) ?? this.info.string(die, C.DW_AT_MIPS_linkage_name);
      at = this.info.ref(die, C.DW_AT_abstract_origin) ?? this.info.ref(die, C.DW_AT_specification);
    }
    this.names.set(offset, result);
    return result;
  }

  /** The end of the DIE's DW_AT_abstract_origin chain: one identity for a function and all its copies. */
  abstractRoot(offset: number): number {
    const cached = this.roots.get(offset);
    if (cached !== undefined) return cached;
    const seen: number[] = [];
    let at = offset;
    for (;;) {
      if (seen.includes(at) || seen.length >= MAX_CHAIN) {
        throw dwarfBad(this.info.path, '.debug_info', offset, 'DW_AT_abstract_origin references form a loop');
      }
      seen.push(at);
      const die = this.info.readDie(at);
      if (!die) throw dwarfBad(this.info.path, '.debug_info', at, 'a DIE reference points at a null entry');
      const next = this.info.ref(die, C.DW_AT_abstract_origin);
      if (next === undefined) break;
      at = next;
    }
    for (const s of seen) this.roots.set(s, at);
    return at;
  }

  /**
   * Every inlined copy of a function: by name (DW_AT_name or linkage name; static functions of one name in
   * several units all match), or by an address in its out-of-line code (only that very function).
   */
  inlinedCopies(target: string | bigint): InlinedCopy[] {
    let matches: (origin: number) => boolean;
    if (typeof target === 'bigint') {
      const frames = this.framesAt(target, () => undefined);
      const outer = frames[frames.length - 1];
      if (!outer || outer.dieOffset === undefined) return [];
      const identity = this.abstractRoot(outer.dieOffset);
      matches = (origin) => this.abstractRoot(origin) === identity;
    } else {
      matches = (origin) => {
        const n = this.namesOf(origin);
        return n.name === target || n.linkageName === target;
      };
    }
    const verdicts = new Map<number, boolean>();
    const copies: InlinedCopy[] = [];
    for (const unit of this.info.units()) {
      if (unit.unitType === C.DW_UT_type || unit.unitType === C.DW_UT_split_type) continue;
      let files: (string | undefined)[] | undefined | null = null;
      const stack: { depth: number; die: Die; ranges?: AddressRange[] }[] = [];
      this.info.walk(unit, SCOPE_TAGS, (die, depth) => {
        while (stack.length && stack[stack.length - 1].depth >= depth) stack.pop();
        if (die.tag === C.DW_TAG_subprogram && !this.info.has(die, C.DW_AT_low_pc) && !this.info.has(die, C.DW_AT_ranges)) {
          return SKIP_CHILDREN;
        }
        if (die.tag === C.DW_TAG_inlined_subroutine) {
          const origin = this.info.ref(die, C.DW_AT_abstract_origin);
          if (origin !== undefined) {
            let verdict = verdicts.get(origin);
            if (verdict === undefined) {
              verdict = matches(origin);
              verdicts.set(origin, verdict);
            }
            if (verdict) {
              if (files === null) files = this.unitFiles(unit);
              copies.push(this.describeCopy(unit, die, stack, files));
            }
          }
        }
        if (die.tag !== C.DW_TAG_lexical_block) stack.push({ depth, die });
        return undefined;
      });
    }
    return copies;
  }

  private describeCopy(unit: Unit, die: Die, stack: { die: Die }[], files: (string | undefined)[] | undefined): InlinedCopy {
    const ranges = this.info.ranges(die);
    const callerDie = stack[stack.length - 1]?.die;
    let outerDie: Die | undefined;
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i].die.tag === C.DW_TAG_subprogram) {
        outerDie = stack[i].die;
        break;
      }
    }
    const copy: InlinedCopy = {
      function: this.namesOf(die.offset).name ?? '??',
      caller: callerDie ? this.namesOf(callerDie.offset).name ?? '??' : '??',
      outerFunction: outerDie ? this.namesOf(outerDie.offset).name ?? '??' : '??',
      ranges,
      dieOffset: die.offset,
    };
    if (outerDie) {
      const entry = this.entryOf(outerDie, this.info.ranges(outerDie));
      if (entry !== undefined) copy.outerEntry = entry;
    }
    const site = this.callSite(die, files);
    if (site) copy.callSite = site;
    const entry = this.entryOf(die, ranges);
    if (entry !== undefined) copy.entryPc = entry;
    const unitName = this.info.unitInfo(unit).name;
    if (unitName) copy.unit = unitName;
    return copy;
  }
}

/** .debug_aranges: the address ranges of each unit, by the unit's offset in .debug_info. */
function readAranges(data: SectionData, path: string): { unitOffset: number; ranges: AddressRange[] }[] {
  const out: { unitOffset: number; ranges: AddressRange[] }[] = [];
  const cur = new Cursor(data);
  while (cur.end - cur.pos >= 4) {
    const setStart = cur.pos;
    const { is64, end } = cur.initialLength(`the address range set at 0x${setStart.toString(16)}`);
    const version = cur.u16();
    if (version !== 2) throw dwarfBad(path, data.name, setStart, `address range set version ${version} is not 2`);
    const unitOffset = cur.offset(is64);
    const addressSize = cur.u8();
    const segmentSize = cur.u8();
    if (segmentSize !== 0) throw dwarfBad(path, data.name, setStart, 'segmented addresses are not supported');
    // Tuples start at a multiple of twice the address size, counted from the set's start.
    const tupleSize = addressSize * 2;
    const misalign = (cur.pos - setStart) % tupleSize;
    if (misalign) cur.skip(tupleSize - misalign);
    const ranges: AddressRange[] = [];
    while (cur.pos + tupleSize <= end) {
      const start = cur.address(addressSize);
      const length = cur.address(addressSize);
      if (start === 0n && length === 0n) break;
      if (length > 0n) ranges.push({ start, end: start + length });
    }
    out.push({ unitOffset, ranges });
    cur.pos = end;
  }
  return out;
}
