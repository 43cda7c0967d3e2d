// Results as styled lines: each Block becomes rows of coloured segments, capped so one result never floods the console.
import type { Block, DisasmLine } from '../result.js';
import type { HotpatchError } from '../errors.js';
import type { Outcome } from '../cli/runner.js';
import { hiddenNote, pauseText } from '../cli/render-plain.js';
import { fittedTable } from '../cli/table.js';

/** What a segment means; the theme decides how it looks (or that it looks plain). */
export type Role =
  | 'plain' | 'dim' | 'heading' | 'ok' | 'warn' | 'error'
  | 'echo' | 'cursor' | 'tableHead' | 'key' | 'explain'
  | 'address' | 'byte' | 'zeroByte' | 'ascii'
  | 'mnemonic' | 'branch' | 'operand' | 'comment' | 'pc';

export interface Seg {
  text: string;
  role?: Role;
}

export type StyledLine = Seg[];

/** Lines one result may take before the rest is left to `--json` or batch mode. */
export const MAX_RESULT_LINES = 500;
/** Below this width disassembly leaves out the instruction bytes. */
const DISASM_BYTES_MIN_WIDTH = 100;

export const PROMPT = 'hotpatch> ';

const plainLine = (text: string, role?: Role): StyledLine => [{ text, role }];

export function echoLine(line: string): StyledLine {
  return [{ text: PROMPT, role: 'echo' }, { text: line }];
}

/** A finished command: its blocks, the pause it caused, and (explain on) what it did. */
export function outcomeLines(outcome: Outcome, explain: boolean, width: number): StyledLine[] {
  if (!outcome.ok) return errorLines(outcome.error!);
  const result = outcome.result!;
  const out: StyledLine[] = [];
  let budget = MAX_RESULT_LINES;
  let omitted = 0;
  for (const note of result.notes ?? []) out.push(plainLine(`note: ${note}`, 'dim'));
  for (const block of result.blocks) {
    const { lines, more } = blockLines(block, width, budget);
    out.push(...lines);
    budget -= lines.length;
    omitted += more;
  }
  if (omitted > 0) out.push(plainLine(`… ${omitted.toLocaleString('en-US')} more lines (use --json / batch for all)`, 'warn'));
  if (explain && result.explain?.length) out.push(...result.explain.map((l) => plainLine(`  · ${l}`, 'explain')));
  // Last, under the steps too: the end of the output stays in view, and the pause is what the user looks for there.
  if (result.pause) out.push(plainLine(pauseText(result.pause), 'dim'));
  return out;
}

export function errorLines(e: HotpatchError): StyledLine[] {
  const lines = [plainLine(`error ${e.code}: ${e.message}`, 'error')];
  if (e.hint) lines.push(plainLine(`  ${e.hint}`, 'dim'));
  return lines;
}

/** A block's lines, at most `budget` of them; `more` counts those left out. */
export function blockLines(b: Block, width: number, budget: number): { lines: StyledLine[]; more: number } {
  const capped = (total: number, make: (count: number) => StyledLine[]) => {
    const count = Math.max(0, Math.min(total, budget));
    return { lines: make(count), more: total - count };
  };
  switch (b.type) {
    case 'text': {
      const all = b.text.split('\n');
      return capped(all.length, (n) => all.slice(0, n).map((t) => plainLine(t, b.tone === 'plain' ? undefined : b.tone)));
    }
    case 'pairs': {
      const w = Math.max(0, ...b.pairs.map(([k]) => k.length));
      return capped(b.pairs.length, (n) => b.pairs.slice(0, n).map(([k, v]) => [{ text: k.padEnd(w) + '  ', role: 'key' }, { text: v }]));
    }
    case 'table': {
      // The heading takes one line of the budget.
      if (budget <= 0) return { lines: [], more: b.rows.length };
      const shown = Math.min(b.rows.length, budget - 1);
      return { lines: tableLines(b.columns, b.rows.slice(0, shown), b.alignRight ?? [], width, b.optional), more: b.rows.length - shown };
    }
    case 'hexdump': {
      const start = b.address & ~0xfn;
      const rows = Math.ceil((Number(b.address - start) + b.bytes.length) / 16);
      return capped(rows, (n) => hexdumpLines(b.address, b.bytes, n, width));
    }
    case 'disasm':
      return capped(b.lines.length, (n) => {
        const shown = b.lines.slice(0, n);
        const locationWidth = Math.max(0, ...shown.map((l) => l.location.length));
        const targets = branchTargets(shown);
        return shown.map((l) => disasmLine(l, locationWidth, width >= DISASM_BYTES_MIN_WIDTH, targets));
      });
  }
}

/**
 * Aligned columns with a bold heading, fitted to the width (cli/table.ts): the widest text columns give way; a path
 * loses directories from its middle, other cells wrap onto more lines between words rather than lose text.
 */
function tableLines(columns: string[], rows: string[][], alignRight: number[], width: number, optional?: number[]): StyledLine[] {
  const t = fittedTable(columns, rows, alignRight, width, optional);
  const out: StyledLine[] = [plainLine(t.heading, 'tableHead')];
  for (const r of t.rows) for (const l of r) out.push(plainLine(l));
  if (t.hidden.length) out.push(plainLine(hiddenNote(t.hidden), 'dim'));
  return out;
}

/** A hexdump row as render-plain lays it out: 82 columns. One space less on each side of the bytes makes 80. */
const HEXDUMP_WIDTH = 82;

/** The layout of render-plain's hexdump (16 bytes a row, from a 16-byte boundary), with bytes and text coloured. */
function hexdumpLines(address: bigint, bytes: Buffer, rowCount: number, width: number): StyledLine[] {
  const start = address & ~0xfn;
  const lead = Number(address - start);
  const space = width < HEXDUMP_WIDTH ? ' ' : '  ';
  const lines: StyledLine[] = [];
  for (let row = 0; row < rowCount; row++) {
    const line: StyledLine = [{ text: (start + BigInt(row * 16)).toString(16).padStart(12, '0') + space, role: 'address' }];
    const ascii: Seg[] = [];
    for (let i = 0; i < 16; i++) {
      const k = row * 16 + i - lead;
      const gap = i === 7 ? '  ' : i === 15 ? '' : ' ';
      if (k < 0 || k >= bytes.length) {
        line.push({ text: '  ' + gap });
        ascii.push({ text: ' ' });
        continue;
      }
      const v = bytes[k]!;
      line.push({ text: v.toString(16).padStart(2, '0'), role: v === 0 ? 'zeroByte' : 'byte' }, { text: gap });
      const printable = v >= 0x20 && v < 0x7f;
      ascii.push({ text: printable ? String.fromCharCode(v) : '.', role: printable ? 'ascii' : 'dim' });
    }
    lines.push(merge([...line, { text: space + '|', role: 'dim' }, ...ascii, { text: '|', role: 'dim' }]));
  }
  return lines;
}

const BRANCH = /^(j|call|ret|loop|b\.|bl|br|cb|tb)/;

/** The address a direct branch or call goes to (`jle 0x401150`), when its operand is one. */
function branchTarget(l: DisasmLine): bigint | undefined {
  if (!BRANCH.test(l.mnemonic)) return undefined;
  const m = /^0x([0-9a-f]+)$/i.exec(l.operands.trim());
  return m ? BigInt('0x' + m[1]) : undefined;
}

/** Addresses of the listing that a branch in it goes to: the places where control comes in from elsewhere. */
function branchTargets(lines: readonly DisasmLine[]): Set<bigint> {
  const listed = new Set(lines.map((l) => l.address));
  const targets = new Set<bigint>();
  for (const l of lines) {
    const to = branchTarget(l);
    if (to !== undefined && listed.has(to)) targets.add(to);
  }
  return targets;
}

/**
 * One instruction: `=>` where a thread's pc stands, `>` where a branch of the listing lands; a branch to a place in the
 * listing says which way it goes (↑ back: a loop; ↓ forward: a skip).
 */
function disasmLine(l: DisasmLine, locationWidth: number, showBytes: boolean, targets: ReadonlySet<bigint>): StyledLine {
  const current = (l.currentThreads?.length ?? 0) > 0;
  const landing = targets.has(l.address);
  const to = branchTarget(l);
  const line: StyledLine = [
    current ? { text: '=> ', role: 'pc' } : landing ? { text: ' > ', role: 'branch' } : { text: '   ' },
    { text: '0x' + l.address.toString(16), role: current ? 'pc' : 'address' },
    { text: ` ${`<${l.location}>`.padEnd(locationWidth + 2)}  `, role: 'dim' },
  ];
  if (showBytes) line.push({ text: l.bytes.padEnd(24) + ' ', role: 'dim' });
  line.push({ text: l.mnemonic.padEnd(7), role: BRANCH.test(l.mnemonic) ? 'branch' : 'mnemonic' }, { text: ' ' + l.operands, role: 'operand' });
  if (l.comment) line.push({ text: `   ; ${l.comment}`, role: 'comment' });
  if (to !== undefined && targets.has(to)) line.push({ text: to <= l.address ? ' ↑' : ' ↓', role: 'branch' });
  if (current) line.push({ text: `   <- thread ${l.currentThreads!.join(',')}`, role: 'pc' });
  return line;
}

/** Neighbouring segments of the same role as one (fewer Text nodes to lay out). */
function merge(line: StyledLine): StyledLine {
  const out: StyledLine = [];
  for (const s of line) {
    const last = out[out.length - 1];
    if (last && last.role === s.role) last.text += s.text;
    else out.push({ ...s });
  }
  return out;
}

export function lineLength(line: StyledLine): number {
  let n = 0;
  for (const s of line) n += s.text.length;
  return n;
}

/** A line whose text holds line breaks (an error message from the kernel side, a pasted value) as several lines. */
export function splitNewlines(line: StyledLine): StyledLine[] {
  if (!line.some((seg) => seg.text.includes('\n'))) return [line];
  const lines: StyledLine[] = [[]];
  for (const seg of line) {
    seg.text.split('\n').forEach((piece, i) => {
      if (i > 0) lines.push([]);
      if (piece) lines[lines.length - 1]!.push({ text: piece, role: seg.role });
    });
  }
  return lines;
}

/**
 * Wrap a line to the width, at a space where one is near the end of a row (the space itself is dropped), so one screen
 * row is one list line. Rows after the first keep the line's indent and bullet (`  · `), so a wrapped step of `explain`
 * still reads as one step.
 */
export function wrapLine(line: StyledLine, width: number): StyledLine[] {
  if (width <= 0 || lineLength(line) <= width) return [line];
  const text = line.map((seg) => seg.text).join('');
  const indent = hangingIndent(text, width);
  const rows = rowRanges(text, width, indent.length);
  const out: StyledLine[] = rows.map((_, r) => (r > 0 && indent ? [{ text: indent }] : []));
  let at = 0;
  for (const seg of line) {
    for (let r = 0; r < rows.length; r++) {
      const from = Math.max(at, rows[r]!.from);
      const to = Math.min(at + seg.text.length, rows[r]!.to);
      if (from < to) out[r]!.push({ text: seg.text.slice(from - at, to - at), role: seg.role });
    }
    at += seg.text.length;
  }
  return out;
}

/** The blanks and bullet a line starts with, as blanks: where its continuation rows start (none past half the width). */
function hangingIndent(text: string, width: number): string {
  const lead = /^ *(?:[·•*-] )?/.exec(text)![0];
  return lead.length > 0 && lead.length <= width / 2 ? ' '.repeat(lead.length) : '';
}

/**
 * The [from, to) of `text` on each row: a row ends at its last space when that is in the row's second half (the space
 * goes), else at the width. Rows after the first have `indent` columns less.
 */
function rowRanges(text: string, width: number, indent: number): { from: number; to: number }[] {
  const rows: { from: number; to: number }[] = [];
  let start = 0;
  let room = width;
  while (text.length - start > room) {
    // A space just past the room ends the row exactly at the width.
    const space = text.lastIndexOf(' ', start + room);
    if (space > start + room / 2) {
      rows.push({ from: start, to: space });
      start = space + 1;
    } else {
      rows.push({ from: start, to: start + room });
      start += room;
    }
    room = width - indent;
  }
  rows.push({ from: start, to: text.length });
  return rows;
}

/** Cut a line to the width, ending in '…' when something was cut (for one-row things: status, completions). */
export function truncateLine(line: StyledLine, width: number): StyledLine {
  if (lineLength(line) <= width) return line;
  const out: StyledLine = [];
  let room = Math.max(0, width - 1);
  for (const seg of line) {
    if (room <= 0) break;
    const piece = seg.text.slice(0, room);
    out.push({ text: piece, role: seg.role });
    room -= piece.length;
  }
  out.push({ text: '…', role: 'dim' });
  return out;
}
