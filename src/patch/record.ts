// The patch record kept inside the target: a small mapping of ours with a magic header and a versioned JSON table,
// so a later session (another hotpatch process) finds what was loaded and patched.
import { HotpatchError } from '../errors.js';
import { native } from '../native.js';
import type { Session } from '../session.js';
import { findFreeRange } from './placement.js';
import { readMaps } from '../symbols/maps.js';
import { remoteMmapFixed, pagePrelude, NO_PRELUDE, PROT, type Prelude } from './remote.js';

const MAGIC = Buffer.from('HOTPATCH', 'latin1');
export const RECORD_VERSION = 1;
/** An unusual size, so few anonymous mappings need a look when searching for the record. */
export const RECORD_SIZE = 0x11000n;
const HEADER = 16;

export interface LoadedLibrary {
  id: number;
  path: string;
  name: string;
  method: 'dlopen' | 'map';
  /** Run-time address of the library's first byte (its load bias for a normal .so). */
  base: string;
  loadBias: string;
  size?: string;
  handle?: string;
  /** `address` for a reference to memory; `tlsOffset` (offset in its module's TLS block) for a thread-local variable. */
  bindings: { name: string; address?: string; tlsOffset?: string; description: string; hidden: boolean }[];
  loadedAt: string;
}

export interface PatchEntry {
  id: number;
  kind: 'jump' | 'got';
  from: string;
  fromName: string;
  to: string;
  toName: string;
  /** Bytes at FROM before and after (jump), or per GOT slot. */
  before: string;
  after: string;
  jumpKind?: 'rel32' | 'veneer' | 'abs14';
  trampoline?: string;
  trampolineBytes?: string;
  veneer?: string;
  origPointer?: { address: string; before: string };
  slots?: { address: string; module: string; before: string }[];
  /** A library this patch needs loaded. */
  library?: string;
  appliedAt: string;
}

export interface CodeArea {
  start: string;
  size: string;
  used: string;
}

export interface PatchRecord {
  version: number;
  nextId: number;
  libraries: LoadedLibrary[];
  patches: PatchEntry[];
  areas: CodeArea[];
}

export function emptyRecord(): PatchRecord {
  return { version: RECORD_VERSION, nextId: 1, libraries: [], patches: [], areas: [] };
}

interface Held {
  pid: number;
  startTime: bigint;
  address?: bigint;
  record: PatchRecord;
}

/** The record of the attached process: found in the target once, then kept in the session. */
export function loadRecord(session: Session): PatchRecord {
  const target = session.requireTarget();
  const held = session.state.get('record') as Held | undefined;
  if (held && held.pid === target.pid && held.startTime === target.startTime) return held.record;
  const found = findRecord(session);
  const fresh: Held = { pid: target.pid, startTime: target.startTime, address: found?.address, record: found?.record ?? emptyRecord() };
  session.state.set('record', fresh);
  return fresh.record;
}

function findRecord(session: Session): { address: bigint; record: PatchRecord } | undefined {
  const target = session.requireTarget();
  for (const m of readMaps(target.pid)) {
    if (m.path !== '' || m.end - m.start !== RECORD_SIZE || !m.perms.startsWith('rw')) continue;
    const head = target.readMemory(m.start, HEADER);
    if (head.length < HEADER || !head.subarray(0, 8).equals(MAGIC)) continue;
    const version = head.readUInt32LE(8);
    if (version !== RECORD_VERSION) {
      throw new HotpatchError('E_RECORD_VERSION', `the patch record in process ${target.pid} has version ${version}; this hotpatch reads ${RECORD_VERSION}`, 'use the hotpatch version that made the patches');
    }
    const len = head.readUInt32LE(12);
    const body = target.readExact(m.start + BigInt(HEADER), len);
    try {
      return { address: m.start, record: JSON.parse(body.toString('utf8')) as PatchRecord };
    } catch {
      throw new HotpatchError('E_RECORD_CORRUPT', `the patch record at 0x${m.start.toString(16)} is damaged`, 'patches cannot be listed; revert by address with poke');
    }
  }
  return undefined;
}

/**
 * The write that puts the record into the target (its mapping is created the first time), not yet done: a patch
 * writes it in the same stop as its code, so no kill of the tool can leave a jump the record does not list.
 */
export async function recordWrite(session: Session): Promise<{ address: bigint; bytes: Buffer }> {
  const held = session.state.get('record') as Held;
  const bytes = encodeRecord(held.record);
  held.address ??= await remoteMmapFixed(session, recordAddress(session), RECORD_SIZE, PROT.READ | PROT.WRITE);
  return { address: held.address, bytes };
}

/**
 * The record's page, when the target has none yet, made at the head of a plan that runs anyway (a load), holding the
 * record as it stands: one stop fewer, and a later failure of that plan still leaves a valid record.
 */
export function recordPrelude(session: Session, tid: number): Prelude {
  const { prelude, write } = recordUpdate(session, tid);
  if (prelude.ops.length === 0) return prelude;
  const w = write();
  return { ...prelude, ops: [...prelude.ops, { kind: 'write', addr: w.address, data: w.bytes }] };
}

/**
 * For a plan that writes the record with its code (redirect, revert): where the record goes, the mmap that makes its
 * page first when the target has none (in the same plan), and the record's bytes as they stand when asked.
 */
export function recordUpdate(session: Session, tid: number): { prelude: Prelude; write(): { address: bigint; bytes: Buffer } } {
  loadRecord(session);
  const held = session.state.get('record') as Held;
  const at = held.address ?? recordAddress(session);
  const prelude = held.address !== undefined ? NO_PRELUDE : pagePrelude(session, tid, at, RECORD_SIZE, PROT.READ | PROT.WRITE, undefined, () => (held.address = at));
  return { prelude, write: () => ({ address: at, bytes: encodeRecord(held.record) }) };
}

function recordAddress(session: Session): bigint {
  const main = session.space().main;
  const near = main ? [main.start] : [0x555555554000n];
  const at = findFreeRange(session.space().maps, RECORD_SIZE, near, 1n << 46n);
  if (at === undefined) throw new HotpatchError('ENOMEM', 'no room in the target for the patch record');
  return at;
}

function encodeRecord(record: PatchRecord): Buffer {
  const body = Buffer.from(JSON.stringify(record), 'utf8');
  if (body.length + HEADER > Number(RECORD_SIZE)) throw new HotpatchError('E_RECORD_FULL', 'the patch record is full', 'revert some patches');
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(RECORD_VERSION, 8);
  head.writeUInt32LE(body.length, 12);
  return Buffer.concat([head, body]);
}

/** The record's page in the target, if it has one. */
export function recordPage(session: Session): { start: bigint; size: bigint } | undefined {
  loadRecord(session);
  const held = session.state.get('record') as Held;
  return held.address === undefined ? undefined : { start: held.address, size: RECORD_SIZE };
}

/** After the record's page was unmapped: an empty record with no page (a later save makes one again). */
export function forgetRecordPage(session: Session): void {
  const target = session.requireTarget();
  session.state.set('record', { pid: target.pid, startTime: target.startTime, record: emptyRecord() } satisfies Held);
}

/** Write the record back into the target (creating its mapping the first time). */
export async function saveRecord(session: Session): Promise<void> {
  const target = session.requireTarget();
  const w = await recordWrite(session);
  native().writeMemory(target.pid, w.address, w.bytes);
}

export const hexOf = (v: bigint) => '0x' + v.toString(16);
export const big = (s: string) => BigInt(s);
