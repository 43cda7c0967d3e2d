// The target's address space from /proc/PID/maps: mapping entries, and modules (mapped ELF files) with their load bias.
import type { ElfSegment } from '../elf/types.js';
import type { MapEntry, Module } from './types.js';
import { DELETED_SUFFIX } from '../process/maps.js';
export { parseMaps, readMaps, type ParsedMapEntry } from '../process/maps.js';

const PT_LOAD = 1;

/**
 * Returns the PT_LOAD segments (or all segments) of the file behind a module, or undefined when they cannot be read.
 * It receives the path exactly as maps shows it, and the module's mappings (a deleted file can still be read through
 * /proc/PID/map_files/START-END).
 */
export type SegmentLoader = (path: string, maps: readonly MapEntry[]) => readonly ElfSegment[] | undefined;

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
