// One JSON object per command on its own line; bigints as "0x…" strings, buffers as hex.
import type { Outcome } from './runner.js';

export function jsonLine(o: Outcome): string {
  const obj: Record<string, unknown> = { command: o.command, ok: o.ok };
  if (o.ok) {
    obj.result = o.result?.data ?? null;
    if (o.result?.pause) obj.pause = { micros: Math.round(o.result.pause.micros * 10) / 10, threads: o.result.pause.threads };
  } else {
    obj.error = { code: o.error!.code, message: o.error!.message, ...(o.error!.hint ? { hint: o.error!.hint } : {}) };
  }
  return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}
