// .debug_line: line program headers (DWARF 2 to 5) and the state machine that turns a program into rows.
//
// A unit's program is run only when a question needs it (the pc is in its unit, or the file asked about is in
// its file table) and its rows are kept in columns, split into sequences sorted by address, so that a pc
// is two binary searches away. The choice among several rows at one address follows gdb: the last row at
// or below the pc, but an is_stmt row at the same address is preferred to a non-statement one.
import { Cursor, stringAt, type SectionData } from './cursor.js';
import * as C from './constants.js';
import { readForm, type FormContext } from './forms.js';
import type { SectionSet } from './sections.js';

export interface LineHeader {
  offset: number;
  version: number;
  /** Offset just past this unit's program. */
  end: number;
  programStart: number;
  minInstLength: number;
  maxOpsPerInst: number;
  defaultIsStmt: boolean;
  lineBase: number;
  lineRange: number;
  opcodeBase: number;
  standardLengths: number[];
  /** Full paths (directory joined), indexed by the DWARF file number (DWARF 5 counts from 0, older from 1). */
  files: (string | undefined)[];
  /** Full directory paths by index (0 is the compilation directory). */
  directories: string[];
  addressSize: number;
}

export interface LineRow {
  address: bigint;
  file: string;
  line: number;
  column: number;
  isStmt: boolean;
}

export interface Sequence {
  /** The address the sequence's offsets count from (its first DW_LNE_set_address). */
  base: bigint;
  start: bigint;
  /** The end_sequence row's address (exclusive). */
  end: bigint;
  /** Row indexes [first, last]; `last` is the end_sequence row. */
  first: number;
  last: number;
}

/**
 * A run line program: columns of rows, and sequences sorted by start address. A row's address is kept as a
 * number offset from its sequence's base, so the state machine and the searches do no bigint arithmetic.
 */
export class LineTable {
  readonly offsets: number[] = [];
  readonly files: number[] = [];
  readonly lines: number[] = [];
  readonly columns: number[] = [];
  readonly isStmt: boolean[] = [];
  readonly sequences: Sequence[] = [];

  constructor(readonly header: LineHeader) {}

  address(seq: Sequence, i: number): bigint {
    return seq.base + BigInt(this.offsets[i]);
  }

  row(seq: Sequence, i: number): LineRow {
    return {
      address: this.address(seq, i),
      file: this.header.files[this.files[i]] ?? `<file ${this.files[i]}>`,
      line: this.lines[i],
      column: this.columns[i],
      isStmt: this.isStmt[i],
    };
  }

  /** The row that covers `pc`, or undefined outside every sequence (see the file comment for ties). */
  lookup(pc: bigint): LineRow | undefined {
    const seqs = this.sequences;
    let lo = 0;
    let hi = seqs.length - 1;
    let seq: Sequence | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid].start <= pc) {
        seq = seqs[mid];
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // Sequences do not overlap in sane output; when they do, the one found is still one that starts at or below pc.
    if (!seq || pc >= seq.end) return undefined;
    const target = Number(pc - seq.base);
    const offsets = this.offsets;
    lo = seq.first;
    hi = seq.last - 1;
    let best = seq.first;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid] <= target) {
        best = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (!this.isStmt[best]) {
      let i = best;
      while (i > seq.first && offsets[i - 1] === offsets[best] && !this.isStmt[i]) i--;
      if (this.isStmt[i]) best = i;
    }
    return this.row(seq, best);
  }
}

function joinPath(dir: string | undefined, name: string): string {
  if (name.startsWith('/') || !dir) return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

interface EntryFormat {
  content: number;
  form: number;
}

/** Reads a DWARF 5 directory or file entry table (names in strp/line_strp resolved through `sections`). */
function readEntries(cur: Cursor, ctx: FormContext, sections: SectionSet): { path?: string; dir?: number }[] {
  const formatCount = cur.u8();
  const formats: EntryFormat[] = [];
  for (let i = 0; i < formatCount; i++) formats.push({ content: cur.uleb(), form: cur.uleb() });
  const count = cur.uleb();
  const out: { path?: string; dir?: number }[] = [];
  for (let i = 0; i < count; i++) {
    const entry: { path?: string; dir?: number } = {};
    for (const { content, form } of formats) {
      const at = cur.pos;
      const value = readForm(cur, form, ctx, undefined);
      if (content === C.DW_LNCT_path) {
        if (typeof value === 'string') entry.path = value;
        else if (form === C.DW_FORM_line_strp || form === C.DW_FORM_strp) {
          const name = form === C.DW_FORM_line_strp ? '.debug_line_str' : '.debug_str';
          const strings = sections.get(name);
          if (!strings) throw cur.bad(`a file name points into ${name}, which is missing`, at);
          entry.path = stringAt(strings, value as number);
        } else {
          throw cur.bad(`a file name has form 0x${form.toString(16)}, which is not supported here`, at);
        }
      } else if (content === C.DW_LNCT_directory_index && typeof value === 'number') {
        entry.dir = value;
      }
    }
    out.push(entry);
  }
  return out;
}

/**
 * The header of the program at `offset`. `compDir` is the unit's DW_AT_comp_dir (DWARF 4 leaves directory 0
 * implicit); `addressSize` comes from the unit, for headers before DWARF 5 that do not say it.
 */
export function readLineHeader(
  data: SectionData, sections: SectionSet, offset: number, compDir: string | undefined, addressSize: number,
): LineHeader {
  const cur = new Cursor(data, offset);
  const { is64, end } = cur.initialLength(`the line program at 0x${offset.toString(16)}`);
  const version = cur.u16();
  if (version < 2 || version > 5) throw cur.bad(`line program version ${version} is not 2 to 5`, offset);
  if (version >= 5) {
    addressSize = cur.u8();
    const segmentSelectorSize = cur.u8();
    if (segmentSelectorSize !== 0) throw cur.bad('segmented addresses are not supported', offset);
  }
  const headerLength = cur.offset(is64);
  const programStart = cur.pos + headerLength;
  if (programStart > end) throw cur.bad('the line program header is longer than its unit', offset);
  const minInstLength = cur.u8();
  const maxOpsPerInst = version >= 4 ? cur.u8() : 1;
  const defaultIsStmt = cur.u8() !== 0;
  const lineBase = cur.i8();
  const lineRange = cur.u8();
  const opcodeBase = cur.u8();
  if (lineRange === 0) throw cur.bad('line_range is 0', offset);
  if (maxOpsPerInst === 0) throw cur.bad('maximum_operations_per_instruction is 0', offset);
  const standardLengths = [0];
  for (let i = 1; i < opcodeBase; i++) standardLengths.push(cur.u8());
  const files: (string | undefined)[] = [];
  let directories: string[];
  if (version >= 5) {
    const ctx: FormContext = { version, addressSize, is64 };
    const dirs = readEntries(cur, ctx, sections).map((d) => d.path ?? '');
    // Directory 0 is the compilation directory; others may be relative to it.
    directories = dirs.map((d, i) => (i === 0 ? d : joinPath(dirs[0] || compDir, d)));
    for (const f of readEntries(cur, ctx, sections)) {
      files.push(f.path === undefined ? undefined : joinPath(directories[f.dir ?? 0], f.path));
    }
  } else {
    directories = [compDir ?? ''];
    for (;;) {
      const dir = cur.cstring();
      if (dir === '') break;
      directories.push(joinPath(compDir, dir));
    }
    files.push(undefined);
    for (;;) {
      const name = cur.cstring();
      if (name === '') break;
      const dir = cur.uleb();
      cur.skipLeb();
      cur.skipLeb();
      files.push(joinPath(directories[dir], name));
    }
  }
  return {
    offset, version, end, programStart, minInstLength, maxOpsPerInst, defaultIsStmt, lineBase, lineRange,
    opcodeBase, standardLengths, files, directories, addressSize,
  };
}

/** Runs the program and returns its rows. */
export function runLineProgram(data: SectionData, header: LineHeader): LineTable {
  const table = new LineTable(header);
  const cur = new Cursor(data, header.programStart, header.end);
  const { minInstLength, maxOpsPerInst, lineBase, lineRange, opcodeBase } = header;
  // The address is base + offset: base is set by the sequence's first DW_LNE_set_address, offset is a number.
  let base = 0n;
  let offset = 0;
  let opIndex = 0;
  let file = 1;
  let line = 1;
  let column = 0;
  let isStmt = header.defaultIsStmt;
  let seqFirst = 0;
  const reset = () => {
    base = 0n;
    offset = 0;
    opIndex = 0;
    file = 1;
    line = 1;
    column = 0;
    isStmt = header.defaultIsStmt;
  };
  const advance = (operationAdvance: number) => {
    if (maxOpsPerInst === 1) {
      offset += minInstLength * operationAdvance;
    } else {
      offset += minInstLength * Math.floor((opIndex + operationAdvance) / maxOpsPerInst);
      opIndex = (opIndex + operationAdvance) % maxOpsPerInst;
    }
  };
  const emit = () => {
    table.offsets.push(offset);
    table.files.push(file);
    table.lines.push(line);
    table.columns.push(column);
    table.isStmt.push(isStmt);
  };
  while (!cur.atEnd) {
    const at = cur.pos;
    const opcode = cur.u8();
    if (opcode >= opcodeBase) {
      const adjusted = opcode - opcodeBase;
      advance(Math.floor(adjusted / lineRange));
      line += lineBase + (adjusted % lineRange);
      emit();
      continue;
    }
    switch (opcode) {
      case 0: {
        const length = cur.uleb();
        if (length === 0) throw cur.bad('an extended line opcode has length 0', at);
        const body = cur.sub(length);
        cur.skip(length);
        const sub = body.u8();
        if (sub === C.DW_LNE_end_sequence) {
          emit();
          const last = table.offsets.length - 1;
          if (last > seqFirst) {
            const start = base + BigInt(table.offsets[seqFirst]);
            table.sequences.push({ base, start, end: base + BigInt(offset), first: seqFirst, last });
          }
          seqFirst = last + 1;
          reset();
        } else if (sub === C.DW_LNE_set_address) {
          // The operand fills the rest of the opcode: its size says the address size, whatever the header said.
          const address = body.address(length - 1);
          if (table.offsets.length === seqFirst) {
            base = address;
            offset = 0;
          } else {
            const delta = address - base;
            if (delta > BigInt(Number.MAX_SAFE_INTEGER) || delta < BigInt(Number.MIN_SAFE_INTEGER)) {
              throw body.bad('DW_LNE_set_address jumps too far within one sequence', at);
            }
            offset = Number(delta);
          }
          opIndex = 0;
        } else if (sub === C.DW_LNE_define_file) {
          const name = body.cstring();
          header.files.push(joinPath(header.directories[body.uleb()], name));
        }
        // DW_LNE_set_discriminator and vendor opcodes: nothing a row here records.
        break;
      }
      case C.DW_LNS_copy:
        emit();
        break;
      case C.DW_LNS_advance_pc:
        advance(cur.uleb());
        break;
      case C.DW_LNS_advance_line:
        line += cur.sleb();
        break;
      case C.DW_LNS_set_file:
        file = cur.uleb();
        break;
      case C.DW_LNS_set_column:
        column = cur.uleb();
        break;
      case C.DW_LNS_negate_stmt:
        isStmt = !isStmt;
        break;
      case C.DW_LNS_set_basic_block:
        break;
      case C.DW_LNS_const_add_pc:
        advance(Math.floor((255 - opcodeBase) / lineRange));
        break;
      case C.DW_LNS_fixed_advance_pc:
        offset += cur.u16();
        opIndex = 0;
        break;
      default:
        // Prologue/epilogue markers, set_isa and opcodes of later versions: skip their ULEB operands.
        for (let i = 0; i < header.standardLengths[opcode]; i++) cur.skipLeb();
    }
  }
  // Sort so lookups can bisect; gcc emits main's sequence (.text.startup) apart from the rest.
  table.sequences.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return table;
}
