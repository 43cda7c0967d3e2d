// Before a load touches the target: whether each load method would accept the library, so a refusal names the other only when it would work.
//
// Both verdicts come from the file and the bindings alone (no remote call): dlopen is refused for references
// its dynamic linker cannot bind and hotpatch cannot fill, or a target without dlopen; map is refused by the map
// planner's own checks, run on a trial base (only a placement problem, a PC32 distance, depends on the real one).
import { HotpatchError, toHotpatchError } from '../errors.js';
import type { ElfFile } from '../elf/types.js';
import type { PatchContext } from './context.js';
import { mapBinder, type BindReport } from './binding.js';
import { planMapLoad } from './mapplan.js';
import { findFunction } from './functions.js';
import { planHiddenSlots, type HiddenSlot } from './slots.js';

export type LoadMethod = 'dlopen' | 'map';

export interface MethodCheck {
  /** The GOT slots to fill after dlopen (empty for map). */
  slots: HiddenSlot[];
  /**
   * Words to end a hint with when this method fails at run time (a timeout, a refused mmap): the other method, but
   * only when it accepts this file; '' when it does not. Asked only on such a failure: a rollout to many processes
   * does not plan a map load in each just to have the words ready.
   */
  otherWay(): string;
}

/** A page-aligned base for the trial plan (any will do: only a PC32 distance depends on it, and that is not a refusal). */
const TRIAL_BASE = 0x5555_0000_0000n;

/** Why dlopen cannot load this library into this target (undefined: it can), and the slots to fill if it can. */
export function dlopenRefusal(session: PatchContext, elf: ElfFile, report: BindReport): { refusal?: HotpatchError; slots: HiddenSlot[] } {
  const target = session.requireTarget();
  // The dynamic linker cannot see locals: such references must be weak so dlopen(RTLD_NOW) succeeds; we fill them after.
  const strongHidden = report.bindings.filter((b) => b.hidden && !b.chosen && elf.dynamicSymbols().some((s) => s.name === b.name && !s.defined && s.bind !== 'weak'));
  if (strongHidden.length) {
    const names = strongHidden.map((b) => b.name);
    return {
      slots: [],
      refusal: new HotpatchError(
        'E_NEEDS_WEAK',
        `${names.join(', ')} ${names.length === 1 ? 'is' : 'are'} not exported by the target (${strongHidden.map((b) => b.description).join(', ')}), so dlopen cannot bind ${names.length === 1 ? 'it' : 'them'}`,
        `declare ${names.map((n) => `extern … ${n} __attribute__((weak))`).join('; ')} in the patch`,
      ),
    };
  }
  if (!findFunction(session, ['dlopen', '__libc_dlopen_mode'])) {
    return { slots: [], refusal: new HotpatchError('E_NO_DLOPEN', `process ${target.pid} has no dlopen (libc not loaded, or a static binary)`) };
  }
  try {
    return { slots: planHiddenSlots(session.arch, elf, report) };
  } catch (err) {
    if (err instanceof HotpatchError) return { slots: [], refusal: err };
    throw err;
  }
}

/** Why the map loader cannot load this library (undefined: it can, wherever the library lands within reach). */
export function mapRefusal(elf: ElfFile, report: BindReport): HotpatchError | undefined {
  try {
    planMapLoad(elf, TRIAL_BASE, mapBinder(report));
    return undefined;
  } catch (err) {
    const e = toHotpatchError(err);
    return e.code === 'E_RELOC_OVERFLOW' ? undefined : e;
  }
}

/**
 * Throws the chosen method's refusal, its hint ending with the other method when that one accepts the file, or
 * with why it does not either (never sending the user to a method that refuses too). Otherwise says what to add
 * to the hints of a failure at run time.
 */
export function checkLoadMethods(session: PatchContext, elf: ElfFile, report: BindReport, method: LoadMethod): MethodCheck {
  const dlopen = dlopenRefusal(session, elf, report);
  const own = method === 'dlopen' ? dlopen.refusal : mapRefusal(elf, report);
  const otherRefusal = () => (method === 'dlopen' ? mapRefusal(elf, report) : dlopen.refusal);
  const otherMethod: LoadMethod = method === 'dlopen' ? 'map' : 'dlopen';
  if (own) {
    const other = otherRefusal();
    // Said once when both refuse for the same reason (a thread-local variable hotpatch cannot place, say).
    const why = (e: HotpatchError) => (e.message.startsWith(`${elf.path}: `) ? e.message.slice(elf.path.length + 2) : e.message);
    const otherReason = other ? why(other).slice(why(other).lastIndexOf(': ') + 2) : '';
    const sameReason = otherReason.length > 20 && own.message.includes(otherReason);
    const ending = !other
      ? `; or load it with --method ${otherMethod}, which accepts it`
      : sameReason ? `; the ${otherMethod} loader cannot either, for the same reason` : `; the ${otherMethod} loader refuses it too: ${why(other)}`;
    throw new HotpatchError(own.code, own.message, (own.hint ?? `${method} cannot load it`) + ending);
  }
  return { slots: dlopen.slots, otherWay: () => (otherRefusal() ? '' : `, or use --method ${otherMethod}`) };
}
