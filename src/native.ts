// Loads the native addon and gives its plain-object API a type; nothing else.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

/** Where a call returns (and a system call on the stub page goes on): the stub that stops for us (src/process/stub.ts). */
export interface NativeReturnPath {
  /** call: return into this stub; syscall: addr is the stub page's own `syscall`, followed by the same stub. */
  returnStub: bigint;
  /** Where the stub stops for us (its stop signal raised on its own thread). */
  stubDone: bigint;
  stubSignal: number;
}

/** One step of a native plan, run on the tracer thread while the target is paused (native/tracer.h, struct Op). */
export type NativeOp =
  | { kind: 'regs'; tid: number }
  | { kind: 'fpregs'; tid: number }
  | { kind: 'setregs'; tid: number; data: Buffer }
  | { kind: 'read'; addr: bigint; len: number }
  /** One thread's registers (result `regs`) and `len` bytes of its stack from its stack pointer (result `data`), in one stop. */
  | { kind: 'stack'; tid: number; len: number }
  | { kind: 'write'; addr: bigint; data: Buffer }
  | ({
      kind: 'call';
      tid: number;
      /** The function. */
      addr: bigint;
      args: bigint[];
      /** Copied onto the thread's stack; argument `stackDataArg` becomes its address. */
      data?: Buffer;
      stackDataArg?: number;
      /** Run only when the previous call or system call returned 0 (dlopen → dlerror). */
      onlyIfPreviousZero?: boolean;
      /** Fail the plan (E_REMOTE_RESULT) unless it returns this. */
      expect?: bigint;
      timeoutMs?: number;
    } & Partial<NativeReturnPath>)
  | ({
      kind: 'syscall';
      tid: number;
      /** A `syscall` instruction: the stub page's own (with the stub fields) or one in libc (single-stepped). */
      addr: bigint;
      sysno: bigint;
      args: bigint[];
      expect?: bigint;
      timeoutMs?: number;
    } & Partial<NativeReturnPath>);

export type OpKind = NativeOp['kind'];

export interface NativePlan {
  stopAll?: boolean;
  keepStopped?: boolean;
  captureThreads?: boolean;
  /** With captureThreads: this many bytes of each thread's stack from its stack pointer, read while it is stopped. */
  captureStackBytes?: number;
  guard?: [bigint, bigint][];
  /** How much of each thread's stack, from its stack pointer, may hold no word inside `guard` (return addresses). */
  guardStackBytes?: number;
  guardAttempts?: number;
  ops: NativeOp[];
}

export interface NativeOpResult {
  ran: boolean;
  value: bigint;
  tid: number;
  data: Buffer;
  /** A `stack` op: the thread's registers. */
  regs?: Buffer;
}

export interface NativePlanResult {
  pauseNs: number;
  workNs: number;
  threadsPaused: number;
  guardRetries: number;
  results: NativeOpResult[];
  threads: { tid: number; regs: Buffer; groupStopped: boolean; stack?: Buffer }[];
}

export interface NativeEvent {
  type: 'exit' | 'exec' | 'thread-start' | 'thread-exit';
  pid: number;
  tid: number;
  status: number;
  signaled: boolean;
}

export interface NativeTracer {
  seize(pid: number): Promise<number[]>;
  detach(): Promise<void>;
  run(plan: NativePlan): Promise<NativePlanResult>;
  resume(): Promise<number>;
  /** A write through the tracer's own /proc/PID/mem (works on read-only pages): the bytes written. */
  writeMemory(addr: bigint, data: Buffer): number;
  close(): void;
}

interface NativeModule {
  Tracer: new (onEvent: (ev: NativeEvent) => void) => NativeTracer;
  readMemory(pid: number, addr: bigint, len: number): Buffer;
  /** Reads into `out` (all of it, or up to the first unmapped page): the bytes read. */
  readMemoryInto(pid: number, addr: bigint, out: Buffer): number;
  /** A pidfd for the process (close-on-exec), or -1 where the kernel has none. */
  pidfdOpen(pid: number): number;
  /** Whether the pidfd's process has exited (a zombie, or reaped). */
  pidfdExited(fd: number): boolean;
  closeFd(fd: number): void;
  /** _exit(code): the process ends at once, without Node's teardown. */
  exitNow(code: number): never;
  /** C++ names (joined by newlines) demangled, joined the same way; an empty line for a name that is not one. */
  demangle(names: string): string;
  /**
   * A raw symbol table screened by a literal (native/symscan.cc): pairs (index, st_name of the nearest STT_FILE
   * entry before it + 1, or 0) for each entry past the first, not STT_SECTION or STT_FILE, whose name starts with
   * `literal` (prefix) or contains it; and their names decoded as UTF-8, each followed by a NUL. Absent from an
   * addon built before it.
   */
  scanSymbols?(entries: Uint8Array, strings: Uint8Array, literal: Buffer, prefix: boolean): [Uint32Array, string];
  /**
   * The same scan over a table and its names mapped from a file (offsets and sizes in the file), and the passing
   * entries' raw bytes (24 each, in the pairs' order); null when the file cannot be mapped, is not the one opened
   * (inode, mtime, size), or the ranges do not lie in it.
   */
  scanSymbolsFile?(path: string, ino: number, mtimeMs: number, size: number, entriesOffset: number, entriesSize: number, stringsOffset: number,
    stringsSize: number, literal: Buffer, prefix: boolean, twins?: NativeTwins): [Uint32Array, string, Buffer, boolean] | null;
  /**
   * The entries of a raw symbol table that hold each of `wanted` (sorted addresses), else the nearest unsized one
   * below (native/symscan.cc): triples (wanted index, entry index, st_name of the nearest STT_FILE before it + 1, or
   * 0). Absent from an addon built before it.
   */
  holdSymbols?(entries: Uint8Array, wanted: Float64Array): Uint32Array;
}


/**
 * For a .dynsym screen: the .symtab results' names (joined by NULs) and values, the bases of their `name@VER` names,
 * and where .gnu.version lies (size 0: none); the scan drops the twins the merge would copy nothing from
 * (src/elf/merge.ts redundantTwins), and says `true` in its fourth element when a collision made it keep them all.
 */
export interface NativeTwins {
  names: string;
  values: Float64Array;
  splitBases: string;
  versymOffset: number;
  versymSize: number;
}

let loaded: NativeModule | undefined;

export function native(): NativeModule {
  loaded ??= createRequire(import.meta.url)(join(packageRoot(), 'build', 'Release', 'hotpatch_native.node')) as NativeModule;
  return loaded;
}

/**
 * One of the addon's optional functions (the symbol-table scans), or undefined when the addon cannot be loaded or
 * predates it: the ELF reader then does the same work in TypeScript, with the same result.
 */
function optional<K extends 'scanSymbols' | 'scanSymbolsFile' | 'holdSymbols' | 'demangle'>(name: K): NativeModule[K] | undefined {
  try {
    const addon = native();
    const fn = addon[name];
    return fn && ((fn as (...a: unknown[]) => unknown).bind(addon) as NativeModule[K]);
  } catch {
    return undefined;
  }
}

/** The addon's symbol-table screen by a literal (see scanSymbols). */
export const nativeSymbolScan = (): NativeModule['scanSymbols'] => optional('scanSymbols');
/** The addon's name screen over a table mapped from its file (see scanSymbolsFile). */
export const nativeSymbolFileScan = (): NativeModule['scanSymbolsFile'] => optional('scanSymbolsFile');
/** The addon's address-holder scan (see holdSymbols). */
export const nativeHolderScan = (): NativeModule['holdSymbols'] => optional('holdSymbols');
/** The addon's C++ demangler (see demangle), or undefined without the addon: names then stay as they are. */
export const nativeDemangler = (): NativeModule['demangle'] | undefined => optional('demangle');
