// The GOT slots hotpatch fills after the target's dlopen, for references its dynamic linker cannot see: planned before the call.
//
// ld.so binds what is exported; a reference to a local (the program's statics, `static __thread` variables) or to
// an --bind choice stays as the file has it (weak, so dlopen succeeds) and hotpatch writes it afterwards. Every
// slot is computed here from the file and the bindings alone, so a relocation that cannot be filled is refused
// before anything happens in the target (a refusal after dlopen would leave the library loaded and unrecorded).
import type { Arch } from '../arch/types.js';
import { HotpatchError } from '../errors.js';
import type { ElfFile } from '../elf/types.js';
import type { Binding, BindReport } from './binding.js';
import { tlsRoleOf, tlsSlotValue } from './tls.js';

export interface HiddenSlot {
  /** The slot's file virtual address: add the load bias dlopen chose. */
  offset: bigint;
  value: bigint;
  binding: Binding;
}

/** The slots to write after dlopen. Throws E_UNSUPPORTED_RELOC (every unfillable reference named) or E_TLS_MISMATCH. */
export function planHiddenSlots(arch: Arch, elf: ElfFile, report: BindReport): HiddenSlot[] {
  const hidden = new Map(report.bindings.filter((b) => b.hidden).map((b) => [b.name, b]));
  const types = arch.relocTypes;
  const slots: HiddenSlot[] = [];
  const refused: string[] = [];
  let tlsRefused = false;
  for (const r of elf.relocations()) {
    const b = hidden.get(r.symName);
    if (!b) continue;
    const role = tlsRoleOf(arch, r.type);
    if (role && !b.tls) {
      throw new HotpatchError('E_TLS_MISMATCH', `${elf.path}: ${arch.relocationName(r.type)} treats ${r.symName} as thread-local, but ${b.description} is not thread-local in the target`,
        'declare it without __thread in the patch');
    }
    if (!role && b.tls) {
      throw new HotpatchError('E_TLS_MISMATCH', `${elf.path}: ${arch.relocationName(r.type)} treats ${r.symName} as an address, but ${b.description} is thread-local in the target`,
        'declare it `extern __thread` in the patch');
    }
    let value: bigint | undefined;
    if (role && b.tls) {
      const filled = tlsSlotValue(role, b.tls, r.addend);
      if ('refused' in filled) {
        refused.push(`${arch.relocationName(r.type)} for ${r.symName}: ${filled.refused}`);
        tlsRefused = true;
      } else {
        value = filled.value;
      }
    } else if (b.address !== undefined) {
      if (r.type === types.globDat || r.type === types.jumpSlot) value = b.address;
      else if (r.type === types.abs64) value = BigInt.asUintN(64, b.address + r.addend);
      else refused.push(`${arch.relocationName(r.type)} for ${r.symName}: hotpatch fills only GLOB_DAT, JUMP_SLOT, 64 and the TLS slots of a dlopen'ed library`);
    }
    if (value !== undefined) slots.push({ offset: r.offset, value, binding: b });
  }
  if (refused.length > 0) {
    throw new HotpatchError('E_UNSUPPORTED_RELOC',
      `${elf.path}: cannot fill after dlopen what the target's dynamic linker cannot see: ${[...new Set(refused)].join('; ')}`,
      tlsRefused ? 'a library\'s thread-local variable must be exported (not static) for the dynamic linker to bind it' : 'export what the patch needs from the program');
  }
  return slots;
}
