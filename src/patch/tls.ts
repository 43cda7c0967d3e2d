// A patch's references to the target's thread-local variables: what their TLS relocations hold, or why hotpatch cannot fill them.
//
// A patch built with -fPIC reaches `extern __thread int x` through a GOT pair (module id, offset in that module's
// TLS block) handed to __tls_get_addr (general dynamic); built -ftls-model=initial-exec, through one GOT word, the
// variable's distance from the thread pointer. For the executable both are known without asking ld.so: glibc gives
// it TLS module id 1, and its block lies at a fixed distance below the thread pointer (the arch module computes it
// from PT_TLS as ld.so does). For a library's variable they depend on ld.so's bookkeeping in the target (its module
// id, its place in static TLS): hotpatch does not fill those; the dynamic linker does when the variable is exported
// and the library is dlopen'ed.
import type { Arch } from '../arch/types.js';
import type { ThreadLocalSymbol } from '../symbols/types.js';

/** glibc numbers TLS modules from 1, the executable first when it has a PT_TLS (rtld's first _dl_next_tls_modid). */
export const EXECUTABLE_TLS_MODULE = 1n;

/** What a relocation against one thread-local variable can be filled with. */
export interface TlsTarget {
  /** The module defining it (a basename, as in `module!name`). */
  module: string;
  /** Its st_value: the offset in its module's TLS block (DTPOFF, before the addend). */
  offset: bigint;
  /** Its module's TLS module id (DTPMOD), when hotpatch knows it. */
  moduleId?: bigint;
  /** Its distance from the thread pointer (TPOFF, before the addend), when hotpatch knows it. */
  threadPointerOffset?: bigint;
  /** Why moduleId and threadPointerOffset are unknown: one sentence naming what is supported. */
  unknownWhy?: string;
}

/** The fill values of a variable: known for the executable's own variables only. */
export function tlsTargetOf(arch: Arch, sym: ThreadLocalSymbol): TlsTarget {
  const target: TlsTarget = { module: sym.module, offset: sym.offset };
  if (sym.executable && sym.segment) {
    target.moduleId = EXECUTABLE_TLS_MODULE;
    target.threadPointerOffset = arch.executableThreadPointerOffset(sym.segment, sym.offset);
  } else {
    target.unknownWhy = sym.executable
      ? `${sym.name} is thread-local but ${sym.module} has no PT_TLS segment`
      : `${sym.name} is a thread-local variable of ${sym.module}, not of the executable; hotpatch fills references to the executable's thread-local variables only`;
  }
  return target;
}

/** The three TLS relocation roles of a machine: module id, offset in the block, offset from the thread pointer. */
export type TlsRole = 'module' | 'offset' | 'threadPointer';

export function tlsRoleOf(arch: Arch, type: number): TlsRole | undefined {
  const t = arch.relocTypes;
  return type === t.dtpMod ? 'module' : type === t.dtpOff ? 'offset' : type === t.tpOff ? 'threadPointer' : undefined;
}

/** The 64-bit word a TLS relocation of `role` against `target` holds, or the reason it cannot be filled. */
export function tlsSlotValue(role: TlsRole, target: TlsTarget, addend: bigint): { value: bigint } | { refused: string } {
  switch (role) {
    case 'module':
      // ld.so ignores the addend of a module-id relocation.
      return target.moduleId !== undefined ? { value: target.moduleId } : { refused: target.unknownWhy ?? 'its TLS module id is unknown' };
    case 'offset':
      return { value: BigInt.asUintN(64, target.offset + addend) };
    case 'threadPointer':
      return target.threadPointerOffset !== undefined
        ? { value: BigInt.asUintN(64, target.threadPointerOffset + addend) }
        : { refused: target.unknownWhy ?? 'its offset from the thread pointer is unknown' };
  }
}
