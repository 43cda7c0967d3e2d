// One JSON object per command on its own line; bigints as "0x…" strings, buffers as hex.
import type { Outcome } from './runner.js';

/** `source`: where the command came from (`explore.hp:3`), for one read from a -x file. */
export function jsonLine(o: Outcome, source?: string): string {
  const obj: Record<string, unknown> = { command: o.command, ok: o.ok };
  if (source) obj.source = source;
  if (o.ok) {
    if (o.result?.changed !== undefined) obj.changed = o.result.changed;
    obj.result = o.result?.data ?? null;
    if (o.result?.notes) obj.notes = o.result.notes;
    const p = o.result?.pause;
    const tenth = (us: number) => Math.round(us * 10) / 10;
    if (p) obj.pause = { micros: tenth(p.micros), threads: p.threads, ...(p.stops ? { stops: p.stops, longestMicros: tenth(p.longestMicros ?? p.micros) } : {}) };
  } else {
    obj.error = { code: o.error!.code, message: o.error!.message, ...(o.error!.hint ? { hint: o.error!.hint } : {}) };
  }
  return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}
