// /proc/PID/maps read and parsed: the process's mappings as they are now.
import { readFileSync } from 'node:fs';
import { HotpatchError, processGone, toHotpatchError } from '../errors.js';

export interface MapEntry {
  start: bigint;
  end: bigint;
  perms: string;          // "r-xp"
  offset: bigint;
  dev: string;
  inode: number;
  path: string;           // '' for anonymous, "[stack]", "/usr/lib/…/libc.so.6"
}

export const DELETED_SUFFIX = ' (deleted)';

/** A maps line as parsed; `deleted` is set when the kernel marked the file as unlinked (the path keeps the suffix). */
export interface ParsedMapEntry extends MapEntry {
  deleted?: boolean;
}

// start-end perms offset dev inode [path]; the path is the rest of the line and may contain spaces.
const MAPS_LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)(?:\s+(.*))?$/i;

export function parseMaps(text: string): ParsedMapEntry[] {
  const entries: ParsedMapEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const m = MAPS_LINE.exec(line);
    if (!m) {
      throw new HotpatchError('E_BAD_MAPS', `cannot parse maps line ${i + 1}: "${line}"`,
        'expected "start-end perms offset dev inode path" as in /proc/PID/maps');
    }
    const path = m[7] ?? '';
    const entry: ParsedMapEntry = {
      start: BigInt('0x' + m[1]),
      end: BigInt('0x' + m[2]),
      perms: m[3]!,
      offset: BigInt('0x' + m[4]),
      dev: m[5]!,
      inode: Number(m[6]),
      path,
    };
    if (path.startsWith('/') && path.endsWith(DELETED_SUFFIX)) entry.deleted = true;
    entries.push(entry);
  }
  return entries;
}

export function readMaps(pid: number): ParsedMapEntry[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (err) {
    const e = toHotpatchError(err);
    // /proc/PID vanishes with the process, so a missing maps file means no such process.
    if (e.code === 'ENOENT') throw processGone(pid, 'no such process');
    if (e.code === 'EACCES' || e.code === 'EPERM') throw new HotpatchError(e.code, `cannot read /proc/${pid}/maps: permission denied`);
    throw new HotpatchError(e.code, `cannot read /proc/${pid}/maps: ${e.message}`, e.hint);
  }
  return parseMaps(text);
}

