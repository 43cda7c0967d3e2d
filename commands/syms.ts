// syms: symbols of the executable and every loaded library, at their run-time addresses.
import { checkCancelled, type CommandSpec } from '../src/command.js';
import { hex } from '../src/result.js';
import { demangleAllAsync } from '../src/symbols/demangle.js';
import { inSlices } from '../src/slices.js';
import { resolveModuleName } from '../src/symbols/resolve.js';
import type { SymbolType } from '../src/elf/types.js';
import type { AddressSpace } from '../src/symbols/space.js';
import type { RuntimeSymbol, ThreadLocalSymbol } from '../src/symbols/types.js';
import { namePattern } from '../src/symbols/pattern.js';

export const syms: CommandSpec = {
  name: 'syms',
  aliases: ['symbols-list'],
  stage: 'explore',
  usage: 'syms [NAME|GLOB] [--module M] [--type func|object|tls] [--local]',
  summary: 'find functions and variables by name (locals too, with their source file)',
  why: 'a patch starts by finding the function to replace; static functions show their file so two of the same name can be told apart. ' +
    'A NAME lists the symbols of exactly that name first, then those whose name contains it; with * ? or [...] it is a glob over the whole name',
  args: [{ name: 'pattern', kind: 'symbol', optional: true, help: 'exact name first, then names containing it; with * ? [...]: a glob over the whole name' }],
  options: [
    { name: 'module', kind: 'string', valueName: 'M', help: 'only this module (basename, e.g. libc.so.6)' },
    { name: 'type', kind: 'string', values: ['func', 'object', 'tls'], help: 'only functions, variables, or thread-local variables' },
    { name: 'local', kind: 'flag', help: 'only local (static) symbols' },
  ],
  needsTarget: true,
  async run({ session, signal }, { args, options }) {
    const space = session.space();
    const module = options.module ? resolveModuleName(options.module as string, space.modules) : undefined;
    const pattern = (args.pattern as string | undefined) ?? '*';
    const filter = { type: options.type as SymbolType | undefined, localOnly: options.local === true };
    const { found: matched, threadLocals } = await findSymbols(space, pattern, filter, module, signal);
    // A word (no glob characters) lists its exact matches first, then the names that contain it.
    const asked = namePattern(pattern);
    const found = asked.glob ? matched : [...matched.filter((s) => asked.exact(s.name)), ...matched.filter((s) => !asked.exact(s.name))];
    if (!asked.glob) {
      threadLocals.sort((a, b) => Number(asked.exact(b.name)) - Number(asked.exact(a.name)));
    }
    const names = await demangleAllAsync(found.map((s) => s.name), signal, `syms ${pattern} cancelled`);
    // Made when asked for (--json, the console's data): a plain batch run prints the table alone, and node's
    // `*Heap*` makes 4,000 of these.
    const asData = (): object[] => [
      ...found.map((s) => ({
        name: s.name,
        demangled: names.get(s.name) !== s.name ? names.get(s.name) : undefined,
        address: hex(s.address),
        size: s.size,
        type: s.type,
        bind: s.bind,
        file: s.file,
        module: s.module,
      })),
      ...threadLocals.map((t) => ({
        name: t.name,
        tlsOffset: hex(t.offset),
        size: t.size,
        type: 'tls',
        bind: t.bind,
        file: t.file,
        module: t.module,
      })),
    ];
    let data: object[] | undefined;
    const total = found.length + threadLocals.length;
    return {
      get data() {
        return (data ??= asData());
      },
      blocks: [
        ...(total === 0 ? [] : [{
          type: 'table' as const,
          columns: ['address', 'size', 'type', 'bind', 'name', 'file', 'module'],
          rows: [
            ...found.map((s) => [hex(s.address), String(s.size), s.type, s.bind, names.get(s.name) ?? s.name, s.file ?? '', s.module]),
            ...threadLocals.map((t) => [`TLS+${hex(t.offset)}`, String(t.size), 'tls', t.bind, t.name, t.file ?? '', t.module]),
          ],
          alignRight: [1],
          // At a narrow width the name stays whole: bind, then size, then the file go first.
          optional: [3, 1, 5],
        }]),
        { type: 'text', text: countText(total, threadLocals.length, asked.glob ? undefined : [...found, ...threadLocals].filter((s) => asked.exact(s.name)).length, pattern), tone: 'dim' },
        ...(total === 0 ? [{ type: 'text' as const, text: nothingFound(space, (args.pattern as string | undefined) ?? '*', module, options.local === true), tone: 'dim' as const }] : []),
      ],
    };
  },
};

/** The symbols and thread-local variables matching `pattern`; in the console, in slices (Ctrl-C is heard). */
async function findSymbols(space: AddressSpace, pattern: string, filter: { type?: SymbolType; localOnly: boolean }, module: string | undefined,
  signal: AbortSignal | undefined): Promise<{ found: RuntimeSymbol[]; threadLocals: ThreadLocalSymbol[] }> {
  // Thread-local variables have an offset in their module's TLS block, not an address: listed after the others.
  const wantAddressed = filter.type !== 'tls';
  const wantThreadLocal = filter.type === undefined || filter.type === 'tls';
  let found: RuntimeSymbol[] = [];
  const threadLocals: ThreadLocalSymbol[] = [];
  if (!signal || module !== undefined) {
    if (wantAddressed) found = space.match(pattern, { ...filter, module });
    if (wantThreadLocal) threadLocals.push(...space.matchThreadLocals(pattern, { module, localOnly: filter.localOnly }));
  } else {
    // In the console, in slices with a look at Ctrl-C between them (node alone has 107k symbols).
    if (wantAddressed) found = await inSlices(space.matching(pattern, filter), signal, `syms ${pattern} cancelled`);
    for (const name of new Set(space.modules.map((m) => m.name))) {
      if (wantThreadLocal) threadLocals.push(...space.matchThreadLocals(pattern, { module: name, localOnly: filter.localOnly }));
      await checkCancelled(signal, `syms ${pattern} cancelled`);
    }
  }
  return { found, threadLocals };
}

/** `12 symbols (2 named tick, then 10 containing it)`; `exact` only for a word, not a glob. */
function countText(total: number, threadLocal: number, exact: number | undefined, word: string): string {
  const parts: string[] = [];
  if (exact !== undefined && total > 0) parts.push(exact === total ? `named ${word}` : exact === 0 ? `none named ${word}; all contain it` : `${exact} named ${word}, then ${total - exact} containing it`);
  if (threadLocal > 0) parts.push(`${threadLocal} thread-local: an offset in each thread's TLS block, not an address`);
  return `${total} symbol${total === 1 ? '' : 's'}${parts.length ? ` (${parts.join('; ')})` : ''}`;
}

/** Why nothing matched, and what to try: close names, or a module without its full symbol table. */
function nothingFound(space: AddressSpace, pattern: string, module: string | undefined, localOnly: boolean): string {
  const stripped = space.modules.filter((m) => (module === undefined || m.name === module) && space.elfOf(m)?.hasSymtab === false).map((m) => m.name);
  if (module !== undefined && stripped.length > 0) {
    return `${module} is stripped (no .symtab, no debug file found): only its exported symbols are known${localOnly ? ', so no locals' : ''}; name a debug file with \`symbols ${module} FILE\``;
  }
  const word = pattern.replace(/[*?[\]]/g, '');
  if (namePattern(pattern).glob) {
    // A glob asks for a shape, not a name mistyped: the names that hold its letters, found by the same quick screen
    // (a fuzzy search would build node's whole index, a second for nothing found).
    const wider = `*${word}*`;
    const containing = word.length >= 2 && wider !== pattern ? [...new Set(space.match(wider, { module, localOnly }).map((s) => s.name))].slice(0, 5) : [];
    const close = containing.length > 0 ? `no name matches ${pattern} whole; names containing ${word}: ${containing.join(', ')}` : `no name matches ${pattern}`;
    return stripped.length > 0 ? `${close} (stripped, exported symbols only: ${stripped.join(', ')})` : close;
  }
  const similar = word.length >= 3 ? space.index.suggest(word, 5) : [];
  const close = similar.length > 0 ? `did you mean: ${similar.join(', ')}?` : 'no similar names are loaded';
  return stripped.length > 0 ? `${close} (stripped, exported symbols only: ${stripped.join(', ')})` : close;
}
