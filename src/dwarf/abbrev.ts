// .debug_abbrev: the abbreviation tables that say which attributes, in which forms, each DIE carries.
//
// A table is parsed once per offset (units of one object file often share one). Each abbreviation also
// remembers the byte size of its attributes when every form is fixed-size, so a walk skips most DIEs
// with one addition instead of a loop over their attributes.
import { Cursor, type SectionData } from './cursor.js';
import { DW_FORM_implicit_const } from './constants.js';
import { fixedFormSize, isKnownForm, type FormContext } from './forms.js';

export interface Abbrev {
  code: number;
  tag: number;
  hasChildren: boolean;
  /** Attribute names and forms, in order. */
  names: number[];
  forms: number[];
  /** DW_FORM_implicit_const values, by attribute position (undefined for other forms). */
  consts: (bigint | undefined)[];
  /** Bytes of all attribute values for the context in `sizeKey`, or -1 when some form is variable-sized. */
  fixedSize: number;
  sizeKey: number;
}

export interface AbbrevTable {
  get(code: number): Abbrev | undefined;
}

/** Parses the table starting at `offset`. */
export function parseAbbrevTable(data: SectionData, offset: number): AbbrevTable {
  const cur = new Cursor(data, offset);
  const dense: (Abbrev | undefined)[] = [];
  const sparse = new Map<number, Abbrev>();
  for (;;) {
    const at = cur.pos;
    const code = cur.uleb();
    if (code === 0) break;
    const tag = cur.uleb();
    const hasChildren = cur.u8() !== 0;
    const names: number[] = [];
    const forms: number[] = [];
    const consts: (bigint | undefined)[] = [];
    for (;;) {
      const name = cur.uleb();
      const form = cur.uleb();
      if (name === 0 && form === 0) break;
      if (!isKnownForm(form)) throw cur.bad(`abbreviation ${code} uses unknown form 0x${form.toString(16)}`, at);
      names.push(name);
      forms.push(form);
      consts.push(form === DW_FORM_implicit_const ? cur.slebBig() : undefined);
    }
    const abbrev: Abbrev = { code, tag, hasChildren, names, forms, consts, fixedSize: -1, sizeKey: -1 };
    if (code < 0x10000) {
      if (dense[code]) throw cur.bad(`abbreviation code ${code} is defined twice`, at);
      dense[code] = abbrev;
    } else {
      if (sparse.has(code)) throw cur.bad(`abbreviation code ${code} is defined twice`, at);
      sparse.set(code, abbrev);
    }
  }
  return { get: (code) => (code < 0x10000 ? dense[code] : sparse.get(code)) };
}

/** The abbreviation's fixed attribute size for units of this shape (computed once per shape). */
export function fixedSizeOf(abbrev: Abbrev, ctx: FormContext): number {
  const key = ctx.version * 64 + ctx.addressSize * 2 + (ctx.is64 ? 1 : 0);
  if (abbrev.sizeKey !== key) {
    let total = 0;
    for (const form of abbrev.forms) {
      const size = fixedFormSize(form, ctx);
      if (size < 0) {
        total = -1;
        break;
      }
      total += size;
    }
    abbrev.fixedSize = total;
    abbrev.sizeKey = key;
  }
  return abbrev.fixedSize;
}
