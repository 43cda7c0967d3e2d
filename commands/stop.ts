// stop / cont: freeze the whole process on purpose, and release it.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';
import { counted } from '../src/words.js';

export const stop: CommandSpec = {
  name: 'stop',
  stage: 'attach',
  usage: 'stop',
  summary: 'freeze every thread until `cont`',
  why: 'to look at a consistent picture of all threads; the process does no work meanwhile',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const t = session.requireTarget();
    const pause = await t.stop();
    return {
      data: { pid: t.pid, threads: pause.threads, stopMicros: pause.micros },
      blocks: [text(`${t.pid} frozen (${counted(pause.threads, 'thread')} stopped in ${pause.micros.toFixed(0)} µs); \`cont\` releases it`, 'warn')],
      explain: ['PTRACE_INTERRUPT on every thread, then waitpid until each reports its stop; they stay stopped until `cont`.'],
    };
  },
};

export const cont: CommandSpec = {
  name: 'cont',
  aliases: ['continue', 'c'],
  stage: 'attach',
  usage: 'cont',
  summary: 'release a process frozen with `stop`',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const t = session.requireTarget();
    await t.cont();
    return { data: { pid: t.pid }, blocks: [text(`${t.pid} running`, 'ok')], explain: ['PTRACE_CONT (or PTRACE_LISTEN for a job-control stopped thread) on every thread.'] };
  },
};
