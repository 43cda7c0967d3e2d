// Picks the architecture module for the machine hotpatch runs on (targets are native processes of the same kind).
import { HotpatchError } from '../errors.js';
import type { Arch } from './types.js';
import { x86_64 } from './x86_64/index.js';

/** The architecture module for ELF files of machine `machine` (e_machine), when hotpatch has one. */
export function archForMachine(machine: number): Arch | undefined {
  return machine === x86_64.elfMachine ? x86_64 : undefined;
}

export function currentArch(): Arch {
  if (process.arch === 'x64') return x86_64;
  throw new HotpatchError('E_ARCH', process.arch === 'arm64' ? 'aarch64 not supported yet' : `${process.arch} is not supported`,
    'hotpatch runs on Linux x86-64 for now');
}
