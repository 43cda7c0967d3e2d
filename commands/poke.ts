// poke: write bytes or a typed value into the process; code pages too (through /proc/PID/mem, all threads stopped).
import type { CommandSpec } from '../src/command.js';
import { usageError } from '../src/command.js';
import { hex, notesOf, text } from '../src/result.js';

export const poke: CommandSpec = {
  name: 'poke',
  aliases: ['write'],
  stage: 'patch',
  usage: 'poke WHERE BYTES… | poke WHERE --u8 N | --u32 N | --i32 N | --u64 N | --str TEXT',
  summary: 'write memory: hex bytes or a typed value; shows before and after',
  why: 'the smallest patch there is: change a variable, or a few bytes of code, in place',
  args: [
    { name: 'where', kind: 'address' },
    { name: 'bytes', kind: 'string', rest: true, optional: true, help: 'hex bytes: "90 90" or "9090"' },
  ],
  options: [
    { name: 'u32', kind: 'string', valueName: 'N', help: 'a 32-bit unsigned integer, little-endian (decimal or 0x…)' },
    { name: 'i32', kind: 'string', valueName: 'N', help: 'a 32-bit signed integer (a C int), little-endian' },
    { name: 'u64', kind: 'string', valueName: 'N', help: 'a 64-bit unsigned integer (a pointer, a long), little-endian' },
    { name: 'u8', kind: 'string', valueName: 'N', help: 'one byte (0-255)' },
    { name: 'str', kind: 'string', valueName: 'TEXT', help: 'a string, written with its terminating NUL' },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const target = session.requireTarget();
    const data = bytesToWrite(this, (args.bytes as string[] | undefined) ?? [], options);
    const where = await session.resolve(args.where as string);
    const before = target.readExact(where.address, data.length);
    const space = session.space();
    const map = space.maps.find((m) => where.address >= m.start && where.address < m.end);
    const isCode = !map || map.perms[2] === 'x' || map.perms[1] !== 'w';
    const explain: string[] = [];
    if (isCode) {
      // Code (or read-only data): write while every thread is stopped, never with a thread inside the bytes.
      await target.writeWhileStopped([{ address: where.address, bytes: data }], [[where.address, where.address + BigInt(data.length)]]);
      explain.push(
        `The page is ${map ? map.perms : 'unknown'}: process_vm_writev cannot write it, so the bytes go through /proc/${target.pid}/mem,`,
        'which the kernel writes like a debugger (copy-on-write of the page). All threads were stopped, and none stood inside the bytes.',
      );
    } else {
      target.writeMemory(where.address, data);
      explain.push(`The page is writable (${map.perms}): the bytes were written through /proc/${target.pid}/mem without stopping the process.`);
    }
    const after = target.readExact(where.address, data.length);
    return {
      data: { address: hex(where.address), before: before.toString('hex'), after: after.toString('hex'), code: isCode },
      blocks: [
        text(`${where.description}: wrote ${data.length} byte${data.length === 1 ? '' : 's'}`, 'ok'),
        { type: 'pairs', pairs: [['before', spaced(before)], ['after', spaced(after)]] },
      ],
      explain,
      notes: notesOf(where),
    };
  },
};

function spaced(b: Buffer): string {
  return b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

function bytesToWrite(spec: CommandSpec, words: string[], options: Record<string, unknown>): Buffer {
  const typed = ['u8', 'u32', 'i32', 'u64', 'str'].filter((k) => options[k] !== undefined);
  if (typed.length + (words.length > 0 ? 1 : 0) !== 1) throw usageError(spec, 'give either hex BYTES or exactly one of --u8/--u32/--i32/--u64/--str');
  if (options.str !== undefined) return Buffer.from((options.str as string) + '\0', 'utf8');
  if (typed.length === 1) {
    const k = typed[0];
    const raw = options[k] as string;
    let v: bigint;
    try {
      v = BigInt(raw);
    } catch {
      throw usageError(spec, `--${k} needs a number, not "${raw}"`);
    }
    const size = k === 'u8' ? 1 : k === 'u64' ? 8 : 4;
    const min = k === 'i32' ? -(1n << 31n) : 0n;
    const max = k === 'i32' ? (1n << 31n) - 1n : (1n << BigInt(size * 8)) - 1n;
    if (v < min || v > max) throw usageError(spec, `--${k} ${raw} does not fit in ${size} byte${size > 1 ? 's' : ''}`);
    const b = Buffer.alloc(size);
    if (size === 1) b.writeUInt8(Number(v));
    else if (size === 4) k === 'i32' ? b.writeInt32LE(Number(v)) : b.writeUInt32LE(Number(v));
    else b.writeBigUInt64LE(v);
    return b;
  }
  const hexText = words.join('').replace(/^0x/i, '');
  if (!/^([0-9a-f]{2})+$/i.test(hexText)) throw usageError(spec, `"${words.join(' ')}" is not hex bytes (like 90 90 or 9090)`);
  return Buffer.from(hexText, 'hex');
}
