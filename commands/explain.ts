// explain on|off: each command also tells, step by step, what it did to the process and why.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';

export const explain: CommandSpec = {
  name: 'explain',
  stage: 'console',
  usage: 'explain on|off',
  summary: 'show what each command does to the process, step by step',
  args: [{ name: 'mode', kind: 'string', optional: true }],
  async run({ session }, { args }) {
    const mode = args.mode as string | undefined;
    if (mode !== undefined && mode !== 'on' && mode !== 'off') {
      const { HotpatchError } = await import('../src/errors.js');
      throw new HotpatchError('E_USAGE', `explain: say on or off, not "${mode}"`, 'usage: explain on|off');
    }
    if (mode) session.explain = mode === 'on';
    return { data: { explain: session.explain }, blocks: [text(`explain is ${session.explain ? 'on' : 'off'}`)] };
  },
};
