// quit: detach (the process runs on) and leave the console.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';

export const quit: CommandSpec = {
  name: 'quit',
  aliases: ['exit', 'q'],
  stage: 'console',
  usage: 'quit',
  summary: 'detach and leave (the process runs on; one hotpatch started is stopped)',
  args: [],
  async run({ session }) {
    // A program hotpatch started is stopped, as gdb and Frida do (detached first); any other runs on.
    const started = session.spawned?.pid;
    const stopped = await session.stopSpawned();
    if (stopped) return { data: { quit: true, stopped: started }, blocks: [text(stopped, 'dim')] };
    const pid = session.target?.attached ? await session.detach() : undefined;
    return { data: { quit: true, detached: pid }, blocks: pid ? [text(`detached from ${pid}`, 'dim')] : [] };
  },
};
