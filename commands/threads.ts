// threads: every thread with its state and where its pc stands.
import type { CommandSpec } from '../src/command.js';
import { hex } from '../src/result.js';
import { readStat, describeState } from '../src/process/procfs.js';

export const threads: CommandSpec = {
  name: 'threads',
  stage: 'explore',
  usage: 'threads',
  summary: 'threads with state and pc (sym+off)',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const target = session.requireTarget();
    // The state comes from /proc before we stop anything: that is what the threads were doing.
    const states = new Map(target.threads().map((tid) => {
      try {
        const s = readStat(target.pid, tid);
        return [tid, { state: s.state, name: s.comm }] as const;
      } catch {
        return [tid, { state: '?', name: '?' }] as const;
      }
    }));
    const all = await target.allRegisters();
    const rows = all.map((t) => {
      const pc = t.regs.length ? session.arch.decodeRegs(t.regs).values[session.arch.pcName] : undefined;
      const st = states.get(t.tid);
      return { tid: t.tid, name: st?.name ?? '', state: st ? describeState(st.state) + (t.groupStopped ? ' (job-stopped)' : '') : '?', pc: pc !== undefined ? hex(pc) : '', at: pc !== undefined ? session.describe(pc) : '' };
    });
    return {
      data: rows,
      blocks: [{ type: 'table', columns: ['tid', 'name', 'state', 'pc', 'at'], rows: rows.map((r) => [String(r.tid), r.name, r.state, r.pc, r.at]) }],
    };
  },
};
