// Taking hotpatch's own things back out of the target: what a failed or killed command left (an interrupted load, a
// code area or stub page no record lists), and once nothing of ours is in use, the code areas (trampolines, veneers),
// the return stub and the record itself, so the memory map is as it was before the first command.
import { readFileSync } from 'node:fs';
import { HotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import type { PatchContext } from './context.js';
import { readMaps } from '../process/maps.js';
import { listThreads } from '../process/procfs.js';
import { munmapStep, syscallFailed, syscallError } from '../process/steps.js';
import { stubPage, forgetStubPage, isStubPage, STUB_PAGE_SIZE } from '../process/stub.js';
import { loadRecord, recordPage, forgetRecordPage, saveRecord, RECORD_SIZE } from './record.js';
import { AREA_MAGIC } from './area.js';
import { removeInterruptedLoad, STACK_GUARD_BYTES } from './loader.js';

export interface OwnPage {
  what: 'code area' | 'return stub' | 'record';
  start: bigint;
  size: bigint;
  /** No record lists it: a failed or killed command left it. */
  orphan?: boolean;
}

/** Every page hotpatch made in the target that is still there and that this session knows of. */
export function ownPages(session: PatchContext): OwnPage[] {
  const record = loadRecord(session);
  const pages: OwnPage[] = record.areas.map((a) => ({ what: 'code area' as const, start: a.start, size: a.size }));
  const stub = stubPage(session.requireTarget());
  if (stub !== undefined) pages.push({ what: 'return stub', start: stub, size: STUB_PAGE_SIZE });
  const rec = recordPage(session);
  if (rec) pages.push({ what: 'record', ...rec });
  return pages;
}

/**
 * Pages of ours no record lists, found by their magic: a code area mapped by a redirect killed before its record was
 * written, a second stub page, a second record page.
 */
export function orphanPages(session: PatchContext): OwnPage[] {
  const target = session.requireTarget();
  const known = new Set(ownPages(session).map((p) => p.start));
  const found: OwnPage[] = [];
  for (const m of readMaps(target.pid)) {
    if (m.path !== '' || known.has(m.start)) continue;
    const size = m.end - m.start;
    let head: Buffer;
    try {
      head = target.readMemory(m.start, 16);
    } catch {
      continue;
    }
    if (m.perms === 'r-xp' && head.subarray(0, AREA_MAGIC.length).equals(AREA_MAGIC) && head.readBigUInt64LE(8) === size) {
      found.push({ what: 'code area', start: m.start, size, orphan: true });
    } else if (m.perms === 'r-xp' && size === STUB_PAGE_SIZE && isStubPage(target, m.start)) {
      found.push({ what: 'return stub', start: m.start, size, orphan: true });
    } else if (m.perms.startsWith('rw') && size === RECORD_SIZE && head.subarray(0, 8).toString('latin1') === 'HOTPATCH') {
      found.push({ what: 'record', start: m.start, size, orphan: true });
    }
  }
  return found;
}

export interface CleanupOutcome {
  /** Pages unmapped. */
  pages: OwnPage[];
  /** Interrupted loads taken out, each with what was done. */
  interrupted: { name: string; id: number; done: string }[];
  /** Why hotpatch's own pages stayed: patches or libraries still active. */
  kept?: string;
}

/**
 * Interrupted loads and orphan pages are always taken out. Hotpatch's own pages go too once no library loaded by
 * hotpatch and no patch is left (their trampolines, veneers and record entries live there), all in one stop of every
 * thread, none of whose pc may lie inside them. Refused (E_IN_USE) only when something is active and nothing was left.
 */
export async function cleanupProcess(session: PatchContext): Promise<CleanupOutcome> {
  const target = session.requireTarget();
  const record = loadRecord(session);
  const interrupted: CleanupOutcome['interrupted'] = [];
  for (const lib of record.libraries.filter((l) => l.pending)) {
    const done = await removeInterruptedLoad(session, lib);
    record.libraries = record.libraries.filter((l) => l !== lib);
    interrupted.push({ name: lib.name, id: lib.id, done });
  }
  if (interrupted.length) await saveRecord(session);
  const orphans = orphanPages(session);
  const active = record.libraries.length > 0 || record.patches.length > 0;
  let kept: string | undefined;
  if (active) {
    kept = [record.patches.length && `${record.patches.length} patch${record.patches.length === 1 ? '' : 'es'}`, record.libraries.length && `${record.libraries.length} librar${record.libraries.length === 1 ? 'y' : 'ies'}`].filter(Boolean).join(' and ') + ` of hotpatch still in process ${target.pid}`;
    if (orphans.length === 0 && interrupted.length === 0) throw new HotpatchError('E_IN_USE', kept, 'revert all, then unload each library (see patches, libs)');
  }
  const pages = [...orphans, ...(active ? [] : ownPages(session))];
  if (pages.length === 0) return { pages, interrupted, kept };
  if (pages.some((p) => p.what === 'return stub')) refuseWhileInCall(session);
  // Through libc's `syscall`: the stub page's own would unmap the code it stands in.
  const steps = pages.map((p) => munmapStep(p.start, p.size, true));
  // No thread inside them: not its pc, nor a return address near the top of its stack (a trampoline may hold a
  // relocated call).
  const guard = pages.filter((p) => p.what !== 'record').map((p) => [p.start, p.start + p.size] as [bigint, bigint]);
  const results = await target.runSteps(target.borrowThread(), steps, { stopAll: true, guard, guardStackBytes: STACK_GUARD_BYTES });
  session.invalidateSpace();
  const failed = results.findIndex((r) => syscallFailed(r.value) !== undefined);
  if (failed >= 0) throw syscallError(`munmap of the ${pages[failed]!.what} at ${hex(pages[failed]!.start)}`, syscallFailed(results[failed]!.value)!, target.pid);
  if (!active) {
    forgetStubPage(target);
    forgetRecordPage(session);
  }
  return { pages, interrupted, kept };
}

/**
 * A thread still inside a remote call that a hotpatch killed meanwhile had started returns into a stub page: its
 * signal mask shows it (every signal blocked but the stub's own, as the call set it). Such a page must stay.
 */
function refuseWhileInCall(session: PatchContext): void {
  const target = session.requireTarget();
  const stubBit = 1n << BigInt(session.arch.returnStub.signal - 1);
  const unblockable = (1n << 8n) | (1n << 18n); // SIGKILL, SIGSTOP: the kernel never shows them blocked
  const inCall = ((1n << 64n) - 1n) & ~stubBit & ~unblockable;
  for (const tid of listThreads(target.pid)) {
    let mask: bigint | undefined;
    try {
      const m = /^SigBlk:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/${target.pid}/task/${tid}/status`, 'utf8'));
      mask = m ? BigInt('0x' + m[1]) : undefined;
    } catch {
      continue;
    }
    if (mask === inCall) {
      throw new HotpatchError('E_IN_USE', `thread ${tid} is still inside a remote call that returns into hotpatch's stub page (a hotpatch killed during a call started it)`, 'run cleanup again once that call has returned');
    }
  }
}

/**
 * After a failed command: hotpatch's own pages that this command made (the first load into a process makes the record
 * and the stub page in its own stop), unmapped again when nothing of ours uses them, so the map is as it was found.
 */
export async function dropFreshPages(session: PatchContext): Promise<void> {
  const target = session.requireTarget();
  const record = loadRecord(session);
  if (record.libraries.length || record.patches.length || record.areas.length) return;
  const fresh = new Set(target.reservedRanges().map((r) => r.start));
  const pages = ownPages(session).filter((p) => fresh.has(p.start));
  if (pages.length === 0) return;
  await target.runSteps(target.borrowThread(), pages.map((p) => munmapStep(p.start, p.size, true)));
  session.invalidateSpace();
  if (pages.some((p) => p.what === 'return stub')) forgetStubPage(target);
  if (pages.some((p) => p.what === 'record')) forgetRecordPage(session);
}
