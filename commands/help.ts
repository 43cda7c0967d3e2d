// help: every command grouped by the stage of a patch, or one command's usage, options and why.
import type { CommandSpec } from '../src/command.js';
import { STAGES } from '../src/command.js';
import { text, type Block } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';
import { findCommand, allCommands } from './index.js';

export const help: CommandSpec = {
  name: 'help',
  aliases: ['?'],
  stage: 'console',
  usage: 'help [COMMAND]',
  summary: 'commands by stage of a patch, or one in detail',
  args: [{ name: 'command', kind: 'string', optional: true }],
  async run(_ctx, { args }) {
    const name = args.command as string | undefined;
    if (name) {
      const spec = findCommand(name);
      if (!spec) throw new HotpatchError('E_UNKNOWN_COMMAND', `no command "${name}"`, 'type help for the list');
      const blocks: Block[] = [text(spec.usage, 'heading'), text(spec.summary)];
      if (spec.why) blocks.push(text(`why: ${spec.why}`, 'dim'));
      if (spec.aliases?.length) blocks.push(text(`aliases: ${spec.aliases.join(', ')}`, 'dim'));
      const opts = spec.options ?? [];
      if (opts.length) {
        blocks.push({
          type: 'table',
          columns: ['option', 'meaning'],
          rows: opts.map((o) => [`--${o.name}${o.kind === 'flag' ? '' : ' ' + (o.valueName ?? (o.values ? o.values.join('|') : 'VALUE'))}`, o.help ?? '']),
        });
      }
      return { data: { name: spec.name, usage: spec.usage, summary: spec.summary, why: spec.why, aliases: spec.aliases ?? [], options: opts }, blocks, fromTop: true };
    }
    const blocks: Block[] = [];
    const data: Record<string, { name: string; usage: string; summary: string }[]> = {};
    // Every group's first column as wide as the widest: the groups line up as one list.
    const width = Math.max(...allCommands().map((c) => shortUsage(c.usage).length));
    for (const s of STAGES) {
      const cmds = allCommands().filter((c) => c.stage === s.stage);
      if (!cmds.length) continue;
      blocks.push(text(`${s.title}: ${s.why}`, 'heading'));
      blocks.push({ type: 'table', columns: ['command', 'what it does'], rows: cmds.map((c) => [shortUsage(c.usage).padEnd(width), c.summary]) });
      data[s.stage] = cmds.map((c) => ({ name: c.name, usage: c.usage, summary: c.summary }));
    }
    blocks.push(text('help COMMAND shows one command whole: its options, and why it works as it does', 'dim'));
    blocks.push(text('gdb habits: x/4xg ADDR, x/8i ADDR, info registers|threads|sharedlibrary, disas, c work too; break says what to do instead', 'dim'));
    blocks.push(text('Addresses: 0x401136 | 4198710 | name | name+0x10 | file.c:name | module!name | module!file.c:name | /path/lib.so!name | #ID!name | $rip', 'dim'));
    return { data, blocks, fromTop: true };
  },
};

/**
 * A usage line without its options, for the overview: `peek WHERE [LEN]` for `peek WHERE [LEN] [--as …] [--out FILE]`,
 * the first form of a command that has several (`poke WHERE BYTES…`). `help COMMAND` shows the whole line.
 */
export function shortUsage(usage: string): string {
  return usage
    .split(' | ')[0]!
    .replace(/\s*\[--[^\]]*\]…?/g, '')
    .replace(/\s+--\S+(\s+[A-Z]+)?/g, '')
    .trim();
}
