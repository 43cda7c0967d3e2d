// The shapes of the live address space: modules as mapped in the target, symbols at run-time addresses.
import type { ElfSymbol } from '../elf/types.js';

export type { MapEntry } from '../process/maps.js';
import type { MapEntry } from '../process/maps.js';

export interface Module {
  /** Basename of the mapped file: the name users type before '!'. */
  name: string;
  path: string;
  /** Run-time address = file virtual address + loadBias. */
  loadBias: bigint;
  /** Lowest and highest mapped address of the module. */
  start: bigint;
  end: bigint;
  maps: MapEntry[];
}

export interface RuntimeSymbol {
  name: string;
  /** Run-time address (load bias applied). */
  address: bigint;
  size: number;
  type: ElfSymbol['type'];
  bind: ElfSymbol['bind'];
  /** Source file of a local symbol (from STT_FILE). */
  file?: string;
  module: string;
  table: ElfSymbol['table'];
}

/** An address given back with its best name: `module!sym+off` pieces. */
export interface Symbolized {
  address: bigint;
  module?: string;
  symbol?: RuntimeSymbol;
  offset: bigint;
}

/**
 * A thread-local variable (STT_TLS): every thread has its own copy, so it has no single address. `offset` is its
 * st_value, the offset in its module's TLS block (the PT_TLS image); where a thread's block lies is up to ld.so.
 */
export interface ThreadLocalSymbol {
  name: string;
  offset: bigint;
  size: number;
  bind: ElfSymbol['bind'];
  /** Source file of a local (`static __thread`) one. */
  file?: string;
  module: string;
  /** The module is the main executable (TLS module 1, its block at a fixed distance below the thread pointer). */
  executable: boolean;
  /** In the module's .dynsym and not local: the dynamic linker can bind it. */
  exported: boolean;
  /** The module's PT_TLS segment, when the file has one. */
  segment?: { vaddr: bigint; memsz: bigint; align: bigint };
}
