// Reads by file virtual address (what the dynamic section points at), through the PT_LOAD segments.
import type { ElfSegment } from './types.js';
import { elfBad, hex, type ByteSource } from './source.js';
import { fileOffsetOf, loadSegmentAt } from './headers.js';
import { PT_LOAD } from './constants.js';

/** Small reads (version records, hash chains) walk forward: one window read serves many of them. */
const WINDOW_BYTES = 16 * 1024;

export class VirtualImage {
  private window: { start: bigint; bytes: Buffer } | undefined;

  constructor(private readonly source: ByteSource, private readonly segments: ElfSegment[]) {}

  get path(): string {
    return this.source.path;
  }

  /** Bytes at [vaddr, vaddr + size) when a PT_LOAD holds them in the file, else undefined. */
  tryRead(vaddr: bigint, size: number, what: string): Buffer | undefined {
    const offset = fileOffsetOf(this.segments, vaddr, BigInt(size));
    if (offset === undefined) return undefined;
    if (size >= WINDOW_BYTES) return this.source.read(offset, size, what);
    const cached = this.window;
    if (cached && offset >= cached.start && offset + BigInt(size) <= cached.start + BigInt(cached.bytes.length)) {
      const from = Number(offset - cached.start);
      return cached.bytes.subarray(from, from + size);
    }
    const windowSize = this.windowSizeAt(vaddr, offset, size);
    const bytes = this.source.read(offset, windowSize, what);
    this.window = { start: offset, bytes };
    return bytes.subarray(0, size);
  }

  read(vaddr: bigint, size: number, what: string): Buffer {
    const bytes = this.tryRead(vaddr, size, what);
    if (!bytes) throw elfBad(this.source.path, `${what} at ${hex(vaddr)} (${size} bytes) is not in any loaded segment of the file`);
    return bytes;
  }

  /** The 8-byte word at vaddr; zero in the part of a segment past its file contents (.bss). */
  readWordOrZero(vaddr: bigint, what: string): bigint {
    const bytes = this.tryRead(vaddr, 8, what);
    if (bytes) return bytes.readBigUInt64LE(0);
    if (loadSegmentAt(this.segments, vaddr)) return 0n;
    throw elfBad(this.source.path, `${what} at ${hex(vaddr)} is not in any loaded segment`);
  }

  /** How many 8-byte words the PT_LOAD segments span in memory: a bound on how many places relocations can name. */
  loadedWords(): number {
    let words = 0n;
    for (const segment of this.segments) if (segment.type === PT_LOAD) words += segment.memsz / 8n;
    return Number(words);
  }

  /** As much of a window as the segment's file part and the file itself allow. */
  private windowSizeAt(vaddr: bigint, offset: bigint, size: number): number {
    const segment = loadSegmentAt(this.segments, vaddr);
    let limit = BigInt(WINDOW_BYTES);
    if (segment) limit = minBig(limit, segment.vaddr + segment.filesz - vaddr);
    limit = minBig(limit, BigInt(this.source.sizeBytes) - offset);
    return Math.max(size, Number(limit));
  }
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
