// A function's prototype as C text, from its DIE: return type, parameter names and types, and the struct, union, enum
// and typedef declarations that text needs, so a patch can be written against the program's own types.
//
// Types are printed with C's declarator rules (a pointer to a function is `int (*)(int)`, a const pointer
// `char *const`), as gdb's ptype prints them. Declarations are gathered as far as they are needed: a type used by
// value (a parameter, a member, an array element) needs its full definition; one reached only through a pointer
// needs only `struct x;`. Definitions come out in an order a compiler accepts (what a definition uses, first).
import * as C from './constants.js';
import type { DebugInfo, Die, Unit } from './units.js';

export interface PrototypeParameter {
  /** DW_AT_name; absent for an unnamed parameter. */
  name?: string;
  /** The parameter's type as C text (`const struct point *`). */
  type: string;
}

export interface Prototype {
  name: string;
  /** The compilation unit's DW_AT_name (tells apart static functions of one name in several files). */
  unit?: string;
  /** DW_AT_external: false for a static function. */
  external: boolean;
  declLine?: number;
  returnType: string;
  parameters: PrototypeParameter[];
  /** Ends with `...`. */
  variadic: boolean;
  /** Declared with a parameter list (false for an old-style `int f()`). */
  prototyped: boolean;
  /** The function's type as gdb's `ptype` prints it: `int (struct point *, int)`. */
  signature: string;
  /**
   * A declaration of `name` with this prototype, parameter names included: `int tick(int x)`; with `pointer`, a
   * pointer to such a function: `int (*name)(int x)`.
   */
  declare(name: string, pointer?: boolean): string;
  /** struct/union forward declarations, then enum/struct/union/typedef definitions, each a complete C declaration. */
  declarations: string[];
}

/** gcc's names of C's integer types, as gdb (and most people) write them. */
const BASE_NAMES: Record<string, string> = {
  'short int': 'short', 'short unsigned int': 'unsigned short', 'long int': 'long', 'long unsigned int': 'unsigned long',
  'long long int': 'long long', 'long long unsigned int': 'unsigned long long',
};

/** DIE reading the prototype code needs, over one DebugInfo. */
class TypePrinter {
  private readonly dies = new Map<number, Die | undefined>();
  private readonly kids = new Map<number, Die[]>();
  /** Definitions in the order emitted, keyed by their text's head (`struct point`, `typedef point_t`). */
  private readonly defined = new Map<string, string>();
  private readonly forward = new Set<string>();
  private readonly inProgress = new Set<number>();

  constructor(private readonly info: DebugInfo) {}

  die(offset: number | undefined, unit?: Unit): Die | undefined {
    if (offset === undefined) return undefined;
    if (!this.dies.has(offset)) this.dies.set(offset, this.info.readDie(offset, unit));
    return this.dies.get(offset);
  }

  /** The DIEs right under `die`, in order (their own subtrees skipped). */
  children(die: Die): Die[] {
    let list = this.kids.get(die.offset);
    if (list) return list;
    list = this.scan(die).kids;
    this.kids.set(die.offset, list);
    return list;
  }

  private scan(die: Die): { kids: Die[]; end: number } {
    const kids: Die[] = [];
    if (!die.hasChildren) return { kids, end: die.end };
    let pos = die.end;
    while (pos < die.unit.end) {
      const child = this.info.readDie(pos, die.unit);
      if (!child) return { kids, end: pos + 1 };
      kids.push(child);
      pos = child.hasChildren ? this.scan(child).end : child.end;
    }
    return { kids, end: pos };
  }

  typeOf(die: Die): Die | undefined {
    return this.die(this.info.ref(die, C.DW_AT_type));
  }

  name(die: Die): string | undefined {
    return this.info.string(die, C.DW_AT_name);
  }

  /** `inner` declared with type `t` (undefined: void), as C writes it: the declarator grows around the name. */
  declare(t: Die | undefined, inner: string): string {
    const join = (spec: string) => (inner === '' ? spec : `${spec} ${inner}`);
    if (!t) return join('void');
    switch (t.tag) {
      case C.DW_TAG_pointer_type: {
        const target = this.typeOf(t);
        const wrap = target && (target.tag === C.DW_TAG_array_type || target.tag === C.DW_TAG_subroutine_type);
        return this.declare(target, wrap ? `(*${inner})` : `*${inner}`);
      }
      case C.DW_TAG_const_type: case C.DW_TAG_volatile_type: case C.DW_TAG_restrict_type: case C.DW_TAG_atomic_type: {
        const q = t.tag === C.DW_TAG_const_type ? 'const' : t.tag === C.DW_TAG_volatile_type ? 'volatile' : t.tag === C.DW_TAG_restrict_type ? 'restrict' : '_Atomic';
        const target = this.typeOf(t);
        // A qualified pointer: the qualifier stands after its `*`; on anything else, before the type (gdb's way).
        if (target?.tag === C.DW_TAG_pointer_type) return this.declare(target, inner === '' ? q : `${q} ${inner}`);
        if (target?.tag === C.DW_TAG_subroutine_type) return this.declare(target, inner);
        return `${q} ${this.declare(target, inner)}`;
      }
      case C.DW_TAG_array_type: {
        const dims = this.children(t).filter((c) => c.tag === C.DW_TAG_subrange_type).map((s) => {
          const count = this.info.unsigned(s, C.DW_AT_count);
          const upper = this.info.unsigned(s, C.DW_AT_upper_bound);
          return count !== undefined ? `[${count}]` : upper !== undefined ? `[${upper + 1}]` : '[]';
        });
        return this.declare(this.typeOf(t), `${inner}${dims.length ? dims.join('') : '[]'}`);
      }
      case C.DW_TAG_subroutine_type:
        return this.declare(this.typeOf(t), `${inner}(${this.parameterList(t, false).text})`);
      default:
        return join(this.specifier(t));
    }
  }

  /** A parameter list: `int, char *`, `void` for none, `int, ...` when variadic; names included when asked. */
  parameterList(fn: Die, withNames: boolean): { text: string; parameters: PrototypeParameter[]; variadic: boolean } {
    const parameters: PrototypeParameter[] = [];
    let variadic = false;
    for (const c of this.children(fn)) {
      if (c.tag === C.DW_TAG_formal_parameter) parameters.push({ name: this.name(c), type: this.declare(this.typeOf(c), '') });
      else if (c.tag === C.DW_TAG_unspecified_parameters) variadic = true;
    }
    const prototyped = this.info.has(fn, C.DW_AT_prototyped);
    const params = this.children(fn).filter((c) => c.tag === C.DW_TAG_formal_parameter);
    const words = params.map((c) => this.declare(this.typeOf(c), withNames ? this.name(c) ?? '' : ''));
    if (variadic) words.push('...');
    const text = words.length ? words.join(', ') : prototyped ? 'void' : '';
    return { text, parameters, variadic };
  }

  /** The type's name as a specifier: `int`, `struct point`, `point_t`; an anonymous struct, union or enum whole. */
  specifier(t: Die): string {
    switch (t.tag) {
      case C.DW_TAG_structure_type: case C.DW_TAG_union_type: case C.DW_TAG_enumeration_type: {
        const keyword = t.tag === C.DW_TAG_structure_type ? 'struct' : t.tag === C.DW_TAG_union_type ? 'union' : 'enum';
        const name = this.name(t);
        return name === undefined ? this.body(t, keyword) : `${keyword} ${name}`;
      }
      case C.DW_TAG_base_type: {
        const name = this.name(t) ?? 'void';
        return BASE_NAMES[name] ?? name;
      }
      default:
        return this.name(t) ?? 'void';
    }
  }

  /** `struct x {…}` / `enum e {A, B = 5}`: members one a line, as gdb prints a definition. */
  body(t: Die, keyword: string): string {
    const name = this.name(t);
    const head = name === undefined ? keyword : `${keyword} ${name}`;
    if (this.info.has(t, C.DW_AT_declaration)) return head;
    if (t.tag === C.DW_TAG_enumeration_type) {
      let next = 0n;
      const items = this.children(t).filter((c) => c.tag === C.DW_TAG_enumerator).map((c) => {
        const value = this.constant(c);
        const text = value === next ? this.name(c)! : `${this.name(c)} = ${value}`;
        next = value + 1n;
        return text;
      });
      return `${head} {${items.join(', ')}}`;
    }
    const members = this.children(t).filter((c) => c.tag === C.DW_TAG_member).map((m) => {
      const bits = this.info.unsigned(m, C.DW_AT_bit_size);
      const text = this.declare(this.typeOf(m), this.name(m) ?? '');
      // A nested anonymous struct or union's own lines go one step further in.
      return `    ${(bits !== undefined ? `${text} : ${bits}` : text).split('\n').join('\n    ')};\n`;
    });
    return `${head} {\n${members.join('')}}`;
  }

  /** An enumerator's value (data forms are read as the compiler wrote them; sdata is signed). */
  private constant(die: Die): bigint {
    const i = die.names.indexOf(C.DW_AT_const_value);
    const v = i < 0 ? 0 : die.values[i];
    if (typeof v === 'number' || typeof v === 'bigint') return BigInt(v);
    return 0n;
  }

  /**
   * Gather what declaring something of type `t` needs; `complete`: its size must be known (used by value). Each
   * definition is added after what it uses.
   */
  need(t: Die | undefined, complete: boolean): void {
    if (!t) return;
    switch (t.tag) {
      case C.DW_TAG_pointer_type:
        return this.need(this.typeOf(t), false);
      case C.DW_TAG_const_type: case C.DW_TAG_volatile_type: case C.DW_TAG_restrict_type: case C.DW_TAG_atomic_type:
        return this.need(this.typeOf(t), complete);
      case C.DW_TAG_array_type:
        return this.need(this.typeOf(t), true);
      case C.DW_TAG_subroutine_type:
        this.need(this.typeOf(t), false);
        for (const c of this.children(t)) if (c.tag === C.DW_TAG_formal_parameter) this.need(this.typeOf(c), false);
        return;
      case C.DW_TAG_typedef: {
        const key = `typedef ${this.name(t)}`;
        const target = this.typeOf(t);
        if (this.defined.has(key)) {
          if (complete) this.need(target, true);
          return;
        }
        if (this.inProgress.has(t.offset)) return;
        this.inProgress.add(t.offset);
        this.need(target, complete);
        this.inProgress.delete(t.offset);
        this.defined.set(key, `typedef ${this.declare(target, this.name(t) ?? '')};`);
        return;
      }
      case C.DW_TAG_structure_type: case C.DW_TAG_union_type: case C.DW_TAG_enumeration_type: {
        const keyword = t.tag === C.DW_TAG_structure_type ? 'struct' : t.tag === C.DW_TAG_union_type ? 'union' : 'enum';
        const name = this.name(t);
        const members = () => {
          for (const m of this.children(t)) if (m.tag === C.DW_TAG_member) this.need(this.typeOf(m), true);
        };
        if (name === undefined) {
          // Printed whole where it is used: what its members need comes first.
          if (!this.inProgress.has(t.offset)) {
            this.inProgress.add(t.offset);
            members();
            this.inProgress.delete(t.offset);
          }
          return;
        }
        const key = `${keyword} ${name}`;
        if (this.defined.has(key)) return;
        if (keyword === 'enum') {
          this.defined.set(key, `${this.body(t, keyword)};`);
          return;
        }
        if (!complete || this.inProgress.has(t.offset) || this.info.has(t, C.DW_AT_declaration)) {
          this.forward.add(key);
          return;
        }
        this.inProgress.add(t.offset);
        members();
        this.inProgress.delete(t.offset);
        this.defined.set(key, `${this.body(t, keyword)};`);
        return;
      }
      default:
        return;
    }
  }

  declarations(): string[] {
    const forward = [...this.forward].filter((k) => !this.defined.has(k)).map((k) => `${k};`);
    return [...forward, ...this.defined.values()];
  }
}

/** The prototype of one subprogram DIE (a concrete out-of-line copy is read through its abstract origin). */
export function prototypeOf(info: DebugInfo, die: Die, unitName: string | undefined): Prototype {
  const printer = new TypePrinter(info);
  let fn = die;
  for (let i = 0; i < 8; i++) {
    const origin = info.ref(fn, C.DW_AT_abstract_origin) ?? info.ref(fn, C.DW_AT_specification);
    const next = origin === undefined ? undefined : printer.die(origin);
    if (!next || printer.name(fn) !== undefined && printer.children(fn).some((c) => c.tag === C.DW_TAG_formal_parameter && printer.name(c) !== undefined)) break;
    fn = next;
  }
  const name = printer.name(fn) ?? printer.name(die) ?? '??';
  const ret = printer.typeOf(fn);
  const list = printer.parameterList(fn, false);
  printer.need(ret, false);
  for (const c of printer.children(fn)) if (c.tag === C.DW_TAG_formal_parameter) printer.need(printer.typeOf(c), true);
  const prototyped = info.has(fn, C.DW_AT_prototyped);
  const named = printer.parameterList(fn, true).text;
  return {
    name,
    unit: unitName,
    external: info.has(fn, C.DW_AT_external) || info.has(die, C.DW_AT_external),
    declLine: info.unsigned(fn, C.DW_AT_decl_line),
    returnType: printer.declare(ret, ''),
    parameters: list.parameters,
    variadic: list.variadic,
    prototyped,
    signature: printer.declare(ret, `(${list.text})`),
    declare: (n, pointer) => printer.declare(ret, `${pointer ? `(*${n})` : n}(${named})`),
    declarations: printer.declarations(),
  };
}

/**
 * Every defining subprogram DIE named `name` at a unit's top level (with `unitMatches`, only in units it accepts), a
 * declaration only where no unit defines it; abstract instances (inlined functions) count, their concrete copies are
 * read through them.
 */
export function findPrototypes(info: DebugInfo, name: string, unitMatches?: (unitName: string | undefined) => boolean): Prototype[] {
  const found: { die: Die; unit: string | undefined; declaration: boolean }[] = [];
  for (const unit of info.units()) {
    const unitName = info.unitInfo(unit).name;
    if (unitMatches && !unitMatches(unitName)) continue;
    info.walk(unit, (tag) => tag === C.DW_TAG_subprogram || tag === C.DW_TAG_compile_unit || tag === C.DW_TAG_partial_unit, (die, depth) => {
      if (depth === 0) return;
      if (die.tag === C.DW_TAG_subprogram && info.string(die, C.DW_AT_name) === name) {
        found.push({ die, unit: unitName, declaration: info.has(die, C.DW_AT_declaration) });
      }
      return true; // skip children: nested functions are not C
    });
  }
  const defining = found.filter((f) => !f.declaration);
  const chosen = defining.length ? defining : found.slice(0, 1);
  return chosen.map((f) => prototypeOf(info, f.die, f.unit));
}
