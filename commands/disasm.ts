// disasm: the instructions of a function (or COUNT instructions from an address), with targets and threads' pcs marked.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { hex, notesOf, type DisasmLine } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';
import { loadRecord } from '../src/patch/record.js';

const DEFAULT_COUNT = 32;
const MAX_FUNCTION_BYTES = 1 << 20;
/** The longest x86-64 instruction. */
const MAX_INSTRUCTION = 15;

export const disasm: CommandSpec = {
  name: 'disasm',
  aliases: ['dis', 'disas', 'disassemble', 'x/i'],
  stage: 'explore',
  usage: 'disasm [WHERE] [COUNT]',
  summary: 'show machine code: a whole function, or COUNT instructions',
  why: 'read the function before replacing it: its size, its first instructions (what the jump overwrites), what it calls',
  args: [
    { name: 'where', kind: 'address', optional: true, help: 'a function, or an address (default: $pc, where the main thread is)' },
    { name: 'count', kind: 'number', optional: true, help: 'number of instructions (default: the whole function)' },
  ],
  needsTarget: true,
  async run({ session }, { args }) {
    const target = session.requireTarget();
    const where = await session.resolve((args.where as string | undefined) ?? '$pc');
    const count = args.count !== undefined ? parseNumber(args.count as string, 'COUNT') : undefined;
    if (count === 0) throw new HotpatchError('E_USAGE', 'disasm: COUNT must be at least 1');
    const sym = where.symbol;
    const wholeFunction = count === undefined && sym && sym.address === where.address && sym.size > 0;
    const size = wholeFunction ? Math.min(sym!.size, MAX_FUNCTION_BYTES) : 0;
    // A whole function is read with room for one more instruction: the last one may run past the symbol's size (a
    // redirect's 5-byte jump over a 4-byte function and its padding); instructions that start past the end are dropped.
    const length = wholeFunction ? size + MAX_INSTRUCTION : (count ?? DEFAULT_COUNT) * MAX_INSTRUCTION;
    const code = target.readMemory(where.address, length);
    if (code.length === 0) throw new HotpatchError('EFAULT', `${hex(where.address)} is not mapped`, 'see `maps`');
    const decoded = await session.arch.disassemble(code, where.address, wholeFunction ? undefined : count ?? DEFAULT_COUNT);
    const instrs = wholeFunction ? decoded.filter((ins) => ins.address < where.address + BigInt(size)) : decoded;
    const pcs = await threadPcs(session);
    const ours = ownCode(session);
    const name = (address: bigint) => ours.get(address) ?? session.describe(address);
    const lines: DisasmLine[] = instrs.map((ins) => ({
      address: ins.address,
      location: session.describe(ins.address),
      bytes: Buffer.from(ins.bytes).toString('hex').replace(/(..)(?!$)/g, '$1 '),
      mnemonic: ins.mnemonic,
      operands: ins.opStr,
      // A branch's target, or the data a rip-relative operand names (`[rip+0x2db7]  ; count`), as objdump and gdb annotate.
      comment: ins.target !== undefined ? name(ins.target) : ins.dataAddress !== undefined ? session.describe(ins.dataAddress) : undefined,
      currentThreads: pcs.get(ins.address),
    }));
    return {
      data: lines.map((l) => ({ ...l, address: hex(l.address) })),
      blocks: [{ type: 'disasm', lines }],
      notes: notesOf(where),
    };
  },
};

/** The code hotpatch placed (veneers, trampolines), by address, named for what it does: no symbol covers it. */
function ownCode(session: import('../src/session.js').Session): Map<bigint, string> {
  const named = new Map<bigint, string>();
  for (const p of loadRecord(session).patches) {
    if (p.veneer !== undefined) named.set(p.veneer, `hotpatch veneer -> ${p.toName} (patch #${p.id})`);
    if (p.trampoline !== undefined && !named.has(p.trampoline)) named.set(p.trampoline, `hotpatch trampoline: the original ${p.fromName} (patch #${p.id})`);
    // A stack's layers share one hop: the top one (the highest id) names it.
    if (p.hop) named.set(p.hop.address, `hotpatch hop of ${p.fromName} -> ${p.toName} (patch #${p.id})`);
  }
  return named;
}

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
