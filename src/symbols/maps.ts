// The target's address space from /proc/PID/maps: mapping entries, and modules (mapped ELF files) with their load bias.
import { readFileSync } from 'node:fs';
import { HotpatchError, errnoHint } from '../errors.js';
import type { ElfSegment } from '../elf/types.js';
import type { MapEntry, Module } from './types.js';

const PT_LOAD = 1;
const DELETED_SUFFIX = ' (deleted)';

/** A maps line as parsed; `deleted` is set when the kernel marked the file as unlinked (the path keeps the suffix). */
export interface ParsedMapEntry extends MapEntry {
  deleted?: boolean;
}

/**
 * Returns the PT_LOAD segments (or all segments) of the file behind a module, or undefined when they cannot be read.
 * It receives the path exactly as maps shows it, and the module's mappings (a deleted file can still be read through
 * /proc/PID/map_files/START-END).
 */
export type SegmentLoader = (path: string, maps: readonly MapEntry[]) => readonly ElfSegment[] | undefined;

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
    const code = (err as { code?: string }).code;
    // /proc/PID vanishes with the process, so a missing maps file means no such process.
    if (code === 'ENOENT') throw new HotpatchError('ESRCH', `no process ${pid}`, errnoHint('ESRCH'));
    if (code === 'EACCES' || code === 'EPERM') {
      throw new HotpatchError(code, `cannot read /proc/${pid}/maps: permission denied`, errnoHint(code));
    }
    throw new HotpatchError(code ?? 'E_INTERNAL', `cannot read /proc/${pid}/maps: ${(err as Error).message}`);
  }
  return parseMaps(text);
}

/** The name users type before '!': the file's basename, without the kernel's " (deleted)" mark. */
export function moduleNameOf(path: string): string {
  const bare = path.endsWith(DELETED_SUFFIX) ? path.slice(0, -DELETED_SUFFIX.length) : path;
  return bare.slice(bare.lastIndexOf('/') + 1);
}

/**
 * Groups file-backed mappings into modules. Only groups with an executable mapping count: that leaves out data files
 * (locale-archive, caches) that are mapped but hold no code. Pseudo mappings ([heap], [stack], [vdso], anonymous)
 * are skipped. Mappings are grouped by path alone: a file mapped twice (dlmopen) would merge into one module, which
 * is rare enough, while splitting on a second offset-0 mapping would break tiny binaries whose data segment shares
 * the file's first page.
 *
 * Without segments for a module, the bias assumes the lowest PT_LOAD vaddr is 0, which holds for PIE executables and
 * shared libraries but not for ET_EXEC executables; pass `loadSegments` to be exact.
 */
export function modulesFromMaps(entries: readonly MapEntry[], loadSegments?: SegmentLoader): Module[] {
  const groupByPath = new Map<string, MapEntry[]>();
  for (const entry of entries) {
    if (!entry.path.startsWith('/')) continue;
    let group = groupByPath.get(entry.path);
    if (!group) {
      group = [];
      groupByPath.set(entry.path, group);
    }
    group.push(entry);
  }

  const modules: Module[] = [];
  for (const maps of groupByPath.values()) {
    if (!maps.some((m) => m.perms.includes('x'))) continue;
    const path = maps[0]!.path;
    const segments = loadSegments?.(path, maps);
    const loads = segments?.filter((s) => s.type === PT_LOAD) ?? [];
    const loadBias = loads.length > 0 ? biasFromSegments(maps, loads) : biasWithoutSegments(maps);
    let start = maps[0]!.start;
    let end = maps[0]!.end;
    for (const m of maps) {
      if (m.start < start) start = m.start;
      if (m.end > end) end = m.end;
    }
    if (loads.length > 0) {
      // The image its segments describe. .bss lives past the last file-backed page (an anonymous mapping), and a
      // piece of the file mapped again elsewhere (node remaps V8's builtins next to its code range) is not the image.
      start = (loads.reduce((lo, s) => (s.vaddr < lo ? s.vaddr : lo), loads[0]!.vaddr) + loadBias) & ~0xfffn;
      end = loads.reduce((hi, s) => (s.vaddr + s.memsz > hi ? s.vaddr + s.memsz : hi), 0n) + loadBias;
    }
    modules.push({ name: moduleNameOf(path), path, loadBias, start, end, maps });
  }
  return modules;
}

/**
 * bias = run-time address − file vaddr, taken at the lowest PT_LOAD: its first file byte (p_offset) is mapped by the
 * mapping whose file range holds it, at start + (p_offset − mapping offset). No page size is needed this way.
 */
function biasFromSegments(maps: readonly MapEntry[], loads: readonly ElfSegment[]): bigint {
  let first = loads[0]!;
  for (const s of loads) if (s.vaddr < first.vaddr) first = s;
  const holder = maps.find((m) => m.offset <= first.offset && first.offset < m.offset + (m.end - m.start))
    ?? maps.find((m) => m.offset === 0n)
    ?? maps[0]!;
  return holder.start + (first.offset - holder.offset) - first.vaddr;
}

function biasWithoutSegments(maps: readonly MapEntry[]): bigint {
  const head = maps.find((m) => m.offset === 0n) ?? maps[0]!;
  return head.start - head.offset;
}

/** The module whose address range holds `address`, if any. */
export function moduleAt(modules: readonly Module[], address: bigint): Module | undefined {
  return modules.find((m) => m.start <= address && address < m.end);
}
