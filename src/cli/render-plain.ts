// Plain text output for batch runs and pipes: tables, hexdumps, disassembly, one-line errors. No colour.
import Table from 'cli-table3';
import type { Block, CommandResult } from '../result.js';
import type { HotpatchError } from '../errors.js';
import type { Pause } from '../process/target.js';

const FAST_TABLE_ROWS = 200;

export function renderResult(result: CommandResult, explain: boolean): string {
  const parts = [...(result.notes ?? []).map((n) => `note: ${n}`), ...result.blocks.map(renderBlock).filter((s) => s.length > 0)];
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

export function renderBlock(b: Block): string {
  switch (b.type) {
    case 'text':
      return b.text;
    case 'pairs': {
      const w = Math.max(0, ...b.pairs.map(([k]) => k.length));
      return b.pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
    }
    case 'table':
      return b.rows.length > FAST_TABLE_ROWS ? alignedTable(b.columns, b.rows, b.alignRight) : boxedTable(b.columns, b.rows, b.alignRight);
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
          return `${mark} 0x${l.address.toString(16)} ${`<${l.location}>`.padEnd(locWidth)}  ${l.bytes.padEnd(bytesWidth)}  ${l.mnemonic.padEnd(7)} ${l.operands}${comment}${where}`;
        })
        .join('\n');
    }
  }
}

function boxedTable(columns: string[], rows: string[][], alignRight: number[] = []): string {
  const t = new Table({
    head: columns,
    style: { head: [], border: [] },
    colAligns: columns.map((_, i) => (alignRight.includes(i) ? 'right' : 'left')),
  });
  for (const r of rows) t.push(r);
  return t.toString();
}

/** Big tables (100k symbols) as aligned columns: a boxed table of that size takes seconds to lay out. */
function alignedTable(columns: string[], rows: string[][], alignRight: number[] = []): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (alignRight.includes(i) ? (c ?? '').padStart(widths[i]) : i === cells.length - 1 ? c ?? '' : (c ?? '').padEnd(widths[i]))).join('  ');
  const out = [fmt(columns)];
  for (const r of rows) out.push(fmt(r));
  return out.join('\n');
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
