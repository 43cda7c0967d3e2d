// Taking hotpatch's own pages out of the target once nothing of ours is in use: the code areas (trampolines,
// veneers), the return stub and the record itself, so the memory map is as it was before the first command.
import { HotpatchError } from '../errors.js';
import type { NativeOp } from '../native.js';
import type { Session } from '../session.js';
import { chooseThread, syscallOp, syscallFailed, syscallError } from './remote.js';
import { loadRecord, recordPage, forgetRecordPage, big } from './record.js';
import { stubPage, forgetStubPage, STUB_PAGE_SIZE } from './returnstub.js';

export interface OwnPage {
  what: 'code area' | 'return stub' | 'record';
  start: bigint;
  size: bigint;
}

/** Every page hotpatch made in the target that is still there. */
export function ownPages(session: Session): OwnPage[] {
  const record = loadRecord(session);
  const pages: OwnPage[] = record.areas.map((a) => ({ what: 'code area' as const, start: big(a.start), size: big(a.size) }));
  const stub = stubPage(session);
  if (stub !== undefined) pages.push({ what: 'return stub', start: stub, size: STUB_PAGE_SIZE });
  const rec = recordPage(session);
  if (rec) pages.push({ what: 'record', ...rec });
  return pages;
}

/**
 * Unmap them all in one stop of every thread, none of whose pc may lie inside them. Refused while a library loaded
 * by hotpatch or a patch is still there: their trampolines, veneers and record entries live in these pages.
 */
export async function removeOwnPages(session: Session): Promise<OwnPage[]> {
  const target = session.requireTarget();
  const record = loadRecord(session);
  if (record.libraries.length || record.patches.length) {
    const what = [record.patches.length && `${record.patches.length} patch${record.patches.length === 1 ? '' : 'es'}`, record.libraries.length && `${record.libraries.length} librar${record.libraries.length === 1 ? 'y' : 'ies'}`].filter(Boolean).join(' and ');
    throw new HotpatchError('E_IN_USE', `${what} of hotpatch still in process ${target.pid}`, 'revert all, then unload each library (see patches, libs)');
  }
  const pages = ownPages(session);
  if (pages.length === 0) return [];
  const tid = chooseThread(session);
  // Through libc's `syscall`: the stub page's own would unmap the code it stands in.
  const ops: NativeOp[] = pages.map((p) => syscallOp(session, tid, session.arch.syscalls.munmap, [p.start, p.size], undefined, { viaLibc: true }));
  const res = await target.run({ stopAll: true, guard: pages.map((p) => [p.start, p.start + p.size] as [bigint, bigint]), ops });
  session.invalidateSpace();
  const failed = res.results.findIndex((r) => syscallFailed(r.value) !== undefined);
  if (failed >= 0) throw syscallError(`munmap of the ${pages[failed]!.what} at 0x${pages[failed]!.start.toString(16)}`, syscallFailed(res.results[failed]!.value)!, target.pid);
  forgetStubPage(session);
  forgetRecordPage(session);
  return pages;
}
