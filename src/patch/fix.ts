// patch FUNC: a fix written in plain C, compiled with the system's compiler, its references to the program bound by
// themselves, loaded and redirected to in one command; and the template such a fix starts from.
//
// The steps are the stage-by-stage ones (load, redirect) with what a person did by hand done here: the compile
// (`$CC`, else `cc`), the weak declarations of everything the dynamic linker cannot find (objcopy --weaken-symbol on
// the object, so the author writes `extern int count;`), the choice among same-named statics (the function's own
// source file first), and the hp_orig_ pointer's declaration when the author calls it without one. Nothing reaches
// the target before the compile and the binding plan succeeded; a later failure takes out what got in.
import { childProcess, crypto } from '../builtins.js';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stateDir } from '../paths.js';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import { openElf } from '../elf/reader.js';
import type { ElfFile } from '../elf/types.js';
import { openDwarf, type Prototype } from '../dwarf/index.js';
import { spellingFor } from '../symbols/resolve.js';
import type { Module, RuntimeSymbol } from '../symbols/types.js';
import type { PatchContext } from './context.js';
import { loadLibrary, unloadLibrary, type LoadOutcome } from './loader.js';
import { declarationsFor, definedIn, insertionPoint, splitTopLevel, withDeclarations } from './origdecl.js';
import { redirect, type RedirectOutcome } from './redirect.js';
import { loadRecord, type PatchEntry } from './record.js';

export interface FixOptions {
  method: 'dlopen' | 'map';
  /** --bind SYM=WHERE: the user's choice for a reference, before any rule of ours. */
  binds: Map<string, string>;
  /** --proto 'int (int)': the prototype when the program has no debug info for the function. */
  proto?: string;
  force: boolean;
  timeoutMs: number;
  /** CC, OBJCOPY, PATH, XDG_STATE_HOME, HOME are read from here (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
}

/** One reference of the fix and where it goes. */
export interface FixBinding {
  name: string;
  /** How it was bound: `hotpatch` (the slot written by us) or `ld.so`. */
  by: 'hotpatch' | 'ld.so';
  to: string;
  /** Why there: `--bind`, `static of shapes.c`, `global of the program`, `library libc.so.6`, `the only definition (not exported)`. */
  rule: string;
}

export interface FixOutcome {
  source: string;
  hash: string;
  library: string;
  compile: string[][];
  bindings: FixBinding[];
  load: LoadOutcome;
  redirect: RedirectOutcome;
  steps: string[];
}

/** $XDG_STATE_HOME/hotpatch/fixes (default ~/.local/state/hotpatch/fixes): templates, and under build/ what they compile to. */
export function fixesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'fixes');
}

/** The function a fix replaces: its symbol, module, source file (for a static, where its siblings live) and prototype. */
interface FixTarget {
  text: string;
  sym: RuntimeSymbol;
  module: Module;
  /** Base name of its source file, when known (the symbol table's for a static, the line table's otherwise). */
  file?: string;
  prototype?: Prototype;
  /** Where the prototype came from: the debug info, or --proto. */
  protoFrom?: 'dwarf' | 'user';
}

async function fixTarget(session: PatchContext, text: string, proto: string | undefined): Promise<FixTarget> {
  const r = await session.resolve(text);
  const sym = r.symbol;
  if (!sym || sym.address !== r.address || (sym.type !== 'func' && sym.type !== 'ifunc')) {
    throw new HotpatchError('E_NOT_FUNCTION', `${r.description} is not the start of a function`, 'name a function (e.g. tick, counter.c:tick)');
  }
  const space = session.space();
  const module = space.modules.find((m) => m.name === sym.module && m.start <= sym.address && sym.address < m.end) ?? space.modules.find((m) => m.name === sym.module)!;
  const elf = space.elfOf(module);
  let file = sym.file === undefined ? undefined : basename(sym.file);
  let prototype: Prototype | undefined;
  if (elf) {
    try {
      const dwarf = openDwarf(elf);
      file ??= ((f) => f && basename(f))(dwarf.lineFor(sym.address - module.loadBias)?.file);
      const found = dwarf.prototypes(sym.name, sym.bind === 'local' ? file : undefined);
      prototype = found.find((p) => p.external === (sym.bind !== 'local')) ?? found[0];
    } catch {
      // damaged or missing DWARF: no prototype, the user's --proto or none
    }
  }
  if (proto !== undefined) return { text, sym, module, file, prototype: parseProto(proto, sym.name), protoFrom: 'user' };
  return { text, sym, module, file, prototype, protoFrom: prototype ? 'dwarf' : undefined };
}

/**
 * `int (int)`, `const char *(struct shape *, int)`, and a function returning a pointer to a function or an array as
 * gdb's ptype prints it, `void (*(int, char *))(int)`, `int (*(void))[3]`: a function type as the user types it, to a
 * Prototype. Anything else is one E_USAGE line.
 */
export function parseProto(text: string, name: string): Prototype {
  const refuse = (why: string) => new HotpatchError('E_USAGE', `--proto "${text}" is not a function type hotpatch can read: ${why}`,
    "write it as gdb's ptype prints it: --proto 'int (int)', or 'void (*(int))(int)' for one returning a pointer to a function");
  const t = text.trim();
  // The declarator suffix: the last (…) group, or […] bounds after a pointer-returning function.
  let suffixStart = t.length;
  while (suffixStart > 0 && t[suffixStart - 1] === ']') {
    const open = t.lastIndexOf('[', suffixStart - 1);
    if (open < 0) throw refuse('an unmatched ]');
    suffixStart = open;
  }
  const last = suffixStart === t.length ? groupBefore(t, t.length) : undefined;
  if (suffixStart === t.length && last === undefined) throw refuse('no parameter list in parentheses');
  const headEnd = last ? last.open : suffixStart;
  const head = t.slice(0, headEnd).trimEnd();
  const suffix = t.slice(headEnd);
  let ret: string;
  let params: string;
  let declare: (inner: string, list: string) => string;
  if (!head.includes('(') && !head.includes(')')) {
    if (!last) throw refuse('no parameter list in parentheses');
    if (head === '') throw refuse('no return type');
    ret = head;
    params = last.inner;
    declare = (inner, list) => `${ret}${ret.endsWith('*') ? '' : ' '}${inner}(${list.trim() === '' ? 'void' : list})`;
  } else {
    // RET (*(PARAMS))SUFFIX: the function returns a pointer to SUFFIX's function or array type.
    const g = head.endsWith(')') ? groupBefore(head, head.length) : undefined;
    const m = g && /^\s*\*\s*\((.*)\)\s*$/s.exec(g.inner);
    const base = g ? head.slice(0, g.open).trim() : '';
    if (!g || !m || base === '' || /[()]/.test(base) || /[()]/.test(m[1]!.replace(/\([^()]*\)/g, ''))) throw refuse('only a plain return type, or a pointer to a function or array, is understood');
    params = m[1]!;
    ret = `${base} (*)${suffix}`;
    declare = (inner, list) => `${base} (*${inner}(${list.trim() === '' ? 'void' : list}))${suffix}`;
  }
  const types = params.trim() === '' || params.trim() === 'void' ? [] : splitTopLevel(params).map((p) => p.trim());
  const parameters = types.filter((p) => p !== '...').map((type, i) => ({ type, name: `arg${i}` }));
  // The function itself is declared with its parameters named (arg0, arg1…), as its definition in a template needs.
  const named = types.length === 0 ? 'void' : types.map((type, i) => (type === '...' ? type : nameParameter(type, `arg${i}`))).join(', ');
  return {
    name, external: true, returnType: ret, parameters,
    variadic: /\.\.\.\s*$/.test(params), prototyped: true, signature: text.trim(),
    declare: (n, pointer) => (pointer ? declare(`(*${n})`, params) : declare(n, named)),
    declarations: [],
  };
}

/** A parameter's type with a name put where C wants it: `int x`, `char *x`, `int (*x)(int)`, `int x[3]`. */
function nameParameter(type: string, name: string): string {
  if (/\(\s*\*\s*\)/.test(type)) return type.replace(/\(\s*\*\s*\)/, `(*${name})`);
  const bracket = type.indexOf('[');
  if (bracket > 0) return `${type.slice(0, bracket).trimEnd()} ${name}${type.slice(bracket)}`;
  return type.endsWith('*') ? `${type}${name}` : `${type} ${name}`;
}

/** The parenthesised group that ends just before `end` (at `)`): where it opens and what it holds. */
function groupBefore(text: string, end: number): { open: number; inner: string } | undefined {
  if (text[end - 1] !== ')') return undefined;
  let depth = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (text[i] === ')') depth++;
    else if (text[i] === '(' && --depth === 0) return { open: i, inner: text.slice(i + 1, end - 1) };
  }
  return undefined;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A program run to its end, its output kept; ENOENT (no such program) as E_NO_COMPILER. */
function run(argv: string[], env: NodeJS.ProcessEnv, what: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    childProcess().execFile(argv[0], argv.slice(1), { env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e && (e.code === 'ENOENT' || e.code === 'EACCES')) {
        reject(new HotpatchError('E_NO_COMPILER', `no ${what} to build the fix: ${argv[0]} ${e.code === 'ENOENT' ? 'was not found' : 'cannot be run'}${what === 'C compiler' && env.PATH !== undefined && !argv[0].includes('/') ? ' on the PATH' : ''}`));
        return;
      }
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** `file.c:12:5: error: …` (the compiler's first error), else its first line of output. */
export function firstCompileError(output: string): string {
  const lines = output.split('\n');
  const error = lines.find((l) => /^[^:\s][^:]*:\d+(:\d+)?: (fatal )?error: /.test(l));
  return (error ?? lines.find((l) => l.trim() !== '') ?? 'the compiler failed without a message').trim();
}

/** What every gcc-built library references for its own start-up and exit: not the fix's references. */
const CRT_REFERENCES = new Set(['__cxa_finalize', '_ITM_registerTMCloneTable', '_ITM_deregisterTMCloneTable', '__gmon_start__']);

/** The words of $CC (it may carry flags: `gcc -m64`), else cc. */
function compilerOf(env: NodeJS.ProcessEnv): string[] {
  const words = (env.CC ?? '').trim().split(/\s+/).filter((w) => w !== '');
  return words.length ? words : ['cc'];
}

/** The undefined symbols an object file references (relocatable: its .symtab). */
function undefinedOf(elf: ElfFile): string[] {
  const names = new Set<string>();
  for (const s of elf.symbols()) if (!s.defined && s.name !== '' && s.name !== '_GLOBAL_OFFSET_TABLE_') names.add(s.name);
  return [...names];
}

/**
 * Where each undefined reference of the fix goes. A static of the function's own source file (in its module) comes
 * first, then what the dynamic linker would bind (the executable's and the libraries' exports, in load order); the rest
 * is left to the binder, which takes the one definition anywhere or lists the spellings of several. Every reference
 * the dynamic linker cannot bind is made weak in the object, so dlopen loads it and hotpatch fills its slot.
 */
function planReferences(session: PatchContext, t: FixTarget, names: string[], userBinds: Map<string, string>): { binds: Map<string, string>; weaken: string[]; rules: Map<string, string> } {
  const space = session.space();
  const naming = session.naming(space);
  const binds = new Map(userBinds);
  const weaken: string[] = [];
  const rules = new Map<string, string>();
  for (const name of names) {
    if (userBinds.has(name)) {
      weaken.push(name);
      rules.set(name, '--bind');
      continue;
    }
    const own = t.file === undefined ? [] : space.names.lookup(name, { module: t.module.name, file: t.file, within: t.module }).filter((s) => s.bind === 'local');
    const places = [...new Map(own.map((s) => [s.address, s])).values()];
    if (places.length === 1) {
      binds.set(name, spellingFor(places[0], naming));
      weaken.push(name);
      rules.set(name, `static of ${t.file}`);
      continue;
    }
    const all = space.names.lookup(name);
    const exported = session.linkerChoice(all, space);
    if (exported) {
      rules.set(name, exported.module === space.main?.name ? 'global of the program' : `library ${exported.module}`);
      continue;
    }
    if (all.length > 0 || space.threadLocals(name).length > 0) {
      weaken.push(name);
      // Not exported: the binder takes the one definition there is (or lists the spellings of several).
      const one = all.length === 1 ? all[0] : undefined;
      rules.set(name, one?.bind === 'local' ? `static of ${one.file ? basename(one.file) : one.module}, the only one` : 'the only definition (not exported)');
    }
  }
  return { binds, weaken, rules };
}

/** A fix's stem: program and function (and, for a static, its file): `shapes-shapes_b.c-step`. */
function stemFor(session: PatchContext, t: FixTarget): string {
  const prog = session.space().main?.name ?? 'program';
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.+-]/g, '_');
  return safe(t.sym.bind === 'local' && t.file ? `${prog}-${t.file}-${t.sym.name}` : `${prog}-${t.sym.name}`);
}

/** The function of the compiled fix that replaces `name`: one of that name, else fix_NAME, else its one global function. */
function newFunction(elf: ElfFile, name: string, so: string) {
  const funcs = elf.symbols().filter((s) => s.defined && s.type === 'func' && s.value !== 0n);
  const pick = funcs.find((s) => s.name === name && s.bind !== 'local') ?? funcs.find((s) => s.name === name) ?? funcs.find((s) => s.name === `fix_${name}`);
  if (pick) return pick;
  const globals = funcs.filter((s) => s.bind !== 'local' && !s.name.startsWith('_'));
  if (globals.length === 1) return globals[0];
  throw new HotpatchError('E_FIX_FUNCTION', `${basename(so)} defines no function ${name} (nor fix_${name})${globals.length ? `; it defines ${globals.map((s) => s.name).join(', ')}` : ''}`);
}

/** hp_orig_NAME, when the fix calls it without declaring it (and a prototype is known to declare it with). */
function undeclaredOrig(source: string, t: FixTarget): string | undefined {
  const orig = `hp_orig_${t.sym.name}`;
  if (!new RegExp(`\\b${orig}\\b`).test(source) || !t.prototype) return undefined;
  const declared = new RegExp(`\\(\\s*\\*\\s*${orig}\\s*\\)|\\b${orig}\\s*[;=\\[]`).test(source);
  return declared ? undefined : orig;
}

/**
 * The fix as compiled when it calls hp_orig_NAME undeclared: a copy with the declaration (and the types it needs,
 * less those the fix defines, its includes counted: `cc -E` says) before the first top-level definition using it.
 */
async function withOrigDeclared(text: string, source: string, orig: string, t: FixTarget, cc: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const p = t.prototype!;
  const pre = await run([...cc, '-E', '-iquote', dirname(source), source], env, 'C compiler');
  // A fix the preprocessor rejects is reported by the compile itself; its own text is read meanwhile.
  const own = definedIn(pre.code === 0 ? pre.stdout : text);
  const decls = declarationsFor(p.declarations, own);
  const insert = [`/* hotpatch: the fix calls ${orig} without declaring it; the original's prototype (${t.protoFrom === 'user' ? '--proto' : 'debug info'}). */`, ...decls, `${p.declare(orig, true)};`].join('\n');
  return withDeclarations(text, insertionPoint(text, orig) ?? 0, insert, source);
}

/**
 * patch FUNC --from FILE.c: compile, bind, load, redirect. The compile and the binding plan come first and touch
 * nothing; the load and the redirect are the usual ones; a redirect that fails takes the library out again.
 */
export async function applyFix(session: PatchContext, funcText: string, sourcePath: string, opts: FixOptions): Promise<FixOutcome> {
  const env = opts.env ?? process.env;
  const source = resolvePath(sourcePath);
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch {
    throw new HotpatchError('ENOENT', `no such file: ${sourcePath}`, 'give the path of the fix, a .c file (patch FUNC without --from writes one)');
  }
  const hash = sha256(text).slice(0, 12);
  const t = await fixTarget(session, funcText, opts.proto);
  const record = loadRecord(session);
  const build = join(fixesDir(env), 'build');
  mkdirSync(build, { recursive: true, mode: 0o700 });
  const base = `${stemFor(session, t)}.${hash}`;
  let stem = base;
  for (let n = 2; record.libraries.some((l) => l.path === join(build, `${stem}.so`)); n++) stem = `${base}.${n}`;
  const object = join(build, `${stem}.o`);
  const so = join(build, `${stem}.so`);
  const log = join(build, `${stem}.log`);
  const cc = compilerOf(env);
  const commands: string[][] = [];
  const steps: string[] = [];
  const orig = undeclaredOrig(text, t);
  const copy = join(build, `${stem}.c`);
  const cleanFiles = (all: boolean) => {
    for (const f of [object, copy, ...(all ? [so] : [])]) rmSync(f, { force: true });
  };
  try {
    if (orig) writeFileSync(copy, await withOrigDeclared(text, source, orig, t, cc, env));
    // Compiled to an object first: its undefined symbols say what to bind before anything is linked.
    const compile = [...cc, '-fPIC', '-O2', '-g', ...(orig ? ['-iquote', dirname(source), '-c', copy] : ['-c', source]), '-o', object];
    commands.push(compile);
    const c = await run(compile, env, 'C compiler');
    writeFileSync(log, `$ ${compile.join(' ')}\n${c.stdout}${c.stderr}`);
    if (c.code !== 0) {
      throw new HotpatchError('E_COMPILE', `${basename(cc[0])} rejected ${basename(source)}: ${firstCompileError(c.stderr || c.stdout)}`, `correct it and run patch again; nothing was loaded (whole output: ${log})`);
    }
    steps.push(orig
      ? `Compiled ${source} (sha256 ${hash}) with \`${compile.join(' ')}\`: a copy of it that declares ${orig} from the original's prototype (${t.protoFrom === 'user' ? '--proto' : 'debug info'}), since the fix calls it undeclared, just before the first definition that uses it, with the types it needs that the fix does not define itself; #line keeps the compiler's messages on the fix's own lines.`
      : `Compiled ${source} (sha256 ${hash}) with \`${compile.join(' ')}\`.`);
    const plan = planReferences(session, t, undefinedOf(openElf(object)), opts.binds);
    if (plan.weaken.length) {
      const objcopy = [(env.OBJCOPY ?? '').trim() || 'objcopy', ...plan.weaken.map((n) => `--weaken-symbol=${n}`), object];
      commands.push(objcopy);
      const w = await run(objcopy, env, 'objcopy');
      if (w.code !== 0) throw new HotpatchError('E_COMPILE', `objcopy failed on ${basename(object)}: ${firstCompileError(w.stderr)}`, 'nothing was loaded');
      steps.push(`Made ${plan.weaken.join(', ')} weak in the object (\`${objcopy.slice(0, 1).join(' ')} --weaken-symbol=…\`): the dynamic linker cannot see ${plan.weaken.length === 1 ? 'it' : 'them'}, so dlopen leaves ${plan.weaken.length === 1 ? 'it' : 'them'} 0 and hotpatch fills the slots.`);
    }
    // -Bsymbolic: the fix's references to its own functions (one may carry the original's name) stay inside it;
    // none goes through the program's exported definition, which the redirect sends back to the fix.
    const link = [...cc, '-shared', '-fPIC', '-O2', '-g', '-Wl,-Bsymbolic', object, '-o', so];
    commands.push(link);
    const l = await run(link, env, 'C compiler');
    writeFileSync(log, `\n$ ${link.join(' ')}\n${l.stdout}${l.stderr}`, { flag: 'a' });
    if (l.code !== 0) throw new HotpatchError('E_COMPILE', `linking ${basename(so)} failed: ${firstCompileError(l.stderr || l.stdout)}`, `nothing was loaded (whole output: ${log})`);
    steps.push(`Linked it into ${so} with \`${link.join(' ')}\`: calls inside the fix to its own functions bind inside it (-Bsymbolic).`);
    const soElf = openElf(so);
    const fn = newFunction(soElf, t.sym.name, so);

    const load = await loadLibrary(session, so, { method: opts.method, binds: plan.binds, force: opts.force, init: false, timeoutMs: opts.timeoutMs });
    const lib = load.library;
    const bindings: FixBinding[] = lib.bindings.filter((b) => !CRT_REFERENCES.has(b.name)).map((b) => ({ name: b.name, by: b.hidden || opts.method === 'map' ? 'hotpatch' : 'ld.so', to: b.description, rule: plan.rules.get(b.name) ?? 'exported' }));
    steps.push(...load.steps);
    if (bindings.length) {
      steps.push(`The binding table, each reference the fix leaves undefined and where it went: ${bindings.map((b) => `${b.name} -> ${b.to} (${b.by}: ${b.rule})`).join('; ')}. The order of the rules: --bind, a static of the function's own source file, a global of the program or a library as the dynamic linker would bind it, else the only definition anywhere.`);
    }
    let out: RedirectOutcome;
    try {
      const address = lib.loadBias + fn.value;
      const sym = session.symbolize(address).symbol;
      const toText = sym && sym.address === address ? spellingFor(sym, session.naming()) : hex(address);
      // The original as resolved before the load, spelled so the fix's function (often of the same name, now loaded)
      // cannot make it ambiguous.
      const fromText = spellingFor(t.sym, session.naming());
      out = await redirect(session, fromText, toText, { force: opts.force, got: false, fix: { source, hash, library: so } });
    } catch (err) {
      // The library goes again: the target is left as it was found.
      await unloadLibrary(session, so).catch(() => undefined);
      throw err;
    }
    steps.push(...out.steps);
    cleanFiles(false);
    return { source, hash, library: so, compile: commands, bindings, load, redirect: out, steps };
  } catch (err) {
    cleanFiles(true);
    throw toHotpatchError(err);
  }
}

/**
 * After a revert: the libraries of reverted fixes that no patch uses any more are unloaded, and their files removed
 * (the fix's source and its log stay).
 */
export async function unloadFixes(session: PatchContext, reverted: readonly PatchEntry[]): Promise<string[]> {
  const done: string[] = [];
  const record = loadRecord(session);
  for (const lib of new Set(reverted.map((p) => p.fix?.library).filter((l): l is string => l !== undefined))) {
    if (record.patches.some((p) => p.library === lib || p.fix?.library === lib)) continue;
    if (!record.libraries.some((l) => l.path === lib)) continue;
    await unloadLibrary(session, lib);
    rmSync(lib, { force: true });
    done.push(lib);
  }
  return done;
}

/** Fixes applied, for `patches`: the fix's source base name and hash, per patch id. */
export function fixLabel(p: PatchEntry): string {
  return p.fix ? `${basename(p.fix.source)} ${p.fix.hash}` : '-';
}


export interface TemplateOutcome {
  path: string;
  /** The file was there already (kept as it was: it may hold a fix being written). */
  existed: boolean;
  prototypeFrom: 'dwarf' | 'user' | 'none';
  /** sha256 of the template as written, when known: the file unchanged since is no fix yet. */
  untouched?: string;
}

/** Where the sha256 of a template as written is kept (beside what fixes compile to, not among the fixes). */
const untouchedFile = (env: NodeJS.ProcessEnv, path: string) => join(fixesDir(env), 'build', `${basename(path)}.template`);

/** The sha256 of a text (a fix's source), in hex. */
export function sha256(text: string | Buffer): string {
  return crypto().createHash('sha256').update(text).digest('hex');
}

/**
 * patch FUNC without --from: a C file to write the fix in, under fixesDir(), named after program and function. It
 * holds the types and prototype of the original (from the debug info, else --proto, said in a comment), its
 * hp_orig_ pointer ready to call, and its machine code as it is now, as a comment. An existing file is kept.
 */
export async function writeFixTemplate(session: PatchContext, funcText: string, opts: { proto?: string; env?: NodeJS.ProcessEnv }): Promise<TemplateOutcome> {
  const env = opts.env ?? process.env;
  const t = await fixTarget(session, funcText, opts.proto);
  const dir = fixesDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${stemFor(session, t)}.c`);
  const from = t.protoFrom ?? 'none';
  try {
    readFileSync(path);
    let untouched: string | undefined;
    try {
      untouched = readFileSync(untouchedFile(env, path), 'utf8').trim() || undefined;
    } catch {
      // written by hand, or by a hotpatch that kept no record: every content counts as a fix
    }
    return { path, existed: true, prototypeFrom: from, untouched };
  } catch {
    // not there yet: written below
  }
  const name = t.sym.name;
  const p = t.prototype;
  const where = `${t.sym.bind === 'local' && t.file ? `${t.file}:` : ''}${name}`;
  const code = session.requireTarget().readMemory(t.sym.address, Math.min(Math.max(t.sym.size, 1), 4096) + 15);
  const decoded = await session.arch.disassemble(code, t.sym.address);
  const listing = decoded.filter((i) => i.address < t.sym.address + BigInt(Math.max(t.sym.size, 1)))
    .map((i) => ` *   ${session.describe(i.address).padEnd(24)} ${i.mnemonic} ${i.opStr}${i.target !== undefined ? `    ; ${session.describe(i.target)}` : ''}`.trimEnd());
  const params = p ? p.parameters.map((q, i) => q.name ?? `arg${i}`).join(', ') : '';
  const lines = [
    `/* A fix for ${where} in ${session.space().main?.name ?? 'the program'} (pid ${session.requireTarget().pid}), written by hotpatch.`,
    ' *',
    ` * Apply it with:  patch ${where} --from ${path}`,
    ' * It is compiled with $CC (else cc) -shared -fPIC -O2 -g. Write plain C: the program\'s functions and globals,',
    ` * static ones of ${t.file ?? 'its source file'} included, are bound by hotpatch when declared (extern int count;`,
    ' * int helper(int);), the function\'s own source file first. hp_orig_' + name + ' runs the original.',
    ' */',
    '',
  ];
  if (p && t.protoFrom === 'user') lines.push(`/* The program has no debug information for ${name}: this prototype is the one given with --proto '${opts.proto}'. */`);
  if (!p) lines.push(`/* No debug information for ${name}, and no --proto: write its prototype here (e.g. patch ${where} --proto 'int (int)'). */`);
  if (p) {
    if (p.declarations.length) lines.push('/* The types the prototype uses, as the program\'s debug information describes them. */', ...p.declarations, '');
    lines.push(`/* The original, as it was before this fix (a trampoline to its first instructions). */`, `${p.declare(`hp_orig_${name}`, true)};`, '');
    lines.push(`${p.declare(name)}`, '{');
    const call = `hp_orig_${name}(${p.variadic ? '/* the variadic arguments cannot be passed on */ ' : ''}${params})`;
    lines.push(p.returnType === 'void' ? `\t${call};` : `\treturn ${call};`, '}', '');
  } else {
    lines.push(`/* int (*hp_orig_${name})(int x); */`, '', `/* int ${name}(int x) { return hp_orig_${name}(x); } */`, '');
  }
  lines.push(`/* ${where} as it is now (${t.sym.size} bytes at ${hex(t.sym.address)}):`, ...listing, ' */', '');
  const written = lines.join('\n');
  writeFileSync(path, written);
  mkdirSync(join(dir, 'build'), { recursive: true, mode: 0o700 });
  writeFileSync(untouchedFile(env, path), `${sha256(written)}\n`);
  return { path, existed: false, prototypeFrom: from, untouched: sha256(written) };
}
