// What the patch stages need of the console's session: the attachment (target, record), its address space and
// names, and how to read what a user typed. src/session.ts implements it; the patch layer imports no session.
import type { Arch } from '../arch/types.js';
import type { Target } from '../process/target.js';
import type { AddressSpace } from '../symbols/space.js';
import type { NamingContext, ResolvedAddress } from '../symbols/resolve.js';
import type { Module, RuntimeSymbol, Symbolized } from '../symbols/types.js';
import type { HeldRecord } from './record.js';

/**
 * What belongs to one attachment: made on attach, dropped on detach, made anew when the process calls exec (the image
 * it described is gone). Nothing of it can outlive its process, so a recycled pid starts from nothing.
 */
export interface Attachment {
  readonly target: Target;
  /** The patch record as this session holds it (src/patch/record.ts). */
  record?: HeldRecord;
}

export interface PatchContext {
  readonly arch: Arch;
  /** The process attached, if any (it may have exited since: see requireTarget). */
  readonly target: Target | undefined;
  requireTarget(): Target;
  /** The attachment to a live process, or the error that says why there is none. */
  attachment(): Attachment;
  space(): AddressSpace;
  /** After libraries came or went: the next space() reads the modules again. */
  invalidateSpace(): void;
  /** An address expression (`counter.c:tick`, `libc.so.6!getpid+4`, `$rip`) to one address. */
  resolve(text: string): Promise<ResolvedAddress>;
  symbolize(address: bigint): Symbolized;
  /** `sym+0x10` / `module+0x123` / `0x…` for an address. */
  describe(address: bigint): string;
  /** What naming a symbol needs: the modules, and the `#ID` of each library hotpatch loaded. */
  naming(space?: AddressSpace): NamingContext & { index: AddressSpace['names']; modules: Module[] };
  /** Of several definitions of one name, the one the dynamic linker binds for the program, if one is. */
  linkerChoice(candidates: readonly RuntimeSymbol[], space?: AddressSpace): RuntimeSymbol | undefined;
}
