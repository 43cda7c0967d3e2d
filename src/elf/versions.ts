// GNU symbol versions: .gnu.version indexes resolved through the verdef and verneed records to names like GLIBC_2.2.5.
import { VER_FLG_BASE, VERSYM_HIDDEN } from './constants.js';
import type { VirtualImage } from './image.js';
import type { StringTable } from './symtab.js';

export interface VersionTables {
  versymAddr?: bigint;
  verdefAddr?: bigint;
  verdefCount: number;
  verneedAddr?: bigint;
  verneedCount: number;
}

/** Damaged records could chain forward a byte at a time; real files have a few hundred at most. */
const MAX_VERSION_RECORDS = 100_000;

function collectDefinitions(image: VirtualImage, names: StringTable, tables: VersionTables, out: Map<number, string>): void {
  if (tables.verdefAddr === undefined) return;
  let entry = tables.verdefAddr;
  for (let i = 0; i < Math.min(tables.verdefCount, MAX_VERSION_RECORDS); i++) {
    const record = image.read(entry, 20, 'version definition');
    const flags = record.readUInt16LE(2);
    const index = record.readUInt16LE(4);
    const auxCount = record.readUInt16LE(6);
    // The base definition names the file itself (its soname), not a version.
    if (auxCount > 0 && (flags & VER_FLG_BASE) === 0) {
      const aux = image.read(entry + BigInt(record.readUInt32LE(12)), 8, 'version definition name');
      out.set(index & 0x7fff, names.name(aux.readUInt32LE(0)));
    }
    const next = record.readUInt32LE(16);
    if (next === 0) break;
    entry += BigInt(next);
  }
}

function collectRequirements(image: VirtualImage, names: StringTable, tables: VersionTables, out: Map<number, string>): void {
  if (tables.verneedAddr === undefined) return;
  let budget = MAX_VERSION_RECORDS;
  let entry = tables.verneedAddr;
  for (let i = 0; i < tables.verneedCount && budget > 0; i++) {
    const record = image.read(entry, 16, 'version requirement');
    const auxCount = record.readUInt16LE(2);
    let auxAt = entry + BigInt(record.readUInt32LE(8));
    for (let j = 0; j < auxCount && budget-- > 0; j++) {
      const aux = image.read(auxAt, 16, 'version requirement entry');
      out.set(aux.readUInt16LE(6) & 0x7fff, names.name(aux.readUInt32LE(8)));
      const nextAux = aux.readUInt32LE(12);
      if (nextAux === 0) break;
      auxAt += BigInt(nextAux);
    }
    const next = record.readUInt32LE(12);
    if (next === 0) break;
    entry += BigInt(next);
  }
}

export interface SymbolVersions {
  /** The version name of the symbol at a dynsym index. */
  nameOf(index: number): string | undefined;
  /** Whether it is not the default version of its name (the VERSYM_HIDDEN bit). */
  isHidden(index: number): boolean;
}

/** Lookups from dynsym index to version, or undefined when the file has no version tables. */
export function readSymbolVersions(image: VirtualImage, names: StringTable, tables: VersionTables,
  symbolCount: number): SymbolVersions | undefined {
  if (tables.versymAddr === undefined || symbolCount === 0) return undefined;
  const versym = image.read(tables.versymAddr, symbolCount * 2, 'symbol version table');
  const versionNames = new Map<number, string>();
  collectDefinitions(image, names, tables, versionNames);
  collectRequirements(image, names, tables, versionNames);
  // Indexes 0 (local) and 1 (global, unversioned) carry no name.
  return {
    nameOf: (index) => versionNames.get(versym.readUInt16LE(index * 2) & 0x7fff),
    isHidden: (index) => (versym.readUInt16LE(index * 2) & VERSYM_HIDDEN) !== 0,
  };
}
