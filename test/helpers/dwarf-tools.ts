// Test helpers: what readelf (and llvm-dwarfdump, for range lists) says about a file's DWARF: line rows, DIEs, file tables, CFI rows.
import { execFileSync, spawnSync } from "node:child_process";
import { basename } from "node:path";

/** readelf's output; its exit status is ignored (on libc it complains about the program interpreter, and exits 1). */
function readelf(args: string[], path: string): string {
  const result = spawnSync("readelf", ["-W", ...args, path], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] });
  if (result.error) throw result.error;
  return result.stdout;
}

export interface ReadelfLineRow {
  /** Base name, as readelf prints it. */
  file: string;
  line: number;
  address: bigint;
  isStmt: boolean;
}

/** `readelf --debug-dump=decodedline`: the sequences of rows, each ending with its end_sequence address. */
export function readelfLineSequences(path: string): { rows: ReadelfLineRow[]; end: bigint }[] {
  const sequences: { rows: ReadelfLineRow[]; end: bigint }[] = [];
  let rows: ReadelfLineRow[] = [];
  for (const text of readelf(["--debug-dump=decodedline"], path).split("\n")) {
    const m = /^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+)(?:\s+(\d+))?(?:\s+(x))?\s*$/.exec(text);
    if (!m) continue;
    const address = BigInt(m[3]);
    if (m[2] === "-") {
      if (rows.length) sequences.push({ rows, end: address });
      rows = [];
      continue;
    }
    rows.push({ file: m[1], line: Number(m[2]), address, isStmt: m[5] === "x" });
  }
  return sequences;
}

/**
 * The row gdb would pick for `pc` in one sequence: the last row at or below it, but among rows at that same
 * address an is_stmt one is preferred (the rule src/dwarf/lines.ts follows).
 */
export function expectedRow(rows: ReadelfLineRow[], pc: bigint): ReadelfLineRow | undefined {
  let best = -1;
  for (let i = 0; i < rows.length; i++) if (rows[i].address <= pc) best = i;
  if (best < 0) return undefined;
  if (!rows[best].isStmt) {
    let i = best;
    while (i > 0 && rows[i - 1].address === rows[best].address && !rows[i].isStmt) i--;
    if (rows[i].isStmt) best = i;
  }
  return rows[best];
}

export interface ReadelfDie {
  offset: number;
  depth: number;
  tag: string;
  /** Attribute name -> readelf's text of its value. */
  attrs: Map<string, string>;
  parent?: ReadelfDie;
  /** Offset of the unit's root DIE. */
  unitRoot: number;
}

/** `readelf --debug-dump=info`: every DIE by offset (null entries left out). */
export function readelfDies(path: string): Map<number, ReadelfDie> {
  const dies = new Map<number, ReadelfDie>();
  const stack: ReadelfDie[] = [];
  let current: ReadelfDie | undefined;
  let unitRoot = 0;
  for (const text of readelf(["--debug-dump=info"], path).split("\n")) {
    const head = /^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: (\d+)(?: \((DW_TAG_\w+)\))?/.exec(text);
    if (head) {
      const depth = Number(head[1]);
      const offset = parseInt(head[2], 16);
      if (head[3] === "0") {
        current = undefined;
        continue;
      }
      stack.length = depth;
      if (depth === 0) unitRoot = offset;
      current = { offset, depth, tag: head[4] ?? "?", attrs: new Map(), parent: stack[depth - 1], unitRoot };
      stack[depth] = current;
      dies.set(offset, current);
      continue;
    }
    const attr = /^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s*(.*?)\s*$/.exec(text);
    // -W puts the form first: "(data1) 2", "(strp) (offset: 0x39): size_t"; the form goes.
    if (attr && current) current.attrs.set(attr[1], attr[2].replace(/^\([a-z_0-9]+\)\s*/, ""));
  }
  return dies;
}

/** A string attribute's text without readelf's "(offset: 0x…): " prefix. */
export function attrString(value: string | undefined): string | undefined {
  return value?.replace(/^\([^)]*\):\s*/, "");
}

/** A reference attribute ("<0x7cd>") as an offset. */
export function attrRef(value: string | undefined): number | undefined {
  const m = value && /<0x([0-9a-f]+)>/.exec(value);
  return m ? parseInt(m[1], 16) : undefined;
}

/** The name of a DIE through DW_AT_abstract_origin and DW_AT_specification, as readelf's DIEs say. */
export function readelfName(dies: Map<number, ReadelfDie>, offset: number): string | undefined {
  for (let i = 0, at: number | undefined = offset; i < 16 && at !== undefined; i++) {
    const die = dies.get(at);
    if (!die) return undefined;
    const name = attrString(die.attrs.get("DW_AT_name"));
    if (name) return name;
    at = attrRef(die.attrs.get("DW_AT_abstract_origin")) ?? attrRef(die.attrs.get("DW_AT_specification"));
  }
  return undefined;
}

/**
 * The resolved DW_AT_ranges of every DIE that has one, by DIE offset, from llvm-dwarfdump: readelf's Ranges dump
 * prints only the first list of each DWARF 5 range list table (binutils 2.40), so it cannot be the reference here.
 */
export function llvmDieRanges(path: string): Map<number, { start: bigint; end: bigint }[]> {
  const text = execFileSync("llvm-dwarfdump", ["--debug-info", path], { encoding: "utf8", maxBuffer: 1 << 30 });
  const lists = new Map<number, { start: bigint; end: bigint }[]>();
  let die = -1;
  let collecting: { start: bigint; end: bigint }[] | undefined;
  for (const line of text.split("\n")) {
    const head = /^0x([0-9a-f]+):\s+DW_TAG/.exec(line);
    if (head) {
      die = parseInt(head[1], 16);
      collecting = undefined;
      continue;
    }
    if (/^\s+DW_AT_ranges\s/.test(line)) {
      collecting = [];
      lists.set(die, collecting);
      continue;
    }
    const range = /^\s+\[0x([0-9a-f]+), 0x([0-9a-f]+)\)/.exec(line);
    if (range && collecting) collecting.push({ start: BigInt(`0x${range[1]}`), end: BigInt(`0x${range[2]}`) });
    else collecting = undefined;
  }
  return lists;
}

/** `readelf --debug-dump=rawline`: each line program's file table (base names by file number), by offset. */
export function readelfFileTables(path: string): Map<number, Map<number, string>> {
  const tables = new Map<number, Map<number, string>>();
  let files: Map<number, string> | undefined;
  let inFiles = false;
  for (const text of readelf(["--debug-dump=rawline"], path).split("\n")) {
    const offset = /^\s+Offset:\s+(0x[0-9a-f]+|\d+)\s*$/.exec(text);
    if (offset) {
      files = new Map();
      tables.set(Number(offset[1]), files);
      inFiles = false;
      continue;
    }
    if (/The File Name Table/.test(text)) {
      inFiles = true;
      continue;
    }
    if (inFiles && files) {
      // DWARF 5: "N  (udata) DIR  (line_strp) (offset: 0x…): name"; DWARF 4: "N  DIR  TIME  SIZE  name".
      const entry = /^\s+(\d+)\s.*?(\S+)\s*$/.exec(text);
      if (entry) files.set(Number(entry[1]), basename(entry[2]));
      else if (text.trim() === "" && files.size > 0) inFiles = false;
    }
  }
  return tables;
}

export interface ReadelfFrameRow {
  loc: bigint;
  cfa: string;
  /** Column name ("rbx", "ra") -> rule text ("c-16", "u", "s", "exp", a register name). */
  registers: Record<string, string>;
}

export interface ReadelfFde {
  section: string;
  offset: number;
  start: bigint;
  end: bigint;
  rows: ReadelfFrameRow[];
}

/** `readelf --debug-dump=frames-interp`: each FDE's rows (an FDE without its own rows gets its CIE's first row). */
export function readelfFrames(path: string): ReadelfFde[] {
  const fdes: ReadelfFde[] = [];
  const cieRows = new Map<string, ReadelfFrameRow[]>();
  const cieOf = new Map<ReadelfFde, string>();
  let section = "";
  let columns: string[] = [];
  let rows: ReadelfFrameRow[] | undefined;
  for (const raw of readelf(["--debug-dump=frames-interp"], path).split("\n")) {
    const sectionName = /^Contents of the (\S+) section/.exec(raw);
    if (sectionName) {
      section = sectionName[1];
      continue;
    }
    const cie = /^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ CIE/.exec(raw);
    if (cie) {
      rows = [];
      cieRows.set(`${section}:${parseInt(cie[1], 16)}`, rows);
      continue;
    }
    const fde = /^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(raw);
    if (fde) {
      rows = [];
      const entry: ReadelfFde = { section, offset: parseInt(fde[1], 16), start: BigInt(`0x${fde[3]}`), end: BigInt(`0x${fde[4]}`), rows };
      fdes.push(entry);
      cieOf.set(entry, `${section}:${parseInt(fde[2], 16)}`);
      continue;
    }
    // readelf writes a register rule as "r3 (rbx)": one token for splitting.
    const text = raw.replace(/\br\d+ \((\w+)\)/g, "$1");
    if (/^\s+LOC\s+CFA/.test(text)) {
      columns = text.trim().split(/\s+/).slice(2);
      continue;
    }
    const row = /^([0-9a-f]{16})\s+(\S+)\s*(.*)$/.exec(text);
    if (row && rows) {
      const values = row[3].trim() === "" ? [] : row[3].trim().split(/\s+/);
      const registers: Record<string, string> = {};
      columns.forEach((c, i) => (registers[c] = values[i] ?? "u"));
      rows.push({ loc: BigInt(`0x${row[1]}`), cfa: row[2], registers });
    }
  }
  for (const f of fdes) {
    if (f.rows.length > 0) continue;
    const first = cieRows.get(cieOf.get(f) ?? "")?.[0];
    if (first) f.rows.push({ ...first, loc: f.start });
  }
  return fdes;
}
