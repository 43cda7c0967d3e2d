// regs: the registers of one thread (the main thread by default), taken in a pause of that thread alone.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { hex, text } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';

export const regs: CommandSpec = {
  name: 'regs',
  aliases: ['registers'],
  stage: 'explore',
  usage: 'regs [TID]',
  summary: "a thread's registers, pc and sp with their symbols",
  args: [{ name: 'tid', kind: 'number', optional: true }],
  needsTarget: true,
  async run({ session }, { args }) {
    const target = session.requireTarget();
    const tid = args.tid !== undefined ? parseNumber(args.tid as string, 'TID') : target.pid;
    if (!target.threads().includes(tid)) {
      throw new HotpatchError('ESRCH', `${tid} is not a thread of process ${target.pid}`, 'see `threads`');
    }
    const values = session.arch.decodeRegs(await target.registers(tid)).values;
    const names = session.arch.registerNames.filter((n) => values[n] !== undefined);
    const annotate = (n: string) => (n === session.arch.pcName ? `  ${session.describe(values[n])}` : '');
    return {
      data: { tid, registers: Object.fromEntries(names.map((n) => [n, hex(values[n])])) },
      blocks: [
        text(`thread ${tid}`, 'heading'),
        { type: 'pairs', pairs: names.map((n) => [n, hex(values[n]) + annotate(n)] as [string, string]) },
      ],
      explain: [`PTRACE_INTERRUPT stops thread ${tid} alone; PTRACE_GETREGS copies its register block; PTRACE_CONT lets it go on.`],
    };
  },
};
