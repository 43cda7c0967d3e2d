// Bounds-checked reads from an ELF image, either a file read at offsets (never whole) or a buffer in memory.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { HotpatchError, toHotpatchError } from '../errors.js';

export interface ByteSource {
  readonly path: string;
  readonly sizeBytes: number;
  /**
   * Bytes [offset, offset + length) of the image; `what` names them for the error when they lie outside it.
   * The result may share memory with the image: do not write to it.
   */
  read(offset: bigint | number, length: bigint | number, what: string): Buffer;
  /** Run `work` with the file held open, so its reads cost no open/close each. */
  batch<T>(work: () => T): T;
  /** For a file: which one it is, so that code reading it by path (the addon mapping it) can check it is the same. */
  readonly file?: FileIdentity;
}

/** The error for a malformed image: one line, the path first. */
export function elfBad(path: string, what: string): HotpatchError {
  return new HotpatchError('E_ELF_BAD', `${path}: ${what}`, 'the file is truncated or damaged; rebuild it or copy it again');
}

import { hex } from '../hex.js';
export { hex };

/** The range as numbers, or an E_ELF_BAD when any part of it lies past the end of the image. */
function checkedRange(source: ByteSource, offset: bigint | number, length: bigint | number, what: string): [number, number] {
  const start = BigInt(offset);
  const size = BigInt(length);
  if (start < 0n || size < 0n || start + size > BigInt(source.sizeBytes)) {
    throw elfBad(source.path, `${what} (offset ${hex(start)}, ${size} bytes) lies outside the file (${source.sizeBytes} bytes)`);
  }
  return [Number(start), Number(size)];
}

export function memorySource(bytes: Buffer, path: string): ByteSource {
  return {
    path,
    sizeBytes: bytes.length,
    read(offset, length, what) {
      const [start, size] = checkedRange(this, offset, length, what);
      return bytes.subarray(start, start + size);
    },
    batch: (work) => work(),
  };
}

export interface FileIdentity {
  sizeBytes: number;
  mtimeMs: number;
  ino: number;
}

/** Opens the file for reading, turning a missing or unreadable file into a HotpatchError that names it. */
function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    const wrapped = toHotpatchError(err);
    if (wrapped.code === 'ENOENT') throw new HotpatchError('ENOENT', `${path}: no such file`);
    throw new HotpatchError(wrapped.code, `${path}: ${wrapped.message}`, wrapped.hint);
  }
}

function identityOf(fd: number, path: string): FileIdentity {
  const st = fstatSync(fd);
  if (!st.isFile()) {
    throw new HotpatchError('E_NOT_ELF', `${path}: not a regular file`, 'give the path of an executable or a shared library');
  }
  return { sizeBytes: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

function readFully(fd: number, path: string, start: number, size: number, what: string): Buffer {
  const out = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const got = readSync(fd, out, done, size - done, start + done);
    if (got === 0) throw elfBad(path, `${what}: the file ended early (did it shrink while being read?)`);
    done += got;
  }
  return out;
}

/**
 * Runs `work` on the file with it held open, and closes it after. The source stays usable afterwards:
 * lazy parts reopen the file, and since a rebuild in between would mix two files, every reopen checks
 * the file is still the one first opened.
 */
export function withFileSource<T>(path: string, work: (source: ByteSource) => T): T {
  let fd: number | undefined = openForReading(path);
  let identity: FileIdentity;
  try {
    identity = identityOf(fd, path);
  } catch (err) {
    closeSync(fd);
    throw err;
  }

  function reopen(): number {
    const opened = openForReading(path);
    try {
      const now = identityOf(opened, path);
      if (now.sizeBytes !== identity.sizeBytes || now.mtimeMs !== identity.mtimeMs || now.ino !== identity.ino) {
        throw new HotpatchError('E_ELF_CHANGED', `${path}: the file changed on disk since it was opened`, 'open it again');
      }
    } catch (err) {
      closeSync(opened);
      throw err;
    }
    return opened;
  }

  const source: ByteSource = {
    path,
    sizeBytes: identity.sizeBytes,
    file: identity,
    read(offset, length, what) {
      const [start, size] = checkedRange(source, offset, length, what);
      return source.batch(() => readFully(fd as number, path, start, size, what));
    },
    batch(inner) {
      if (fd !== undefined) return inner();
      fd = reopen();
      try {
        return inner();
      } finally {
        closeSync(fd);
        fd = undefined;
      }
    },
  };
  try {
    return work(source);
  } finally {
    closeSync(fd);
    fd = undefined;
  }
}
