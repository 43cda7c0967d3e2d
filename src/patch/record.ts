// The patch record kept inside the target: a small mapping of ours with a magic header and a versioned JSON table,
// so a later session (another hotpatch process) finds what was loaded and patched.
import { HotpatchError, toHotpatchError } from '../errors.js';
import type { Session } from '../session.js';
import { readMaps } from '../symbols/maps.js';
import { chooseThread, mmapFailure, PROT } from './remote.js';
import { choosePlace, confirmPreludes, pagePrelude, undoPreludes, type Prelude } from './pages.js';

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
  /**
   * Listed before the load starts, in the same stop: a tool killed in the middle leaves this mark, and `cleanup`
   * (or `unload`) takes out whatever of the library got in.
   */
  pending?: boolean;
  /** map: the segments as planned (start, size, protection), so an interrupted load can be unmapped exactly. */
  segments?: { start: string; size: string; prot: string }[];
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
 * The write that puts the record into the target (its page is made first, holding the record as it stood, when the
 * target has none), not yet done: a patch writes it in the same stop as its code, so no kill of the tool can leave a
 * jump the record does not list.
 */
export async function recordWrite(session: Session): Promise<{ address: bigint; bytes: Buffer }> {
  loadRecord(session);
  const held = session.state.get('record') as Held;
  if (held.address === undefined) {
    const tid = chooseThread(session);
    const page = recordPagePrelude(session, tid, held);
    try {
      await session.requireTarget().run({ stopAll: false, ops: page.ops });
    } catch (err) {
      await undoPreludes(session, tid, [page], page.ops, err);
      throw mmapFailure(toHotpatchError(err), session.requireTarget().pid, 'patch record');
    }
    const bad = await confirmPreludes(session, tid, [page]);
    if (bad.length) throw new HotpatchError('E_PAGE_CHECK', 'the patch record’s new page did not hold what was written; it was unmapped again', 'try again');
  }
  return { address: held.address!, bytes: encodeRecord(held.record) };
}

/**
 * The record as it stands, written at the head of a plan that runs anyway (a load): when the target has no record
 * page yet, the page is made there too (one stop fewer). A load lists its library (as pending) before it starts, so
 * a tool killed in the middle leaves a record that names what to clean up.
 */
export function recordPrelude(session: Session, tid: number): Prelude {
  loadRecord(session);
  const held = session.state.get('record') as Held;
  if (held.address === undefined) return recordPagePrelude(session, tid, held);
  return { ops: [{ kind: 'write', addr: held.address, data: encodeRecord(held.record) }], adopt() {} };
}

/**
 * For a plan that writes the record with its code (redirect, revert): the record's page first, when the target has
 * none (made in the plan's own first stop, holding the record as it stands, so it carries the magic from birth), and
 * the record's bytes as they stand when asked.
 */
export function recordUpdate(session: Session, tid: number): { prelude: Prelude; write(): { address: bigint; bytes: Buffer } } {
  loadRecord(session);
  const held = session.state.get('record') as Held;
  const prelude = held.address !== undefined ? { ops: [], adopt() {} } : recordPagePrelude(session, tid, held);
  const at = held.address ?? prelude.address!;
  return { prelude, write: () => ({ address: at, bytes: encodeRecord(held.record) }) };
}

function recordPagePrelude(session: Session, tid: number, held: Held): Prelude {
  const at = recordAddress(session);
  const page = { what: 'patch record', address: at, size: RECORD_SIZE, prot: PROT.READ | PROT.WRITE, bytes: encodeRecord(held.record) };
  return pagePrelude(session, tid, page, () => (held.address = at), () => {
    if (held.address === at) held.address = undefined;
  });
}

function recordAddress(session: Session): bigint {
  const main = session.space().main;
  const near = main ? [main.start] : [0x555555554000n];
  const at = choosePlace(session, RECORD_SIZE, near, 1n << 46n);
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
  const w = await recordWrite(session);
  session.requireTarget().writeMemory(w.address, w.bytes);
}

export { hex as hexOf } from '../hex.js';
export const big = (s: string) => BigInt(s);
