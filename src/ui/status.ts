// The status line's facts about the target, read from the session, and the line they make.
import type { Session } from '../session.js';
import type { Pause } from '../process/target.js';
import { pauseText } from '../cli/render-plain.js';
import { lineLength, type StyledLine } from './lines.js';

export interface TargetStatus {
  attached: boolean;
  pid?: number;
  name?: string;
  threads?: number;
  frozen?: boolean;
  pause?: Pause;
  patches?: number;
  /** The pid of a target that went away, for "no process attached (1234 exited)". */
  gone?: number;
  explain: boolean;
}

export function targetStatus(session: Session): TargetStatus {
  const t = session.target;
  if (!t || !t.attached) return { attached: false, gone: t?.pid, explain: session.explain };
  let threads: number | undefined;
  try {
    threads = t.threads().length;
  } catch {
    threads = undefined;
  }
  return { attached: true, pid: t.pid, name: t.name, threads, frozen: t.isFrozen, pause: t.lastPause, patches: appliedPatches(session), explain: session.explain };
}

/** Patches in the attachment's copy of the patch record, once a patch command has read it (never read for the status). */
function appliedPatches(session: Session): number | undefined {
  try {
    return session.attachment().record?.record.patches.length;
  } catch {
    return undefined;
  }
}

/** One status part and how readily it goes when the line is too narrow (higher goes first). */
interface Part {
  line: StyledLine;
  dropOrder: number;
}

/** The status line in `width` columns: the least needed parts are left out first. */
export function statusLine(st: TargetStatus, width = Number.MAX_SAFE_INTEGER): StyledLine {
  const parts: Part[] = [];
  const add = (dropOrder: number, ...line: StyledLine) => parts.push({ line, dropOrder });
  if (!st.attached) {
    add(0, { text: st.gone ? `no process attached (${st.gone} is gone)` : 'no process attached', role: 'warn' });
    add(3, { text: 'attach PID · tour · help · quit' });
  } else {
    add(0, { text: `pid ${st.pid} ${st.name}`, role: 'heading' });
    if (st.threads !== undefined) add(2, { text: `${st.threads} thread${st.threads === 1 ? '' : 's'}` });
    add(0, st.frozen ? { text: 'stopped', role: 'warn' } : { text: 'running', role: 'ok' });
    if (st.patches !== undefined) add(st.patches > 0 ? 1 : 3, { text: `${st.patches} patch${st.patches === 1 ? '' : 'es'}` });
    if (st.pause) add(1, { text: pauseText(st.pause).replace(/ \(.*\)$/, '') });
  }
  add(st.explain ? 1 : 4, { text: `explain ${st.explain ? 'on' : 'off'}`, role: st.explain ? 'ok' : 'dim' });
  for (let drop = 4; drop > 0 && lineLength(join(parts)) > width; drop--) {
    for (let i = parts.length - 1; i >= 0 && lineLength(join(parts)) > width; i--) if (parts[i]!.dropOrder === drop) parts.splice(i, 1);
  }
  return join(parts);
}

function join(parts: Part[]): StyledLine {
  const line: StyledLine = [{ text: ' ' }];
  parts.forEach((p, i) => line.push(...(i > 0 ? [{ text: ' │ ', role: 'dim' as const }] : []), ...p.line));
  return line;
}
