// spawn PROG ARGS: start a program and attach to it before its first instruction (hotpatch -- PROG ARGS).
import type { CommandSpec } from '../src/command.js';
import { spawnLogDir } from '../src/process/spawn.js';
import { attachedResult } from './attach.js';

export const spawn: CommandSpec = {
  name: 'spawn',
  stage: 'attach',
  usage: 'spawn PROG [ARGS...]',
  summary: 'start a program and attach to it from its first instruction (quitting stops it)',
  why: 'to watch a program from its very start, or to try a patch on a fresh copy; its output goes to a log file, ' +
    'not over the console, and it is killed when the console or batch ends (detach first to leave it running)',
  args: [
    { name: 'program', kind: 'path', help: 'the program: a path, or a name looked up in PATH' },
    { name: 'args', kind: 'string', optional: true, rest: true, help: 'its arguments' },
  ],
  async run({ session }, { args }) {
    const target = await session.spawn(args.program as string, (args.args as string[] | undefined) ?? [], spawnLogDir());
    return attachedResult(target, session.spawned);
  },
};
