// Text output for batch runs: plain for pipes (one row a line), or tables fitted to a terminal; hexdumps, disassembly,
// one-line errors. No colour.
import type { Block, CommandResult } from '../result.js';
import type { HotpatchError } from '../errors.js';
import type { Pause } from '../process/target.js';
import { fittedTable, plainTable } from './table.js';

/**
 * How batch output looks: `plain` (stdout is not a terminal) is one row a line, for grep and cut; `table` (a terminal)
 * fits tables to its width; `json` is one object per command (render-json.ts).
 */
export type OutputFormat = 'table' | 'plain' | 'json';

export interface TextLayout {
  format: 'table' | 'plain';
  /** The terminal's columns, for `table`. */
  width?: number;
}

const PLAIN: TextLayout = { format: 'plain' };

export function renderResult(result: CommandResult, explain: boolean, layout: TextLayout = PLAIN): string {
  const parts = [...(result.notes ?? []).map((n) => `note: ${n}`), ...result.blocks.map((b) => renderBlock(b, layout)).filter((s) => s.length > 0)];
  if (result.pause) parts.push(pauseText(result.pause));
  if (explain && result.explain?.length) parts.push(result.explain.map((l) => `  · ${l}`).join('\n'));
  return parts.join('\n');
}

export function pauseText(p: Pause): string {
  const threads = `${p.threads} thread${p.threads === 1 ? '' : 's'}`;
  const retried = p.retries ? `, ${p.retries} ${p.retries === 1 ? 'retry' : 'retries'}: a thread stood in the bytes` : '';
  if (!p.stops || p.stops < 2) return `paused ${msText(p.micros)} ms (${threads}${retried})`;
  return `paused ${msText(p.micros)} ms (${threads}, ${p.stops} stops, longest ${msText(p.longestMicros ?? p.micros)} ms${retried})`;
}

function msText(micros: number): string {
  const ms = micros / 1000;
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

export function errorText(e: HotpatchError): string {
  return `error ${e.code}: ${e.message}${e.hint ? ` (${e.hint})` : ''}`;
}

export function renderBlock(b: Block, layout: TextLayout = PLAIN): string {
  switch (b.type) {
    case 'text':
      return b.text;
    case 'pairs': {
      const w = Math.max(0, ...b.pairs.map(([k]) => k.length));
      return b.pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
    }
    case 'table':
      return layout.format === 'table' ? terminalTable(b.columns, b.rows, b.alignRight, layout.width ?? 80, b.optional) : plainTable(b.columns, b.rows, b.alignRight);
    case 'hexdump':
      return hexdump(b.address, b.bytes);
    case 'disasm': {
      // Columns as wide as this listing needs: `<sym+0x13>` and 7-byte instructions stay in line with the rest.
      const locWidth = Math.max(0, ...b.lines.map((l) => l.location.length)) + 2;
      const bytesWidth = Math.max(0, ...b.lines.map((l) => l.bytes.length));
      return b.lines
        .map((l) => {
          const mark = l.currentThreads?.length ? `=>` : '  ';
          const where = l.currentThreads?.length ? `   <- thread ${l.currentThreads.join(',')}` : '';
          const comment = l.comment ? `   ; ${l.comment}` : '';
          return `${mark} 0x${l.address.toString(16)} ${`<${l.location}>`.padEnd(locWidth)}  ${l.bytes.padEnd(bytesWidth)}  ${l.mnemonic.padEnd(7)} ${l.operands}${comment}${where}`.trimEnd();
        })
        .join('\n');
    }
  }
}

/** A table for a terminal: the heading, a rule under it, then the rows fitted to the width (no rules between them). */
function terminalTable(columns: string[], rows: string[][], alignRight: number[] = [], width: number, optional: number[] = []): string {
  const t = fittedTable(columns, rows, alignRight, width, optional);
  const lines = t.rows.flat();
  const longest = lines.reduce((m, l) => Math.max(m, l.length), t.heading.length);
  return [t.heading, '─'.repeat(Math.min(width, longest)), ...lines, ...(t.hidden.length ? [hiddenNote(t.hidden)] : [])].join('\n');
}

export function hexdump(address: bigint, bytes: Buffer): string {
  const lines: string[] = [];
  const start = address & ~0xfn;
  const lead = Number(address - start);
  for (let row = 0; row < lead + bytes.length; row += 16) {
    const cells: string[] = [];
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      const k = row + i - lead;
      if (k < 0 || k >= bytes.length) {
        cells.push('  ');
        ascii += ' ';
      } else {
        const v = bytes[k];
        cells.push(v.toString(16).padStart(2, '0'));
        ascii += v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : '.';
      }
    }
    const addr = (start + BigInt(row)).toString(16).padStart(12, '0');
    lines.push(`${addr}  ${cells.slice(0, 8).join(' ')}  ${cells.slice(8).join(' ')}  |${ascii}|`);
  }
  return lines.join('\n');
}

/** Said under a table that left columns out to fit the width. */
export function hiddenNote(hidden: string[]): string {
  return `(${hidden.join(", ")} left out at this width; a wider window or --json shows ${hidden.length === 1 ? "it" : "them"})`;
}
