// .debug_info: unit headers, DIEs read one at a time at any offset, walks over a unit, attribute values resolved.
//
// Nothing is read until asked: the unit list is the headers alone (one pass of length fields), a unit's
// root DIE is decoded on first use, and a walk decodes only the DIEs whose tag the caller wants, skipping
// the others by their abbreviation's size. So answering one question about a pc touches one unit of a
// several-megabyte .debug_info, not all of it. Values of strx/addrx/rnglistx forms are resolved through
// .debug_str_offsets/.debug_addr with the bases from the unit's root DIE (DWARF 5) when they are read.
import { Cursor, dwarfBad, stringAt, type SectionData } from './cursor.js';
import * as C from './constants.js';
import { parseAbbrevTable, fixedSizeOf, type AbbrevTable } from './abbrev.js';
import { readForm, skipForm, type FormContext, type RawValue } from './forms.js';
import { readRangeList, type AddressRange } from './ranges.js';
import type { SectionSet } from './sections.js';

export interface Unit extends FormContext {
  /** Offset of the unit header in .debug_info. */
  offset: number;
  /** Offset just past the unit. */
  end: number;
  unitType: number;
  abbrevOffset: number;
  /** Offset of the root DIE. */
  dieOffset: number;
}

export interface Die {
  offset: number;
  unit: Unit;
  tag: number;
  hasChildren: boolean;
  /** Offset just past the attribute values: the first child, or the next sibling when there are no children. */
  end: number;
  names: number[];
  forms: number[];
  values: RawValue[];
}

/** What the root DIE tells about the rest of its unit. */
export interface UnitInfo {
  root: Die;
  name?: string;
  compDir?: string;
  /** DW_AT_stmt_list: the unit's line program in .debug_line. */
  stmtList?: number;
  /** DW_AT_low_pc of the root: the base of range lists. */
  baseAddress: bigint;
  strOffsetsBase?: number;
  addrBase?: number;
  rnglistsBase?: number;
}

/** A visitor's answer: skip this DIE's children. */
export const SKIP_CHILDREN = true;

/** Nesting deeper than this is taken as damage (real trees stay under a few dozen levels). */
const MAX_DEPTH = 4096;

export class DebugInfo {
  readonly info: SectionData;
  private unitList?: Unit[];
  private readonly abbrevTables = new Map<number, AbbrevTable>();
  private readonly unitInfos = new Map<Unit, UnitInfo>();

  constructor(readonly sections: SectionSet, info: SectionData) {
    this.info = info;
  }

  get path(): string {
    return this.info.path;
  }

  /** Every unit's header, in section order. */
  units(): Unit[] {
    if (this.unitList) return this.unitList;
    const units: Unit[] = [];
    const cur = new Cursor(this.info);
    while (!cur.atEnd) {
      const offset = cur.pos;
      // Some linkers pad .debug_info with zeros after the last unit.
      if (cur.end - offset < 4 || this.info.bytes.readUInt32LE(offset) === 0) break;
      const { is64, end } = cur.initialLength(`the unit at 0x${offset.toString(16)}`);
      const version = cur.u16();
      if (version < 2 || version > 5) throw cur.bad(`unit at 0x${offset.toString(16)} has DWARF version ${version}, not 2 to 5`, offset);
      let unitType = C.DW_UT_compile;
      let addressSize: number;
      let abbrevOffset: number;
      if (version >= 5) {
        unitType = cur.u8();
        addressSize = cur.u8();
        abbrevOffset = cur.offset(is64);
        if (unitType === C.DW_UT_skeleton || unitType === C.DW_UT_split_compile) cur.skip(8);
        else if (unitType === C.DW_UT_type || unitType === C.DW_UT_split_type) cur.skip(8 + (is64 ? 8 : 4));
        else if (unitType !== C.DW_UT_compile && unitType !== C.DW_UT_partial) {
          throw cur.bad(`unit at 0x${offset.toString(16)} has unknown unit type ${unitType}`, offset);
        }
      } else {
        abbrevOffset = cur.offset(is64);
        addressSize = cur.u8();
      }
      if (addressSize !== 4 && addressSize !== 8) throw cur.bad(`unit at 0x${offset.toString(16)} has address size ${addressSize}`, offset);
      if (cur.pos > end) throw cur.bad(`unit at 0x${offset.toString(16)} is shorter than its header`, offset);
      units.push({ offset, end, version, unitType, addressSize, is64, abbrevOffset, dieOffset: cur.pos });
      cur.pos = end;
    }
    this.unitList = units;
    return units;
  }

  /** The unit that holds the DIE at `offset`. */
  unitAt(offset: number): Unit {
    const units = this.units();
    let lo = 0;
    let hi = units.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = units[mid];
      if (offset < u.offset) hi = mid - 1;
      else if (offset >= u.end) lo = mid + 1;
      else if (offset < u.dieOffset) break;
      else return u;
    }
    throw dwarfBad(this.path, this.info.name, offset, 'a DIE reference points outside every unit');
  }

  abbrevs(unit: Unit): AbbrevTable {
    let table = this.abbrevTables.get(unit.abbrevOffset);
    if (!table) {
      const abbrev = this.sections.get('.debug_abbrev');
      if (!abbrev) throw dwarfBad(this.path, this.info.name, unit.offset, 'there is no .debug_abbrev section');
      table = parseAbbrevTable(abbrev, unit.abbrevOffset);
      this.abbrevTables.set(unit.abbrevOffset, table);
    }
    return table;
  }

  /** The DIE at `offset` (in `unit` when the caller knows it), or undefined for a null entry. */
  readDie(offset: number, unit = this.unitAt(offset)): Die | undefined {
    const cur = new Cursor(this.info, offset, unit.end);
    return this.decodeDie(cur, unit, this.abbrevs(unit));
  }

  private decodeDie(cur: Cursor, unit: Unit, table: AbbrevTable): Die | undefined {
    const offset = cur.pos;
    const code = cur.uleb();
    if (code === 0) return undefined;
    const abbrev = table.get(code);
    if (!abbrev) throw cur.bad(`DIE uses abbreviation ${code}, which its table does not define`, offset);
    const values: RawValue[] = new Array(abbrev.forms.length);
    for (let i = 0; i < abbrev.forms.length; i++) values[i] = readForm(cur, abbrev.forms[i], unit, abbrev.consts[i]);
    return { offset, unit, tag: abbrev.tag, hasChildren: abbrev.hasChildren, end: cur.pos, names: abbrev.names, forms: abbrev.forms, values };
  }

  /** The root DIE's facts about its unit (bases for strx/addrx/rnglistx, line program, range base). */
  unitInfo(unit: Unit): UnitInfo {
    let info = this.unitInfos.get(unit);
    if (info) return info;
    const root = this.readDie(unit.dieOffset, unit);
    if (!root) throw dwarfBad(this.path, this.info.name, unit.dieOffset, 'the unit has no root DIE');
    info = { root, baseAddress: 0n };
    // The bases first: the root's own strx/addrx values need them.
    info.strOffsetsBase = numberValue(root, C.DW_AT_str_offsets_base);
    info.addrBase = numberValue(root, C.DW_AT_addr_base);
    info.rnglistsBase = numberValue(root, C.DW_AT_rnglists_base);
    this.unitInfos.set(unit, info);
    info.baseAddress = this.address(root, C.DW_AT_low_pc) ?? 0n;
    info.name = this.string(root, C.DW_AT_name);
    info.compDir = this.string(root, C.DW_AT_comp_dir);
    info.stmtList = numberValue(root, C.DW_AT_stmt_list);
    return info;
  }

  /**
   * Walks the DIEs of `unit` in order and calls `visit` for those whose tag `wants` (depth 0 is the root).
   * `visit` may answer SKIP_CHILDREN to leave that DIE's subtree unvisited.
   */
  walk(unit: Unit, wants: (tag: number) => boolean, visit: (die: Die, depth: number) => boolean | void): void {
    const table = this.abbrevs(unit);
    const cur = new Cursor(this.info, unit.dieOffset, unit.end);
    let depth = 0;
    // While skipping a subtree, visits are off until the depth comes back to skipDepth.
    let skipDepth = -1;
    while (cur.pos < unit.end) {
      const offset = cur.pos;
      const code = cur.uleb();
      if (code === 0) {
        depth--;
        if (depth < 0) {
          // Trailing padding after the root's children is harmless; anything else is not a tree.
          if (this.onlyZerosFrom(cur.pos, unit.end)) return;
          throw cur.bad('a null entry closes more DIEs than were opened', offset);
        }
        if (depth === skipDepth) skipDepth = -1;
        // The root's children are closed: what follows, if anything, is padding.
        if (depth === 0) return;
        continue;
      }
      const abbrev = table.get(code);
      if (!abbrev) throw cur.bad(`DIE uses abbreviation ${code}, which its table does not define`, offset);
      if (skipDepth < 0 && wants(abbrev.tag)) {
        cur.pos = offset;
        const die = this.decodeDie(cur, unit, table) as Die;
        if (visit(die, depth) === SKIP_CHILDREN && abbrev.hasChildren) {
          const sibling = refValue(die, C.DW_AT_sibling);
          if (sibling !== undefined && sibling > cur.pos && sibling <= unit.end) {
            cur.pos = sibling;
            continue;
          }
          skipDepth = depth;
        }
      } else {
        const size = fixedSizeOf(abbrev, unit);
        if (size >= 0) cur.skip(size);
        else for (const form of abbrev.forms) skipForm(cur, form, unit);
      }
      if (abbrev.hasChildren) {
        depth++;
        if (depth > MAX_DEPTH) throw cur.bad(`DIEs nest more than ${MAX_DEPTH} deep`, offset);
      } else if (depth === 0) {
        return;
      }
    }
  }

  private onlyZerosFrom(pos: number, end: number): boolean {
    const b = this.info.bytes;
    for (let i = pos; i < end; i++) if (b[i] !== 0) return false;
    return true;
  }

  // -----------------------------------------------------------------------------------------------------
  // attribute values

  string(die: Die, name: number): string | undefined {
    const i = die.names.indexOf(name);
    if (i < 0) return undefined;
    const value = die.values[i];
    const form = die.forms[i];
    if (typeof value === 'string') return value;
    if (typeof value !== 'number') return undefined;
    switch (form) {
      case C.DW_FORM_strp: return stringAt(this.need('.debug_str', die), value);
      case C.DW_FORM_line_strp: return stringAt(this.need('.debug_line_str', die), value);
      case C.DW_FORM_strx: case C.DW_FORM_strx1: case C.DW_FORM_strx2: case C.DW_FORM_strx3: case C.DW_FORM_strx4:
      case C.DW_FORM_GNU_str_index:
        return stringAt(this.need('.debug_str', die), this.stringOffset(die, value));
      default:
        // strp_sup and GNU_strp_alt name a supplementary (dwz) file this reader does not open.
        return undefined;
    }
  }

  private stringOffset(die: Die, index: number): number {
    const unit = die.unit;
    const offsets = this.need('.debug_str_offsets', die);
    const size = unit.is64 ? 8 : 4;
    // Without DW_AT_str_offsets_base, the first contribution's header (8 or 16 bytes) is assumed, as LLVM does.
    const base = this.unitInfo(unit).strOffsetsBase ?? (unit.is64 ? 16 : 8);
    const cur = new Cursor(offsets, base + index * size);
    return cur.offset(unit.is64);
  }

  address(die: Die, name: number): bigint | undefined {
    const i = die.names.indexOf(name);
    if (i < 0) return undefined;
    return this.addressValue(die, die.forms[i], die.values[i]);
  }

  private addressValue(die: Die, form: number, value: RawValue): bigint | undefined {
    if (form === C.DW_FORM_addr) return value as bigint;
    if (form === C.DW_FORM_addrx || form === C.DW_FORM_GNU_addr_index || (form >= C.DW_FORM_addrx1 && form <= C.DW_FORM_addrx4)) {
      return this.indexedAddress(die.unit, value as number);
    }
    return undefined;
  }

  /** Entry `index` of the unit's .debug_addr contribution. */
  indexedAddress(unit: Unit, index: number): bigint {
    const table = this.sections.get('.debug_addr');
    if (!table) throw dwarfBad(this.path, this.info.name, unit.offset, 'an indexed address needs .debug_addr, which is missing');
    const base = this.unitInfo(unit).addrBase ?? 8;
    return new Cursor(table, base + index * unit.addressSize).address(unit.addressSize);
  }

  /** An unsigned constant (numbers only; a value past 2^53 reads as undefined). */
  unsigned(die: Die, name: number): number | undefined {
    return numberValue(die, name);
  }

  has(die: Die, name: number): boolean {
    return die.names.includes(name);
  }

  /** The .debug_info offset a reference attribute points to (undefined for type signatures and dwz references). */
  ref(die: Die, name: number): number | undefined {
    return refValue(die, name);
  }

  /**
   * The DIE's code addresses: its range list, or [low_pc, high_pc); empty ranges are left out. (A unit's root may
   * have both: there low_pc is only the base of the list.)
   */
  ranges(die: Die): AddressRange[] {
    const low = die.names.includes(C.DW_AT_ranges) ? undefined : this.address(die, C.DW_AT_low_pc);
    if (low !== undefined) {
      const i = die.names.indexOf(C.DW_AT_high_pc);
      if (i < 0) return [];
      const form = die.forms[i];
      const value = die.values[i];
      // high_pc of constant class is an offset from low_pc (DWARF 4 and later); of address class, an address.
      const high = form === C.DW_FORM_addr || form === C.DW_FORM_addrx || (form >= C.DW_FORM_addrx1 && form <= C.DW_FORM_addrx4)
        ? this.addressValue(die, form, value)
        : typeof value === 'number' || typeof value === 'bigint' ? low + BigInt(value) : undefined;
      if (high === undefined) throw dwarfBad(this.path, this.info.name, die.offset, 'DW_AT_high_pc has an unusable form');
      return high > low ? [{ start: low, end: high }] : [];
    }
    const r = die.names.indexOf(C.DW_AT_ranges);
    if (r < 0) return [];
    const unit = die.unit;
    const info = this.unitInfo(unit);
    const form = die.forms[r];
    const value = die.values[r];
    if (typeof value !== 'number') throw dwarfBad(this.path, this.info.name, die.offset, 'DW_AT_ranges has an unusable form');
    const resolveIndex = (index: number) => this.indexedAddress(unit, index);
    if (unit.version >= 5) {
      const lists = this.need('.debug_rnglists', die);
      let offset = value;
      if (form === C.DW_FORM_rnglistx) {
        const base = info.rnglistsBase ?? (unit.is64 ? 20 : 12);
        offset = base + new Cursor(lists, base + value * (unit.is64 ? 8 : 4)).offset(unit.is64);
      }
      return readRangeList(lists, offset, 5, unit.addressSize, info.baseAddress, resolveIndex);
    }
    return readRangeList(this.need('.debug_ranges', die), value, 4, unit.addressSize, info.baseAddress, resolveIndex);
  }

  private need(name: string, die: Die): SectionData {
    const data = this.sections.get(name);
    if (!data) throw dwarfBad(this.path, this.info.name, die.offset, `the DIE needs ${name}, which is missing`);
    return data;
  }
}

function numberValue(die: Die, name: number): number | undefined {
  const i = die.names.indexOf(name);
  if (i < 0) return undefined;
  const v = die.values[i];
  return typeof v === 'number' ? v : undefined;
}

function refValue(die: Die, name: number): number | undefined {
  const i = die.names.indexOf(name);
  if (i < 0) return undefined;
  const v = die.values[i];
  if (typeof v !== 'number') return undefined;
  switch (die.forms[i]) {
    case C.DW_FORM_ref1: case C.DW_FORM_ref2: case C.DW_FORM_ref4: case C.DW_FORM_ref8: case C.DW_FORM_ref_udata:
      return die.unit.offset + v;
    case C.DW_FORM_ref_addr:
      return v;
    default:
      return undefined;
  }
}
