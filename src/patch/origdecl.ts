// The declaration of hp_orig_FUNC for a fix that calls it without declaring it, placed where it compiles.
//
// The original's prototype may need types (struct point, point_t) the fix defines itself, or gets from a header it
// includes (FILE from stdio.h). Declared ahead of the whole fix (`-include`), those would be defined twice, or used
// before the fix defines them. So the declarations go into a copy of the fix, just before the top-level definition
// that first names hp_orig_FUNC, where the fix's own types are complete, and leave out every type the fix defines;
// `#line` keeps the compiler's messages on the user's file and lines.

/** What a C text defines at its top level: struct/union/enum tags (`struct point`) and typedef names (`point_t`). */
export function definedIn(text: string): Set<string> {
  const code = stripComments(text)
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');
  const found = new Set<string>();
  for (const m of code.matchAll(/\b(struct|union|enum)\s+([A-Za-z_]\w*)\s*(?:__attribute__\s*\(\([^)]*\)\)\s*)?\{/g)) found.add(`${m[1]} ${m[2]}`);
  for (const statement of typedefStatements(code)) for (const name of typedefNames(statement)) found.add(name);
  return found;
}

/** The key a declaration of the prototype defines or names forward: `struct point`, `point_t`; undefined otherwise. */
export function declarationKey(decl: string): { key: string; forward: boolean } | undefined {
  const tag = /^\s*(struct|union|enum)\s+([A-Za-z_]\w*)\s*(;|\{)/.exec(decl);
  if (tag) return { key: `${tag[1]} ${tag[2]}`, forward: tag[3] === ';' };
  if (/^\s*typedef\b/.test(decl)) {
    const names = typedefNames(decl.replace(/;\s*$/, ''));
    return names.length ? { key: names[names.length - 1]!, forward: false } : undefined;
  }
  return undefined;
}

/** The prototype's declarations less those the fix defines itself (forward declarations of tags stay: harmless). */
export function declarationsFor(declarations: readonly string[], fixDefines: ReadonlySet<string>): string[] {
  return declarations.filter((d) => {
    const k = declarationKey(d);
    return !k || k.forward || !fixDefines.has(k.key);
  });
}

/**
 * Where to put the declarations: the start of the top-level construct (function, declaration) in which `name` is
 * first used as a word, skipping comments, strings and preprocessor lines. Undefined when it is not used.
 */
export function insertionPoint(text: string, name: string): number | undefined {
  let depth = 0;
  let start = 0;
  let i = 0;
  const n = text.length;
  const atLineStart = (p: number) => {
    for (let k = p - 1; k >= 0 && text[k] !== '\n'; k--) if (text[k] !== ' ' && text[k] !== '\t') return false;
    return true;
  };
  while (i < n) {
    const c = text[i]!;
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < n && text[k] !== c && text[k] !== '\n') k += text[k] === '\\' ? 2 : 1;
      i = k + 1;
      continue;
    }
    if (c === '#' && depth === 0 && atLineStart(i)) {
      // A directive, continued lines included; what follows starts a new construct.
      let k = i;
      while (k < n && !(text[k] === '\n' && text[k - 1] !== '\\')) k++;
      i = k;
      start = i;
      continue;
    }
    if (c === '{' || c === '(' || c === '[') depth++;
    else if (c === '}' || c === ')' || c === ']') {
      depth = Math.max(0, depth - 1);
      if (depth === 0 && c === '}') start = i + 1;
    } else if (c === ';' && depth === 0) start = i + 1;
    else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_]\w*/.exec(text.slice(i, i + 256))!;
      if (m[0] === name) return start;
      i += m[0].length;
      continue;
    }
    i++;
  }
  return undefined;
}

/** `text` with `insert` placed at `at`, and #line directives that keep every original line's number and file. */
export function withDeclarations(text: string, at: number, insert: string, file: string): string {
  const line = text.slice(0, at).split('\n').length;
  const quoted = JSON.stringify(file);
  return `#line 1 ${quoted}\n${text.slice(0, at)}\n${insert}\n#line ${line} ${quoted}\n${text.slice(at)}`;
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/** Each `typedef …` statement at the top level, without its `;`. */
function typedefStatements(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/\btypedef\b/g)) {
    let depth = 0;
    let k = m.index!;
    for (; k < code.length; k++) {
      const c = code[k];
      if (c === '{' || c === '(') depth++;
      else if (c === '}' || c === ')') depth--;
      else if (c === ';' && depth === 0) break;
    }
    out.push(code.slice(m.index!, k));
  }
  return out;
}

/** The names a typedef statement declares: `typedef struct {…} pair_t, *pair_p` → pair_t, pair_p; `typedef int (*binop)(int, int)` → binop. */
function typedefNames(statement: string): string[] {
  // Bodies of structs and unions go: only the declarators after them matter.
  let s = statement;
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(/\{[^{}]*\}/g, ' ');
  }
  s = s.replace(/__attribute__\s*\(\([^)]*\)\)/g, ' ');
  const names: string[] = [];
  for (let part of splitTopLevel(s.replace(/^\s*typedef\b/, ''))) {
    // A pointer to a function or array, `(*binop)(int, int)`: the name is the one after the `*`.
    const inner = /\(\s*\*+\s*(?:const\s+|volatile\s+)*([A-Za-z_]\w*)\s*\)/.exec(part);
    if (inner) {
      names.push(inner[1]!);
      continue;
    }
    // Trailing parameter lists and array bounds: the name is the last word before them.
    for (let prev = ''; prev !== part; ) {
      prev = part;
      part = part.replace(/\s*(\([^()]*\)|\[[^\]]*\])\s*$/, '');
    }
    const words = part.match(/[A-Za-z_]\w*/g);
    if (words?.length) names.push(words[words.length - 1]!);
  }
  return names;
}

/** A C list split at the commas outside parentheses and brackets (`int (*)(int, int), char *`). */
export function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let k = 0; k < s.length; k++) {
    if (s[k] === '(' || s[k] === '[') depth++;
    else if (s[k] === ')' || s[k] === ']') depth--;
    else if (s[k] === ',' && depth === 0) {
      parts.push(s.slice(from, k));
      from = k + 1;
    }
  }
  parts.push(s.slice(from));
  return parts;
}
