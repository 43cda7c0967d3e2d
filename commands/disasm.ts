// disasm: the instructions of a function (or COUNT instructions from an address), with targets and threads' pcs marked.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { hex, type DisasmLine } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';

const DEFAULT_COUNT = 32;
const MAX_FUNCTION_BYTES = 1 << 20;

export const disasm: CommandSpec = {
  name: 'disasm',
  aliases: ['dis', 'x/i'],
  stage: 'explore',
  usage: 'disasm WHERE [COUNT]',
  summary: 'show machine code: a whole function, or COUNT instructions',
  why: 'read the function before replacing it: its size, its first instructions (what the jump overwrites), what it calls',
  args: [
    { name: 'where', kind: 'address' },
    { name: 'count', kind: 'number', optional: true, help: 'number of instructions (default: the whole function)' },
  ],
  needsTarget: true,
  async run({ session }, { args }) {
    const target = session.requireTarget();
    const where = await session.resolve(args.where as string);
    const count = args.count !== undefined ? parseNumber(args.count as string, 'COUNT') : undefined;
    if (count === 0) throw new HotpatchError('E_USAGE', 'disasm: COUNT must be at least 1');
    const sym = where.symbol;
    const wholeFunction = count === undefined && sym && sym.address === where.address && sym.size > 0;
    const length = wholeFunction ? Math.min(sym!.size, MAX_FUNCTION_BYTES) : (count ?? DEFAULT_COUNT) * 15;
    const code = target.readMemory(where.address, length);
    if (code.length === 0) throw new HotpatchError('EFAULT', `${hex(where.address)} is not mapped`, 'see `maps`');
    const instrs = await session.arch.disassemble(code, where.address, wholeFunction ? undefined : count ?? DEFAULT_COUNT);
    const pcs = await threadPcs(session);
    const lines: DisasmLine[] = instrs.map((ins) => ({
      address: ins.address,
      location: session.describe(ins.address),
      bytes: Buffer.from(ins.bytes).toString('hex').replace(/(..)(?!$)/g, '$1 '),
      mnemonic: ins.mnemonic,
      operands: ins.opStr,
      comment: ins.target !== undefined ? session.describe(ins.target) : undefined,
      currentThreads: pcs.get(ins.address),
    }));
    return {
      data: lines.map((l) => ({ ...l, address: hex(l.address) })),
      blocks: [{ type: 'disasm', lines }],
      pause: target.lastPause,
    };
  },
};

/** Where each thread's pc stands (one short pause of all threads). */
async function threadPcs(session: import('../src/session.js').Session): Promise<Map<bigint, number[]>> {
  const target = session.requireTarget();
  const map = new Map<bigint, number[]>();
  for (const t of await target.allRegisters()) {
    if (t.regs.length === 0) continue;
    const pc = session.arch.decodeRegs(t.regs).values[session.arch.pcName];
    map.set(pc, [...(map.get(pc) ?? []), t.tid]);
  }
  return map;
}
