// The patch record kept inside the target: a small mapping of ours with a magic header and a versioned JSON table,
// so a later session (another hotpatch process) finds what was loaded and patched.
import { HotpatchError, toHotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import type { PatchContext } from './context.js';
import { mmapFailure, PROT } from '../process/steps.js';
import { choosePlace, confirmPages, executableStart, pagePlan, undoPages, type PagePlan } from '../process/pages.js';

const MAGIC = Buffer.from('HOTPATCH', 'latin1');
/** 2: addresses are JSON numbers; 1 (still read) had them as hex strings. */
export const RECORD_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
/** An unusual size, so few anonymous mappings need a look when searching for the record. */
export const RECORD_SIZE = 0x11000n;
const HEADER = 16;

export interface LoadedLibrary {
  id: number;
  path: string;
  name: string;
  method: 'dlopen' | 'map';
  /** Run-time address of the library's first byte (its load bias for a normal .so). */
  base: bigint;
  loadBias: bigint;
  size?: bigint;
  handle?: bigint;
  /** `address` for a reference to memory; `tlsOffset` (offset in its module's TLS block) for a thread-local variable. */
  bindings: { name: string; address?: bigint; tlsOffset?: bigint; description: string; hidden: boolean }[];
  loadedAt: string;
  /** The sha256 of the file when it was loaded (hex): loading the same content again changes nothing. */
  sha256?: string;
  /**
   * Listed before the load starts, in the same stop: a tool killed in the middle leaves this mark, and `cleanup`
   * (or `unload`) takes out whatever of the library got in.
   */
  pending?: boolean;
  /** map: the segments as planned (start, size, protection), so an interrupted load can be unmapped exactly. */
  segments?: { start: bigint; size: bigint; prot: string }[];
}

export interface PatchEntry {
  id: number;
  kind: 'jump' | 'got';
  /** The function (its entry, or the implementation an ifunc's resolver picked). */
  from: bigint;
  fromName: string;
  to: bigint;
  toName: string;
  /**
   * jump: where the jump is written: FROM, or past the endbr64 kept there (absent in records before this field:
   * FROM). The bytes there before and after, in hex (the same for every layer of a stack over a hop).
   */
  at?: bigint;
  before: string;
  after: string;
  /**
   * jump: a 2-byte entry jump leads to these 5 bytes of padding, which hold the jump to this layer's TO (or its
   * veneer): what they held before, and while this layer is on top.
   */
  hop?: { address: bigint; before: string; after: string };
  /** jump: the patch of the same function this one was stacked on (its hp_orig_ runs that one); absent: the original. */
  below?: number;
  jumpKind?: 'rel32' | 'veneer' | 'abs14';
  trampoline?: bigint;
  trampolineBytes?: string;
  veneer?: bigint;
  origPointer?: { address: bigint; before: string };
  slots?: { address: bigint; module: string; before: string }[];
  /** A library this patch needs loaded. */
  library?: string;
  /**
   * Made by `patch FUNC --from FILE.c`: the fix's source file, the sha256 of its text (12 hex digits), and the library
   * compiled from it, which `revert` unloads with the patch.
   */
  fix?: { source: string; hash: string; library: string };
  appliedAt: string;
}

export interface CodeArea {
  start: bigint;
  size: bigint;
  used: bigint;
}

export interface PatchRecord {
  version: number;
  nextId: number;
  libraries: LoadedLibrary[];
  patches: PatchEntry[];
  areas: CodeArea[];
}

/** The record as one attachment holds it (Session.attachment().record): found in the target once, kept after. */
export interface HeldRecord {
  /** Its page in the target; undefined while the target has none. */
  address?: bigint;
  record: PatchRecord;
}

export function emptyRecord(): PatchRecord {
  return { version: RECORD_VERSION, nextId: 1, libraries: [], patches: [], areas: [] };
}

/** The fields that hold addresses, sizes and offsets: numbers in memory as bigint, in the record as JSON numbers. */
const NUMERIC = new Set(['base', 'loadBias', 'size', 'handle', 'address', 'tlsOffset', 'start', 'used', 'from', 'to', 'at', 'trampoline', 'veneer']);

/** The record's body as written: bigints as numbers (exact below 2^53, as every user-space address is), else strings. */
export function encodeRecordBody(record: PatchRecord): string {
  return JSON.stringify({ ...record, version: RECORD_VERSION }, (_k, v) => (typeof v === 'bigint' ? (v >= -(1n << 53n) && v < 1n << 53n ? Number(v) : hex(v)) : v));
}

/** The body read back (version 1's hex strings too). */
export function decodeRecordBody(text: string): PatchRecord {
  const record = JSON.parse(text, (k, v) => (NUMERIC.has(k) && (typeof v === 'number' || typeof v === 'string') ? BigInt(v) : v)) as PatchRecord;
  record.version = RECORD_VERSION;
  return record;
}

function held(session: PatchContext): HeldRecord {
  const attachment = session.attachment();
  if (!attachment.record) {
    const found = findRecord(session);
    attachment.record = { address: found?.address, record: found?.record ?? emptyRecord() };
  }
  return attachment.record;
}

/** The record of the attached process: found in the target once, then kept with the attachment. */
export function loadRecord(session: PatchContext): PatchRecord {
  return held(session).record;
}

function findRecord(session: PatchContext): { address: bigint; record: PatchRecord } | undefined {
  const target = session.requireTarget();
  for (const m of target.maps()) {
    if (m.path !== '' || m.end - m.start !== RECORD_SIZE || !m.perms.startsWith('rw')) continue;
    const head = target.readMemory(m.start, HEADER);
    if (head.length < HEADER || !head.subarray(0, 8).equals(MAGIC)) continue;
    const version = head.readUInt32LE(8);
    if (!READABLE_VERSIONS.includes(version)) {
      throw new HotpatchError('E_RECORD_VERSION', `the patch record in process ${target.pid} has version ${version}; this hotpatch reads ${READABLE_VERSIONS.join(' and ')}`, 'use the hotpatch version that made the patches');
    }
    const len = head.readUInt32LE(12);
    const body = target.readExact(m.start + BigInt(HEADER), len);
    try {
      return { address: m.start, record: decodeRecordBody(body.toString('utf8')) };
    } catch {
      throw new HotpatchError('E_RECORD_CORRUPT', `the patch record at ${hex(m.start)} is damaged`, 'patches cannot be listed; revert by address with poke');
    }
  }
  return undefined;
}

/**
 * The write that puts the record into the target (its page is made first, holding the record as it stood, when the
 * target has none), not yet done: a patch writes it in the same stop as its code, so no kill of the tool can leave a
 * jump the record does not list.
 */
export async function recordWrite(session: PatchContext): Promise<{ address: bigint; bytes: Buffer }> {
  const h = held(session);
  if (h.address === undefined) {
    const target = session.requireTarget();
    const tid = target.borrowThread();
    const page = recordPagePlan(session, h);
    try {
      await target.runSteps(tid, page.steps);
    } catch (err) {
      await undoPages(target, tid, [page], page.steps, err);
      throw mmapFailure(toHotpatchError(err), target.pid, 'patch record');
    }
    const bad = await confirmPages(target, tid, [page]);
    if (bad.length) throw new HotpatchError('E_PAGE_CHECK', 'the patch record’s new page did not hold what was written; it was unmapped again', 'try again');
  }
  return { address: h.address!, bytes: encodeRecord(h.record) };
}

/**
 * The record as it stands, written at the head of a plan that runs anyway (a load): when the target has no record
 * page yet, the page is made there too (one stop fewer). A load lists its library (as pending) before it starts, so
 * a tool killed in the middle leaves a record that names what to clean up.
 */
export function recordPagePlanOrWrite(session: PatchContext): PagePlan {
  const h = held(session);
  if (h.address === undefined) return recordPagePlan(session, h);
  return { steps: [{ kind: 'write', address: h.address, bytes: encodeRecord(h.record) }], adopt() {} };
}

/**
 * For a plan that writes the record with its code (redirect, revert): the record's page first, when the target has
 * none (made in the plan's own first stop, holding the record as it stands, so it carries the magic from birth), and
 * the record's bytes as they stand when asked.
 */
export function recordUpdate(session: PatchContext): { page: PagePlan; write(): { address: bigint; bytes: Buffer } } {
  const h = held(session);
  const page = h.address !== undefined ? { steps: [], adopt() {} } : recordPagePlan(session, h);
  const at = h.address ?? page.address!;
  return { page, write: () => ({ address: at, bytes: encodeRecord(h.record) }) };
}

function recordPagePlan(session: PatchContext, h: HeldRecord): PagePlan {
  const target = session.requireTarget();
  const at = choosePlace(target, RECORD_SIZE, [executableStart(target) ?? 0x555555554000n], 1n << 46n);
  if (at === undefined) throw new HotpatchError('ENOMEM', 'no room in the target for the patch record');
  const page = { what: 'patch record', address: at, size: RECORD_SIZE, prot: PROT.READ | PROT.WRITE, bytes: encodeRecord(h.record) };
  return pagePlan(page, () => (h.address = at), () => {
    if (h.address === at) h.address = undefined;
  });
}

function encodeRecord(record: PatchRecord): Buffer {
  const body = Buffer.from(encodeRecordBody(record), 'utf8');
  if (body.length + HEADER > Number(RECORD_SIZE)) throw new HotpatchError('E_RECORD_FULL', 'the patch record is full', 'revert some patches');
  const head = Buffer.alloc(HEADER);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(RECORD_VERSION, 8);
  head.writeUInt32LE(body.length, 12);
  return Buffer.concat([head, body]);
}

/** The record's page in the target, if it has one. */
export function recordPage(session: PatchContext): { start: bigint; size: bigint } | undefined {
  const h = held(session);
  return h.address === undefined ? undefined : { start: h.address, size: RECORD_SIZE };
}

/** After the record's page was unmapped: an empty record with no page (a later save makes one again). */
export function forgetRecordPage(session: PatchContext): void {
  session.attachment().record = { record: emptyRecord() };
}

/** Write the record back into the target (creating its mapping the first time). */
export async function saveRecord(session: PatchContext): Promise<void> {
  const w = await recordWrite(session);
  session.requireTarget().writeMemory(w.address, w.bytes);
}
