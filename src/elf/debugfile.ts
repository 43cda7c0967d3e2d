// Separate debug files: find one by build-id or .gnu_debuglink, and lend its .symtab to the stripped file.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { HotpatchError } from '../errors.js';
import { openElf } from './reader.js';
import { mergeSymbolTables } from './merge.js';
import type { NameScreen } from './symtab.js';
import type { ElfFile, ElfSymbol } from './types.js';

/**
 * The CRC-32 of .gnu_debuglink (the zlib/IEEE one); zlib.crc32 only arrived in Node 22. Eight tables
 * (slice-by-8) take eight bytes a step: debug files run to hundreds of megabytes.
 */
const CRC_TABLES = (() => {
  const tables = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) {
      const previous = tables[(t - 1) * 256 + n];
      tables[t * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff];
    }
  }
  return tables;
})();

/** Continues a CRC-32 over `bytes`; start with 0. */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const t = CRC_TABLES;
  let crc = ~previous >>> 0;
  let i = 0;
  for (; i + 8 <= bytes.length; i += 8) {
    const low = (crc ^ (bytes[i] | bytes[i + 1] << 8 | bytes[i + 2] << 16 | bytes[i + 3] << 24)) >>> 0;
    const high = bytes[i + 4] | bytes[i + 5] << 8 | bytes[i + 6] << 16 | bytes[i + 7] << 24;
    crc = t[1792 + (low & 0xff)] ^ t[1536 + ((low >>> 8) & 0xff)] ^ t[1280 + ((low >>> 16) & 0xff)] ^ t[1024 + (low >>> 24)]
      ^ t[768 + (high & 0xff)] ^ t[512 + ((high >>> 8) & 0xff)] ^ t[256 + ((high >>> 16) & 0xff)] ^ t[(high >>> 24) & 0xff];
  }
  for (; i < bytes.length; i++) crc = t[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

const CRC_CHUNK_BYTES = 1 << 20;

export function crc32OfFile(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CRC_CHUNK_BYTES);
    let crc = 0;
    for (;;) {
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) return crc;
      crc = crc32(chunk.subarray(0, got), crc);
    }
  } finally {
    closeSync(fd);
  }
}

const DEBUG_ROOT = '/usr/lib/debug';

function buildIdCandidate(buildId: string, debugRoot: string): string | undefined {
  if (buildId.length < 4) return undefined;
  return join(debugRoot, '.build-id', buildId.slice(0, 2), `${buildId.slice(2)}.debug`);
}

/** Where gdb looks for a debuglink name: next to the file, in its .debug/, and under the global debug root. */
function debugLinkCandidates(elf: ElfFile, name: string, debugRoot: string): string[] {
  const dir = dirname(elf.path);
  return [join(dir, name), join(dir, '.debug', name), join(debugRoot, dir, name)];
}

/** Opens a candidate when it is an ELF with the same build-id (or none to compare); a bad file is just not a match. */
function openMatching(elf: ElfFile, candidate: string): ElfFile | undefined {
  if (!existsSync(candidate)) return undefined;
  try {
    const debug = openElf(candidate);
    if (elf.buildId && debug.buildId && elf.buildId !== debug.buildId) return undefined;
    return debug;
  } catch {
    return undefined;
  }
}

export interface DebugFileSearch {
  /** Instead of /usr/lib/debug (tests, or a sysroot). */
  debugRoot?: string;
}

/** The path of a separate debug file for `elf`, by build-id first, then by .gnu_debuglink with its CRC checked. */
export function findDebugFile(elf: ElfFile, search: DebugFileSearch = {}): string | undefined {
  const debugRoot = search.debugRoot ?? DEBUG_ROOT;
  const byBuildId = elf.buildId && buildIdCandidate(elf.buildId, debugRoot);
  if (byBuildId && openMatching(elf, byBuildId)) return byBuildId;
  const link = elf.debugLink;
  if (!link) return undefined;
  for (const candidate of debugLinkCandidates(elf, link.file, debugRoot)) {
    // The file itself can carry a debuglink naming its own basename; it is not its own debug file.
    if (resolve(candidate) === resolve(elf.path)) continue;
    if (openMatching(elf, candidate) && crc32OfFile(candidate) === link.crc) return candidate;
  }
  return undefined;
}

/**
 * `stripped` with the debug file's .symtab merged into its symbols (the debug file's values are the
 * stripped file's addresses, as both come from one link). Refuses a debug file of another build.
 */
export function mergeDebugSymbols(stripped: ElfFile, debug: ElfFile): ElfFile {
  if (stripped.buildId && debug.buildId && stripped.buildId !== debug.buildId) {
    throw new HotpatchError('E_BUILD_ID',
      `${debug.path} is for another build (build-id ${debug.buildId}, ${stripped.path} has ${stripped.buildId})`,
      'use the debug file made from this very binary');
  }
  let merged: ElfSymbol[] | undefined;
  const strippedDynsym = (): ElfSymbol[] =>
    stripped.dynamicSymbols().filter((s, index) => index > 0 && s.type !== 'section' && s.type !== 'file');
  const symbols = (): ElfSymbol[] => {
    merged ??= mergeSymbolTables(debug.symbols().filter((s) => s.table === 'symtab'), strippedDynsym());
    return merged;
  };
  // A screened lookup before the whole table is needed: screen both files' names, merge only those. (A stripped
  // file's own symbolsMatching is its screened .dynsym; one that still has a .symtab is screened here instead.)
  const symbolsMatching = (screen: NameScreen): ElfSymbol[] => {
    if (merged || !debug.symbolsMatching || !stripped.symbolsMatching) return symbols();
    const fromDebug = debug.symbolsMatching(screen).filter((s) => s.table === 'symtab');
    const fromStripped = stripped.hasSymtab ? strippedDynsym().filter((s) => screen.loose.test(s.name)) : stripped.symbolsMatching(screen);
    return mergeSymbolTables(fromDebug, fromStripped);
  };
  // The debug file's .symtab names an address; the stripped file's .dynsym only where it does not.
  const symbolsHolding = (addresses: readonly bigint[]): ElfSymbol[][] => {
    const fromDebug = debug.symbolsHolding?.(addresses) ?? addresses.map(() => []);
    const missing = addresses.filter((_, i) => fromDebug[i]!.length === 0);
    if (missing.length === 0 || !stripped.symbolsHolding) return fromDebug;
    const fromStripped = stripped.symbolsHolding(missing);
    let next = 0;
    return fromDebug.map((found) => (found.length > 0 ? found : fromStripped[next++]!));
  };
  return {
    path: stripped.path,
    type: stripped.type,
    machine: stripped.machine,
    entry: stripped.entry,
    segments: stripped.segments,
    sections: stripped.sections,
    ...(stripped.buildId !== undefined ? { buildId: stripped.buildId } : {}),
    ...(stripped.debugLink !== undefined ? { debugLink: stripped.debugLink } : {}),
    hasSymtab: debug.hasSymtab || stripped.hasSymtab,
    debugFile: debug.path,
    symbols,
    symbolsMatching,
    symbolsHolding,
    dynamicSymbols: () => stripped.dynamicSymbols(),
    dynamic: () => stripped.dynamic(),
    relocations: () => stripped.relocations(),
    readVirtual: (vaddr, size) => stripped.readVirtual(vaddr, size),
    readSection: (section) => stripped.readSection(section),
  };
}
