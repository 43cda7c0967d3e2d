// detach: let go of the process, leaving it running exactly as before (patches stay in place).
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';

export const detach: CommandSpec = {
  name: 'detach',
  stage: 'attach',
  usage: 'detach',
  summary: 'let go of the process; it runs on, patches stay',
  args: [],
  needsTarget: true,
  async run({ session }) {
    // A program hotpatch started is ours no longer: it runs on after we leave, its output still going to its log.
    const log = session.spawned?.pid === session.target?.pid ? session.spawned?.log : undefined;
    session.spawned = undefined;
    const pid = await session.detach();
    return {
      data: { pid, ...(log ? { log } : {}) },
      blocks: [text(`detached from ${pid}; it runs on`, 'ok'), ...(log ? [text(`its output still goes to ${log}`, 'dim')] : [])],
      explain: ['Every thread is stopped for a moment and released with PTRACE_DETACH; a thread that was job-control stopped stays stopped, as we found it.'],
    };
  },
};
