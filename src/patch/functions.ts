// Functions of the target's own libraries the patch stages call (dlopen, dlerror, dlclose), found by name.
import type { PatchContext } from './context.js';
import type { Module } from '../symbols/types.js';

/** The first of `names` defined as a function, libc's (or `preferModule`'s) definition first, then any exported one. */
export function findFunction(session: PatchContext, names: string[], preferModule = /\/libc[.-]/): { address: bigint; name: string; module: Module } | undefined {
  const space = session.space();
  for (const name of names) {
    const hits = space.names.lookup(name).filter((s) => s.type === 'func' || s.type === 'ifunc');
    const hit = hits.find((s) => preferModule.test(space.modules.find((m) => m.name === s.module)?.path ?? '')) ?? hits.find((s) => s.bind !== 'local');
    if (hit) return { address: hit.address, name, module: space.modules.find((m) => m.name === hit.module)! };
  }
  return undefined;
}
