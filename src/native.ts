// Loads the native addon and gives its plain-object API a type; nothing else.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from './paths.js';

export type OpKind = 'regs' | 'setregs' | 'fpregs' | 'read' | 'write' | 'call' | 'syscall';

export interface NativeOp {
  kind: OpKind;
  tid?: number;
  addr?: bigint;
  len?: number;
  data?: Buffer;
  args?: bigint[];
  sysno?: bigint;
  stackDataArg?: number;
  onlyIfPreviousZero?: boolean;
  expect?: bigint;
  timeoutMs?: number;
  /** call: return into this stub; syscall: addr is the stub page's own `syscall`, followed by the same stub. */
  returnStub?: bigint;
  /** Where the stub stops for us (its stop signal raised on its own thread). */
  stubDone?: bigint;
  stubSignal?: number;
}

export interface NativePlan {
  stopAll?: boolean;
  keepStopped?: boolean;
  captureThreads?: boolean;
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
}

export interface NativePlanResult {
  pauseNs: number;
  workNs: number;
  threadsPaused: number;
  guardRetries: number;
  results: NativeOpResult[];
  threads: { tid: number; regs: Buffer; groupStopped: boolean }[];
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
  close(): void;
}

interface NativeModule {
  Tracer: new (onEvent: (ev: NativeEvent) => void) => NativeTracer;
  readMemory(pid: number, addr: bigint, len: number): Buffer;
  /** Reads into `out` (all of it, or up to the first unmapped page): the bytes read. */
  readMemoryInto(pid: number, addr: bigint, out: Buffer): number;
  writeMemory(pid: number, addr: bigint, data: Buffer): number;
}


let loaded: NativeModule | undefined;

export function native(): NativeModule {
  loaded ??= createRequire(import.meta.url)(join(packageRoot(), 'build', 'Release', 'hotpatch_native.node')) as NativeModule;
  return loaded;
}
