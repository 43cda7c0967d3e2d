// patch FUNC [--from FILE.c]: write a fix in C and have it running in one step (compile, bind, load, redirect).
import type { CommandSpec } from '../src/command.js';
import { parseNumber, quoteWord } from '../src/command.js';
import { hex, text, type Block } from '../src/result.js';
import { parseBindOptions } from '../src/patch/binding.js';
import { applyFix, writeFixTemplate } from '../src/patch/fix.js';

export const patch: CommandSpec = {
  name: 'patch',
  stage: 'patch',
  usage: 'patch FUNC [--from FILE.c] [--proto TYPE] [--method dlopen|map] [--bind SYM=WHERE]… [--force] [--timeout MS]',
  summary: 'fix a function in C: without --from, write a template (the console opens it in $VISUAL/$EDITOR and applies it after); with it, compile, bind, load and redirect in one step',
  why: 'the whole patch at the prompt: plain C that uses the program\'s statics, running after one command, undone by revert',
  args: [{ name: 'func', kind: 'address', help: 'the function to replace (tick, counter.c:tick)' }],
  options: [
    { name: 'from', kind: 'string', valueName: 'FILE.c', help: 'the fix to compile and apply' },
    { name: 'proto', kind: 'string', valueName: 'TYPE', help: "the function's type when the program has no debug info, e.g. 'int (int)'" },
    { name: 'method', kind: 'string', values: ['dlopen', 'map'], help: 'how the compiled fix is loaded, as for load (default dlopen)' },
    { name: 'bind', kind: 'list', valueName: 'SYM=WHERE', help: 'bind a reference of the fix to one definition, e.g. counter=b.c:counter' },
    { name: 'force', kind: 'flag', help: 'as for load and redirect' },
    { name: 'timeout', kind: 'number', valueName: 'MS', help: 'how long the remote dlopen may take (default 2000)' },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const func = args.func as string;
    if (options.from === undefined) {
      const t = await writeFixTemplate(session, func, { proto: options.proto as string | undefined });
      const from = t.prototypeFrom === 'dwarf' ? 'the prototype from the debug info' : t.prototypeFrom === 'user' ? 'the prototype given with --proto' : 'no prototype (no debug info: give --proto \'int (int)\')';
      // The line that applies it, with the options given here (the console runs it when the editor exits).
      const then = ['patch', func, '--from', t.path, ...optionWords(options)].map(quoteWord).join(' ');
      return {
        data: { template: t.path, existed: t.existed, prototype: t.prototypeFrom },
        blocks: [
          text(t.existed ? `${t.path} is there already (kept as it is)` : `wrote ${t.path} (${from}, hp_orig_ and the current code)`, 'ok'),
          text(`edit it, then: ${then}`, 'dim'),
        ],
        edit: { path: t.path, then, untouched: t.untouched },
      };
    }
    const method = (options.method as 'dlopen' | 'map' | undefined) ?? 'dlopen';
    const out = await applyFix(session, func, options.from as string, {
      method,
      binds: parseBindOptions(options.bind as string[] | undefined),
      proto: options.proto as string | undefined,
      force: options.force === true,
      timeoutMs: options.timeout ? parseNumber(options.timeout as string, '--timeout') : 2000,
    });
    const p = out.redirect.patch;
    const blocks: Block[] = [
      text(`patch #${p.id}: ${p.fromName} -> ${p.toName} (${out.hash}, loaded by ${method} at ${hex(out.load.library.base)})`, 'ok'),
      ...(out.redirect.warnings ?? []).map((w) => text(`warning: ${w}`, 'warn')),
    ];
    if (out.bindings.length) {
      blocks.push({ type: 'table', columns: ['reference', 'bound to', 'by', 'why'], rows: out.bindings.map((b) => [b.name, b.to, b.by, b.rule]) });
    }
    if (out.load.report.unresolvedWeak.length) blocks.push(text(`left 0 (weak, not found): ${out.load.report.unresolvedWeak.join(', ')}`, 'warn'));
    return {
      data: {
        patch: p, source: out.source, hash: out.hash, library: out.library, compile: out.compile.map((c) => c.join(' ')),
        bindings: out.bindings, warnings: out.redirect.warnings?.length ? out.redirect.warnings : undefined,
      },
      blocks,
      explain: out.steps,
      notes: out.redirect.notes,
    };
  },
};

/** The options of `patch` that still matter when the fix is applied, as words. */
function optionWords(options: Record<string, string | boolean | string[] | undefined>): string[] {
  const words: string[] = [];
  for (const name of ['proto', 'method', 'timeout'] as const) if (typeof options[name] === 'string') words.push(`--${name}`, options[name] as string);
  for (const b of (options.bind as string[] | undefined) ?? []) words.push('--bind', b);
  if (options.force === true) words.push('--force');
  return words;
}
