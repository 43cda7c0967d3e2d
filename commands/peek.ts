// peek: read memory without stopping the process, as a hexdump or typed values.
import type { CommandSpec } from '../src/command.js';
import { parseNumber, checkCancelled } from '../src/command.js';
import { hex, notesOf, text, type Block } from '../src/result.js';
import { HotpatchError } from '../src/errors.js';
import type { Target } from '../src/process/target.js';
import type { CommandResult } from '../src/result.js';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';

const VIEWS: Record<string, { size: number; read: (b: Buffer, o: number) => bigint | number }> = {
  x8: { size: 1, read: (b, o) => b.readUInt8(o) },
  u8: { size: 1, read: (b, o) => b.readUInt8(o) },
  i8: { size: 1, read: (b, o) => b.readInt8(o) },
  x16: { size: 2, read: (b, o) => b.readUInt16LE(o) },
  u16: { size: 2, read: (b, o) => b.readUInt16LE(o) },
  i16: { size: 2, read: (b, o) => b.readInt16LE(o) },
  x32: { size: 4, read: (b, o) => b.readUInt32LE(o) },
  u32: { size: 4, read: (b, o) => b.readUInt32LE(o) },
  i32: { size: 4, read: (b, o) => b.readInt32LE(o) },
  x64: { size: 8, read: (b, o) => b.readBigUInt64LE(o) },
  u64: { size: 8, read: (b, o) => b.readBigUInt64LE(o) },
  i64: { size: 8, read: (b, o) => b.readBigInt64LE(o) },
  ptr: { size: 8, read: (b, o) => b.readBigUInt64LE(o) },
  f32: { size: 4, read: (b, o) => b.readFloatLE(o) },
  f64: { size: 8, read: (b, o) => b.readDoubleLE(o) },
};

/** Shown on screen: 1 MiB is 65,536 hexdump lines already; more goes to a file (--out). */
const MAX_PEEK = 1 << 20;
const MAX_DUMP = 16 * 2 ** 30;
/** A dump reads through one buffer of this size, reused: no page faults per read, and it stays in cache. */
const DUMP_CHUNK = 1 << 20;

/** How many chunks are read between two looks at Ctrl-C (64 MiB: the pause to look costs nothing next to them); the first look comes after the first chunk. */
const CHUNKS_PER_CHECK = 64;

/**
 * peek --out: the range streamed to a file; an unmapped part stops it with the exact range, and no file is left. Ctrl-C
 * in the console (`signal`) stops it the same way.
 */
async function dumpToFile(target: Target, address: bigint, description: string, len: number, file: string, signal?: AbortSignal): Promise<CommandResult> {
  if (len === 0 || len > MAX_DUMP) throw new HotpatchError('E_USAGE', `peek --out: LEN must be 1..${MAX_DUMP}`);
  let fd: number;
  try {
    fd = openSync(file, 'w', 0o600);
  } catch (err) {
    throw new HotpatchError('E_FILE', `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'name a file in a writable directory');
  }
  const chunk = Buffer.allocUnsafe(Math.min(DUMP_CHUNK, len));
  const started = performance.now();
  let done = 0;
  try {
    while (done < len) {
      const want = Math.min(chunk.length, len - done);
      const view = want === chunk.length ? chunk : chunk.subarray(0, want);
      const at = address + BigInt(done);
      const got = target.readInto(at, view);
      writeSync(fd, view, 0, got);
      done += got;
      if (got < want) {
        const from = address + BigInt(done);
        throw new HotpatchError('EFAULT', `${hex(from)}..${hex(address + BigInt(len))} is not mapped (read ${done} of ${len} bytes)`,
          'see `maps` for what is mapped; dump a range that is');
      }
      if (done < len && (done / chunk.length) % CHUNKS_PER_CHECK === 1) await checkCancelled(signal, `peek --out cancelled after ${done} of ${len} bytes; ${file} removed`);
    }
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw err;
  }
  closeSync(fd);
  const ms = performance.now() - started;
  const rate = ms > 0 ? `, ${(len / 2 ** 30 / (ms / 1000)).toFixed(2)} GiB/s` : '';
  return {
    data: { address: hex(address), length: len, file, ms },
    blocks: [text(`${description}: ${len} bytes written to ${file} in ${ms.toFixed(1)} ms${rate}`)],
  };
}

export const peek: CommandSpec = {
  name: 'peek',
  aliases: ['x', 'read'],
  stage: 'explore',
  usage: 'peek WHERE [LEN] [--as x8|x32|x64|u32|i32|i64|f64|ptr|str] [--out FILE]',
  summary: 'read memory (no stop needed): hexdump or typed values',
  why: 'see a variable or code bytes as they are now, while the process runs',
  args: [
    { name: 'where', kind: 'address' },
    { name: 'len', kind: 'number', optional: true, help: 'bytes to read (default: the symbol size, else 64)' },
  ],
  options: [
    { name: 'as', kind: 'string', values: [...Object.keys(VIEWS), 'str', 'hex'], help: 'how to show the bytes' },
    { name: 'out', kind: 'string', valueName: 'FILE', help: 'write the raw bytes to FILE instead (a memory dump, up to 16 GiB)' },
  ],
  needsTarget: true,
  async run({ session, signal }, { args, options }) {
    const target = session.requireTarget();
    const where = await session.resolve(args.where as string);
    const view = (options.as as string | undefined) ?? 'hex';
    const symSize = where.symbol && where.symbol.address === where.address && where.symbol.size > 0 ? where.symbol.size : undefined;
    const len = args.len !== undefined ? parseNumber(args.len as string, 'LEN') : view === 'str' ? 256 : symSize ?? 64;
    if (options.out !== undefined) {
      if (options.as !== undefined) throw new HotpatchError('E_USAGE', 'peek: --out writes raw bytes; leave out --as');
      return { ...(await dumpToFile(target, where.address, where.description, len, options.out as string, signal)), notes: notesOf(where) };
    }
    if (len === 0) throw new HotpatchError('E_USAGE', 'peek: LEN must be at least 1');
    if (len > MAX_PEEK) throw new HotpatchError('E_USAGE', `peek: ${len} bytes is more than a screen can show (at most ${MAX_PEEK})`, `dump them to a file: peek ${args.where as string} ${len} --out FILE`);
    const bytes = view === 'str' ? target.readMemory(where.address, len) : target.readExact(where.address, len);
    if (view === 'str') {
      if (bytes.length === 0) throw new HotpatchError('EFAULT', `${hex(where.address)} is not mapped`, 'see `maps`');
      const end = bytes.indexOf(0);
      const s = bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
      return { data: { address: hex(where.address), string: s }, blocks: [text(`${where.description}: ${JSON.stringify(s)}`)], notes: notesOf(where) };
    }
    if (view === 'hex') {
      return {
        data: { address: hex(where.address), length: bytes.length, hex: bytes.toString('hex') },
        blocks: [text(where.description, 'dim'), { type: 'hexdump', address: where.address, bytes }],
        notes: notesOf(where),
      };
    }
    const v = VIEWS[view];
    const values: (bigint | number)[] = [];
    for (let o = 0; o + v.size <= bytes.length; o += v.size) values.push(v.read(bytes, o));
    const show = (x: bigint | number) => (view.startsWith('x') || view === 'ptr' ? '0x' + x.toString(16) : x.toString());
    const blocks: Block[] = [
      {
        type: 'table',
        columns: ['address', view],
        rows: values.map((x, i) => [hex(where.address + BigInt(i * v.size)), show(x) + (view === 'ptr' ? `  ${session.describe(BigInt(x))}` : '')]),
      },
    ];
    return { data: { address: hex(where.address), as: view, values: values.map((x) => (typeof x === 'bigint' ? x.toString() : x)) }, blocks, notes: notesOf(where) };
  },
};
