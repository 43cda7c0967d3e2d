// attach PID|NAME: seize every thread of a running process and leave it running.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { HotpatchError } from '../src/errors.js';
import { counted } from '../src/words.js';
import { text, type CommandResult } from '../src/result.js';
import { processesNamed, type ProcessEntry } from '../src/process/find.js';
import type { Target } from '../src/process/target.js';

/** Command lines in the list of an ambiguous name are cut to this many characters (a JVM's run to kilobytes). */
const CMDLINE_SHOWN = 100;

export const attach: CommandSpec = {
  name: 'attach',
  stage: 'attach',
  usage: 'attach PID|NAME',
  summary: 'take hold of a running process (it keeps running)',
  why: 'every other command works on the attached process; attaching does not stop it. ' +
    'A NAME means what pgrep NAME finds: the process whose name (/proc/PID/comm) is NAME, else the one whose name contains it; ' +
    'when several have it, they are listed and a pid is asked for',
  args: [{ name: 'target', kind: 'process', help: 'a pid, or a process name as pgrep matches it (exact first)' }],
  async run({ session }, { args }) {
    const word = args.target as string;
    const pid = /^\d+$/.test(word) ? parseNumber(word, 'PID') : pidNamed(word);
    return attachedResult(await session.attach(pid));
  },
};

/** What attach and spawn say once attached. */
export function attachedResult(t: Target, started?: { log: string }): CommandResult {
  const threads = t.threads().length;
  const count = counted(threads, 'thread');
  return {
    data: { pid: t.pid, name: t.name, exe: t.exe, threads, ...(started ? { log: started.log } : {}) },
    blocks: started
      ? [text(`started ${t.name} as ${t.pid}, attached from its first instruction; ${count}, running`, 'ok'),
        text(`its output: ${started.log} (quit stops it)`, 'dim')]
      : [text(`attached to ${t.pid} (${t.name}), ${count}, still running`, 'ok')],
    explain: [
      ...(started ? ['The program was started by a small shell that stopped itself (SIGSTOP) before calling exec: attached then, and continued, the exec of the program is the first thing it does.'] : []),
      `PTRACE_SEIZE on ${threads === 1 ? 'the one thread' : `each of the ${threads} threads`} listed in /proc/${t.pid}/task, with options TRACECLONE|TRACEEXEC|TRACEEXIT:`,
      'unlike PTRACE_ATTACH, SEIZE does not stop the process, so it keeps serving while we look at it.',
      'New threads are followed automatically; signals sent to the process are passed on to it at once.',
    ],
  };
}

/** The one process a name means; several or none is an error that says which, or what to try. */
export function pidNamed(name: string): number {
  const { matches, exact } = processesNamed(name);
  if (matches.length === 1) return matches[0]!.pid;
  if (matches.length === 0) {
    throw new HotpatchError('E_NO_PROCESS', `no process named ${name}`, 'ps -e lists the processes; give a pid, or start the program with hotpatch -- PROG ARGS');
  }
  const how = exact ? `named ${name}` : `whose name contains ${name}`;
  // The instruction stays in the one-line header, the list below it (an empty hint: none after the list).
  throw new HotpatchError('E_AMBIGUOUS_PROCESS', `${matches.length} processes ${how}; give one of their pids:\n${processList(matches)}`, '');
}

function processList(list: readonly ProcessEntry[]): string {
  const width = String(Math.max(...list.map((p) => p.pid))).length;
  return list.map((p) => `  ${String(p.pid).padStart(width)}  ${p.cmdline.length > CMDLINE_SHOWN ? p.cmdline.slice(0, CMDLINE_SHOWN - 1) + '…' : p.cmdline}`).join('\n');
}
