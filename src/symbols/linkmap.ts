// The dynamic linker's own list of loaded objects (DT_DEBUG → r_debug → link_map), read from the target: the load order.
import { DT_NULL, PT_DYNAMIC } from '../elf/constants.js';
import type { ElfFile } from '../elf/types.js';
import type { Module } from './types.js';

const DT_DEBUG = 21;
const DYNAMIC_ENTRY_BYTES = 16;
// The public layout of <link.h> on LP64: r_debug { int r_version; link_map *r_map; … } and
// link_map { l_addr; l_name; l_ld; l_next; l_prev }, every field 8 bytes wide and aligned.
const R_MAP_OFFSET = 8;
const LINK_MAP_BYTES = 40;
/** A chain longer than this is damaged (or being rewritten under us): real programs load a few hundred objects. */
const MAX_OBJECTS = 4096;
const MAX_NAME_BYTES = 4096;

export interface LinkMapEntry {
  /** l_addr: the object's load bias. */
  loadBias: bigint;
  /** l_name: the path the dynamic linker opened ('' for the executable, `linux-vdso.so.1` for the vDSO). */
  name: string;
  /** l_ld: the run-time address of the object's dynamic section. */
  dynamicAddress: bigint;
}

/** Reads what is readable at an address: a shorter buffer where the mapping ends. */
export type MemoryReader = (address: bigint, length: number) => Buffer;

/**
 * The objects in the order the dynamic linker loaded them. ld.so stores its r_debug's address in the executable's
 * DT_DEBUG entry, in memory only (the file keeps 0), so the dynamic section is read from the target. Undefined when
 * there is no list to read: a static program, one caught before ld.so ran, or memory that does not hold together.
 */
export function readLinkMap(main: Module, elf: ElfFile, read: MemoryReader): LinkMapEntry[] | undefined {
  const dynamic = elf.segments.find((s) => s.type === PT_DYNAMIC);
  if (!dynamic) return undefined;
  const bytes = read(dynamic.vaddr + main.loadBias, Number(dynamic.memsz));
  let rDebug = 0n;
  for (let at = 0; at + DYNAMIC_ENTRY_BYTES <= bytes.length; at += DYNAMIC_ENTRY_BYTES) {
    const tag = bytes.readBigUInt64LE(at);
    if (tag === BigInt(DT_NULL)) break;
    if (tag === BigInt(DT_DEBUG)) rDebug = bytes.readBigUInt64LE(at + 8);
  }
  if (rDebug === 0n) return undefined;
  const head = read(rDebug + BigInt(R_MAP_OFFSET), 8);
  if (head.length < 8) return undefined;

  const entries: LinkMapEntry[] = [];
  const seen = new Set<bigint>();
  for (let at = head.readBigUInt64LE(0); at !== 0n; ) {
    if (seen.has(at) || entries.length >= MAX_OBJECTS) return undefined;
    seen.add(at);
    const node = read(at, LINK_MAP_BYTES);
    if (node.length < LINK_MAP_BYTES) return undefined;
    const nameAt = node.readBigUInt64LE(8);
    entries.push({ loadBias: node.readBigUInt64LE(0), name: nameAt === 0n ? '' : readCString(read, nameAt), dynamicAddress: node.readBigUInt64LE(16) });
    at = node.readBigUInt64LE(24);
  }
  return entries;
}

function readCString(read: MemoryReader, address: bigint): string {
  const bytes = read(address, MAX_NAME_BYTES);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}
