// attach PID: seize every thread of a running process and leave it running.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { text } from '../src/result.js';

export const attach: CommandSpec = {
  name: 'attach',
  stage: 'attach',
  usage: 'attach PID',
  summary: 'take hold of a running process (it keeps running)',
  why: 'every other command works on the attached process; attaching does not stop it',
  args: [{ name: 'pid', kind: 'number' }],
  async run({ session }, { args }) {
    const pid = parseNumber(args.pid as string, 'PID');
    const t = await session.attach(pid);
    const threads = t.threads().length;
    return {
      data: { pid: t.pid, name: t.name, exe: t.exe, threads },
      blocks: [text(`attached to ${t.pid} (${t.name}), ${threads} thread${threads === 1 ? '' : 's'}, still running`, 'ok')],
      explain: [
        `PTRACE_SEIZE on ${threads === 1 ? 'the one thread' : `each of the ${threads} threads`} listed in /proc/${pid}/task, with options TRACECLONE|TRACEEXEC|TRACEEXIT:`,
        'unlike PTRACE_ATTACH, SEIZE does not stop the process, so it keeps serving while we look at it.',
        'New threads are followed automatically; signals sent to the process are passed on to it at once.',
      ],
    };
  },
};
