// quit: detach (the process runs on) and leave the console.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';

export const quit: CommandSpec = {
  name: 'quit',
  aliases: ['exit', 'q'],
  stage: 'console',
  usage: 'quit',
  summary: 'detach and leave (the process runs on)',
  args: [],
  async run({ session }) {
    const pid = session.target?.attached ? await session.detach() : undefined;
    return { data: { quit: true, detached: pid }, blocks: pid ? [text(`detached from ${pid}`, 'dim')] : [] };
  },
};
