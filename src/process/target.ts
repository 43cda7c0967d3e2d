// The live process: attach without stopping it, pause it only inside one plan, read and write its memory.
import { constants as osConstants } from 'node:os';
import { native, type NativeOp, type NativePlan, type NativePlanResult, type NativeTracer, type NativeEvent } from '../native.js';
import { HotpatchError, processGone, toHotpatchError } from '../errors.js';
import { hex } from '../hex.js';
import { currentArch } from '../arch/index.js';
import type { Arch } from '../arch/types.js';
import { toNativeOp, type Step, type StepResult } from './steps.js';
import { readMaps, type MapEntry } from './maps.js';
import { listThreads, readStat, tracerPid, processName, yamaScope, executablePath } from './procfs.js';

/** How long a checkIdentity() holds (ms). */
const IDENTITY_FRESH_MS = 1;

export interface Pause {
  /** How long the target (or the threads named) stood still, first stop to last resume. */
  micros: number;
  threads: number;
  /** Of that, the work done while stopped. */
  workMicros: number;
  /** A command that stopped the target more than once (a load: mmap, dlopen, the record): how often, and the longest. */
  stops?: number;
  longestMicros?: number;
  /** Times every thread was let go again because one stood inside the bytes to change (guarded plans). */
  retries?: number;
}

/** Signals that mean the program itself failed, not that someone stopped it. */
const CRASH_SIGNALS = new Set(['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGFPE', 'SIGABRT', 'SIGTRAP', 'SIGSYS']);

/** How a process ended, after its pid: `exited with status 0`, `crashed: killed by signal 11 (SIGSEGV)`. */
export function exitText(signaled: boolean, status: number): string {
  if (!signaled) return `exited with status ${status}`;
  const name = Object.entries(osConstants.signals).find(([, n]) => n === status)?.[0];
  const killed = `killed by signal ${status}${name ? ` (${name})` : ''}`;
  return name && CRASH_SIGNALS.has(name) ? `crashed: ${killed}` : killed;
}

/** The stops of one command as one pause: their sum, how many, the longest; threads, the most stopped at once. */
export function combinePauses(stops: readonly Pause[]): Pause | undefined {
  if (stops.length === 0) return undefined;
  if (stops.length === 1) return stops[0];
  const retries = stops.reduce((n, p) => n + (p.retries ?? 0), 0);
  return {
    micros: stops.reduce((n, p) => n + p.micros, 0),
    threads: Math.max(...stops.map((p) => p.threads)),
    workMicros: stops.reduce((n, p) => n + p.workMicros, 0),
    stops: stops.length,
    longestMicros: Math.max(...stops.map((p) => p.micros)),
    ...(retries ? { retries } : {}),
  };
}

/** One thread as it stood when stopped: registers (empty when they could not be read) and its stack from the stack pointer up. */
export interface ThreadSnapshot {
  tid: number;
  regs: Buffer;
  /** The bytes from the stack pointer up, as many as asked or fewer where the mapping ends. */
  stack: Buffer;
  groupStopped: boolean;
}

export type TargetListener = (event: NativeEvent) => void;

/** The stub page's entry points (src/process/stub.ts). */
export interface StubEntries {
  returnStub: bigint;
  stubDone: bigint;
  stubSignal: number;
  /** The page's own `syscall` instruction, which the return stub follows. */
  syscallEntry: bigint;
}

/** What is known of the process's stub page: not looked for yet; or there (entries), or none can be made (none). */
export type StubKnowledge = { known: false } | { known: true; entries?: StubEntries };

export class Target {
  readonly pid: number;
  /** Its name and executable: read again when it calls exec (a program we started is a shell until then). */
  name: string;
  exe: string | undefined;
  readonly startTime: bigint;
  private tracer: NativeTracer;
  private alive = true;
  private frozen = false;
  lastPause?: Pause;
  /** How many plans ran code in the target (calls, system calls): its mappings may have changed with each. */
  codeRuns = 0;
  /** Every stop since beginCommand(), while a command runs. */
  private commandStops?: Pause[];
  /** Set once the process is gone: how it ended ("killed by signal 9"). */
  exitReason?: string;
  private listeners = new Set<TargetListener>();
  /**
   * Address ranges chosen for pages of ours during this command, made or not yet: every later choice avoids them, so
   * the pages of one command never aim at the same gap (they all came from one view of the map before).
   */
  private reservations: { start: bigint; end: bigint }[] = [];
  /**
   * What this process has of ours for remote calls (src/process/stub.ts): unknown until looked for; then the stub
   * page's entry points, or none (none can be made there). Dropped on exec, with the image that held it.
   */
  stub: StubKnowledge = { known: false };
  /** A `syscall` instruction found in libc, for system calls before there is a stub page; dropped on exec. */
  private libcSyscall?: bigint;

  private constructor(pid: number, tracer: NativeTracer, startTime: bigint, name: string, readonly arch: Arch) {
    this.pid = pid;
    this.tracer = tracer;
    this.startTime = startTime;
    this.name = name;
    this.exe = executablePath(pid);
    // Opened after startTime was read: the first full check (checkIdentity) proves it names this very process.
    this.pidfd = native().pidfdOpen(pid);
  }

  /**
   * A pidfd for the process (-1: none), trusted by checkIdentity once a full check after its opening found this
   * process: from then on one poll says whether it is still the same, living process.
   */
  private pidfd = -1;
  private pidfdConfirmed = false;

  private closePidfd(): void {
    if (this.pidfd >= 0) native().closeFd(this.pidfd);
    this.pidfd = -1;
    this.pidfdConfirmed = false;
  }

  /** Seize every thread and leave them all running. */
  static async attach(pid: number, arch: Arch = currentArch()): Promise<Target> {
    if (!Number.isInteger(pid) || pid <= 0) {
      throw new HotpatchError('E_BAD_PID', `"${pid}" is not a process id`, 'give a positive number, e.g. attach 4242');
    }
    if (pid === process.pid) throw new HotpatchError('E_SELF', 'hotpatch cannot attach to itself');
    const stat = readStat(pid);
    if (stat.state === 'Z') throw processGone(pid, ZOMBIE);
    const tracer = tracerPid(pid);
    if (tracer !== 0) {
      throw new HotpatchError(
        'EBUSY',
        `process ${pid} is already traced by pid ${tracer} (${processName(tracer)})`,
        'a process has one tracer at a time: detach gdb/strace first',
      );
    }
    if (stat.ppid === process.pid) {
      // Node's child_process reaps its own children's wait statuses, ptrace stops included.
      throw new HotpatchError('E_OWN_CHILD', `process ${pid} is a child of this hotpatch process`, 'start the target from another process (e.g. a shell) and attach to that');
    }
    let events: Target | undefined;
    const t = new (native().Tracer)((ev) => events?.onEvent(ev));
    try {
      await t.seize(pid);
    } catch (err) {
      t.close();
      throw attachError(pid, err);
    }
    const target = new Target(pid, t, stat.startTime, stat.comm, arch);
    events = target;
    return target;
  }

  get attached(): boolean {
    return this.alive;
  }

  get isFrozen(): boolean {
    return this.frozen;
  }

  onEvent(ev: NativeEvent): void {
    if (ev.type === 'exec') {
      // A new image: our stub page and the libc we knew are gone with the old one.
      this.stub = { known: false };
      this.libcSyscall = undefined;
      this.reservations = [];
      this.mapsKept = undefined;
      this.name = processName(this.pid);
      this.exe = executablePath(this.pid);
    }
    if (ev.type === 'exit') {
      this.alive = false;
      this.closePidfd();
      this.exitReason = exitText(ev.signaled, ev.status);
      // Release the tracer thread outside this callback: nothing is left to trace.
      setImmediate(() => this.tracer.close());
    }
    for (const l of this.listeners) l(ev);
  }

  listen(l: TargetListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  threads(): number[] {
    return listThreads(this.pid);
  }

  /** The error for this process being gone, saying how it ended when we know. */
  gone(how?: string): HotpatchError {
    return processGone(this.pid, this.exitReason ?? how ?? 'exited');
  }

  /** Refuse to act on a pid that now names another process, or one someone else traces. */
  checkIdentity(): void {
    if (!this.alive) throw this.gone();
    // A confirmed pidfd answers with one poll: it cannot name another process, and it polls readable once this one
    // has exited (then the full check below says how). Reading /proc/PID/stat before each read was a tenth of a
    // rollout's time.
    let exited = false;
    if (this.pidfdConfirmed) {
      exited = native().pidfdExited(this.pidfd);
      if (!exited) return;
    } else if (performance.now() - this.identityAt < IDENTITY_FRESH_MS) {
      // Without a pidfd, a check a moment ago still holds: a pid is not freed and handed out again within a millisecond.
      return;
    }
    let stat;
    try {
      stat = readStat(this.pid);
    } catch {
      this.markGone();
      throw this.gone();
    }
    if (stat.startTime !== this.startTime) {
      this.markGone();
      throw new HotpatchError('E_PID_REUSED', `pid ${this.pid} now names another process (${stat.comm})`, 'the target exited; attach again');
    }
    // Dead, its exit report not read yet: a zombie's maps are empty, so a name would seem unknown rather than gone.
    if (stat.state === 'Z' || stat.state === 'X') throw this.gone(ZOMBIE);
    if (exited) throw this.gone();
    this.identityAt = performance.now();
    if (this.pidfd >= 0) this.pidfdConfirmed = true;
  }

  private markGone(): void {
    this.alive = false;
    this.closePidfd();
  }

  /** When checkIdentity last found this very process (performance.now()). */
  private identityAt = -Infinity;

  /** Start counting the stops of one command; the address ranges the last one chose are in the maps by now, or free. */
  beginCommand(): void {
    this.commandStops = [];
    this.reservations = [];
    this.mapsKept = undefined;
  }

  /**
   * /proc/PID/maps, read once a command: a command looks at the map several times (the record page, the stub page, a
   * free range, the symbol index), and a rollout to 1,000 processes spent a tenth of its time reading and parsing it.
   * Read again after code of ours ran in the target (a call or system call may map or unmap: codeRuns) and after
   * forgetMaps(); outside a command, read each time. What the program maps by itself meanwhile is missed, as it would
   * be a moment after any read (an mmap of ours at a range taken meanwhile fails with EEXIST and is placed again).
   */
  maps(): MapEntry[] {
    if (this.commandStops === undefined) return readMaps(this.pid);
    const kept = this.mapsKept;
    if (kept && kept.codeRuns === this.codeRuns) return kept.maps;
    const maps = readMaps(this.pid);
    this.mapsKept = { codeRuns: this.codeRuns, maps };
    return maps;
  }

  /** The next maps() reads the map again (after libraries came or went by other means than a call of ours). */
  forgetMaps(): void {
    this.mapsKept = undefined;
  }

  private mapsKept?: { codeRuns: number; maps: MapEntry[] };

  /** Hold [start, start+size) for a page of ours about to be made. */
  reserveRange(start: bigint, size: bigint): void {
    this.reservations.push({ start, end: start + size });
  }

  reservedRanges(): readonly { start: bigint; end: bigint }[] {
    return this.reservations;
  }

  /** Every stop since beginCommand(), as one pause (undefined when there was none). */
  endCommand(): Pause | undefined {
    const stops = this.commandStops ?? [];
    this.commandStops = undefined;
    this.mapsKept = undefined;
    return combinePauses(stops);
  }

  /**
   * The thread to borrow for a remote call: one asleep in a system call holds no user-space lock (it is not inside
   * malloc or the loader), so a call on it cannot deadlock on its own locks. The main thread is preferred among those.
   */
  borrowThread(): number {
    const sleeping = this.threads().filter((tid) => {
      try {
        return readStat(this.pid, tid).state === 'S';
      } catch {
        return false;
      }
    });
    if (sleeping.includes(this.pid)) return this.pid;
    return sleeping[0] ?? this.pid;
  }

  /**
   * Run steps in one stop: of the borrowed thread `tid` alone, or of every thread (`stopAll`, none of them with its pc
   * in `guard`, nor a return address there in the top `guardStackBytes` of its stack). Calls return through
   * `returnPath` when given (a stub page made in this very plan; null: to address 0), else through the stub page
   * known, else to 0; system calls go through the stub page known before the plan, else libc's `syscall`.
   */
  async runSteps(tid: number, steps: Step[], opts: { stopAll?: boolean; guard?: [bigint, bigint][]; guardStackBytes?: number; returnPath?: StubEntries | null } = {}): Promise<StepResult[]> {
    // System calls go through a stub page that was there before the plan; calls return through `returnPath`.
    const stub = this.stub.known ? this.stub.entries : undefined;
    const returnPath = opts.returnPath === null ? undefined : opts.returnPath ?? stub;
    const ctx = { tid, syscalls: this.arch.syscalls, stub, returnPath, libcSyscall: () => this.findLibcSyscall() };
    const res = await this.run({ stopAll: opts.stopAll ?? false, guard: opts.guard, guardStackBytes: opts.guardStackBytes, ops: steps.map((s) => toNativeOp(s, ctx)) });
    return res.results.map((r) => ({ ran: r.ran, value: r.value, data: r.data }));
  }

  /** The address of a `syscall` instruction inside libc's text (any copy of the two bytes will do). */
  private findLibcSyscall(): bigint {
    if (this.libcSyscall !== undefined) return this.libcSyscall;
    const maps = this.maps();
    const insn = Buffer.from(this.arch.syscallInstruction);
    const libc = maps.filter((m) => m.perms.includes('x') && /\/libc[.-]/.test(m.path));
    const rest = maps.filter((m) => m.perms.includes('x') && !libc.includes(m));
    // In pieces, from the start of each mapping: the first copy is usually in the first few KiB, and reading 4 MiB of
    // libc to find it cost a rollout to 1,000 fresh processes a fifth of its time (copying, and faulting our buffers).
    const PIECE = 64 << 10;
    for (const m of [...libc, ...rest]) {
      const end = m.start + BigInt(Math.min(Number(m.end - m.start), 4 << 20));
      for (let from = m.start; from < end; from += BigInt(PIECE - (insn.length - 1))) {
        const bytes = this.readMemory(from, Math.min(PIECE, Number(end - from)));
        const at = bytes.indexOf(insn);
        if (at >= 0) return (this.libcSyscall = from + BigInt(at));
        if (bytes.length < insn.length) break;
      }
    }
    throw new HotpatchError('E_NO_SYSCALL', 'found no system call instruction in the target’s code', 'is libc mapped?');
  }

  /** Run a plan on the tracer thread: stop, ops, resume in one go. Records the pause. */
  async run(plan: NativePlan): Promise<NativePlanResult> {
    this.checkIdentity();
    // Code of the target run by us may change its mappings: what was read of them before is stale (Session.space).
    if (plan.ops.some((op) => op.kind === 'call' || op.kind === 'syscall')) this.codeRuns++;
    try {
      const res = await this.tracer.run(plan);
      this.lastPause = {
        micros: res.pauseNs / 1000,
        threads: plan.stopAll === false ? 1 : res.threadsPaused,
        workMicros: res.workNs / 1000,
        ...(res.guardRetries ? { retries: res.guardRetries } : {}),
      };
      this.commandStops?.push(this.lastPause);
      if (plan.keepStopped) this.frozen = true;
      return res;
    } catch (err) {
      throw this.explainFailure(err);
    }
  }

  /**
   * A native ESRCH names a thread or the whole process: when the process itself is gone (its exit seen, or /proc
   * says so), say that; a thread that went away keeps the tracer's own message.
   */
  private explainFailure(err: unknown): HotpatchError {
    const e = toHotpatchError(err);
    // The tracer says E_NO_TARGET when every thread went away before the plan ran: the process died just now.
    return (e.code === 'ESRCH' || e.code === 'E_NO_TARGET') && !this.stillThere() ? this.gone() : e;
  }

  /** This very process still runs (not exited, not a zombie, its pid not given to another). */
  private stillThere(): boolean {
    if (!this.alive) return false;
    try {
      const stat = readStat(this.pid);
      return stat.startTime === this.startTime && stat.state !== 'Z' && stat.state !== 'X';
    } catch {
      return false;
    }
  }

  async stop(): Promise<Pause> {
    await this.run({ stopAll: true, keepStopped: true, ops: [] });
    this.frozen = true;
    return this.lastPause!;
  }

  async cont(): Promise<void> {
    this.checkIdentity();
    try {
      await this.tracer.resume();
    } catch (err) {
      throw this.explainFailure(err);
    }
    this.frozen = false;
  }

  async registers(tid?: number): Promise<Buffer> {
    const res = await this.run({ stopAll: false, ops: [{ kind: 'regs', tid: tid ?? this.pid }] });
    return res.results[0].data;
  }

  /** Every thread's registers, taken in one pause. */
  async allRegisters(): Promise<{ tid: number; regs: Buffer; groupStopped: boolean }[]> {
    const res = await this.run({ stopAll: true, captureThreads: true, ops: [] });
    return res.threads;
  }

  /**
   * Registers and the top `stackBytes` of the stack of every thread (or of thread `tid` alone), each read while that
   * thread is stopped, for a backtrace that is unwound after the threads run on: what the unwinder reads then is the
   * stack as it was at the stop. Every thread stops at once (one pause), or `tid` alone.
   */
  async snapshotThreads(stackBytes: number, tid?: number): Promise<ThreadSnapshot[]> {
    if (tid !== undefined) {
      if (!this.threads().includes(tid)) throw new HotpatchError('ESRCH', `process ${this.pid} has no thread ${tid}`, 'see `threads` for the thread ids');
      const res = await this.run({ stopAll: false, ops: [{ kind: 'stack', tid, len: stackBytes }] });
      const r = res.results[0];
      return [{ tid, regs: r.regs ?? Buffer.alloc(0), stack: r.data, groupStopped: false }];
    }
    const res = await this.run({ stopAll: true, captureThreads: true, captureStackBytes: stackBytes, ops: [] });
    return res.threads.map((t) => ({ tid: t.tid, regs: t.regs, stack: t.stack ?? Buffer.alloc(0), groupStopped: t.groupStopped }));
  }

  /** Read what is readable: a shorter buffer means memory stops being mapped there. */
  readMemory(address: bigint, length: number): Buffer {
    this.checkIdentity();
    try {
      return native().readMemory(this.pid, address, length);
    } catch (err) {
      throw this.readError(address, err);
    }
  }

  /** The same into `out`, which a long dump reuses (no page faults per read): the bytes read. */
  readInto(address: bigint, out: Buffer): number {
    try {
      return native().readMemoryInto(this.pid, address, out);
    } catch (err) {
      throw this.readError(address, err);
    }
  }

  private readError(address: bigint, err: unknown): HotpatchError {
    const e = toHotpatchError(err);
    if (e.code === 'EFAULT' || e.code === 'EIO') {
      return new HotpatchError('EFAULT', `address 0x${address.toString(16)} is not mapped in process ${this.pid}`, 'see `maps` for what is mapped');
    }
    // Memory is read and written by pid, not by thread: ESRCH there means the process is gone.
    return e.code === 'ESRCH' ? this.gone() : e;
  }

  /** Read exactly `length` bytes or say which part is unmapped. */
  readExact(address: bigint, length: number): Buffer {
    const got = this.readMemory(address, length);
    if (got.length < length) {
      const from = address + BigInt(got.length);
      throw new HotpatchError(
        'EFAULT',
        `0x${from.toString(16)}..0x${(address + BigInt(length)).toString(16)} is not mapped (read ${got.length} of ${length} bytes)`,
        'see `maps` for what is mapped',
      );
    }
    return got;
  }

  /**
   * Write bytes while the process runs, through /proc/PID/mem: data only the tool reads (the record), or code nothing
   * can reach yet. The whole write or an error.
   */
  writeMemory(address: bigint, bytes: Uint8Array): void {
    this.checkIdentity();
    let n: number;
    try {
      n = this.tracer.writeMemory(address, Buffer.from(bytes));
    } catch (err) {
      throw this.readError(address, err);
    }
    if (n !== bytes.length) throw new HotpatchError('EFAULT', `wrote ${n} of ${bytes.length} bytes at ${hex(address)} in process ${this.pid}`, 'see `maps` for what is mapped');
  }

  /**
   * Write bytes while every thread is stopped, through /proc/PID/mem (works on read-only code pages).
   * `guard`: ranges no thread's pc may stand in while writing.
   */
  async writeWhileStopped(writes: { address: bigint; bytes: Uint8Array }[], guard: [bigint, bigint][] = []): Promise<Buffer[]> {
    const ops: NativeOp[] = writes.map((w) => ({ kind: 'write', addr: w.address, data: Buffer.from(w.bytes) }));
    const res = await this.run({ stopAll: true, guard, ops });
    return res.results.map((r) => r.data);
  }

  async detach(): Promise<void> {
    if (!this.alive) {
      this.closePidfd();
      this.tracer.close();
      return;
    }
    try {
      await this.tracer.detach();
    } finally {
      this.markGone();
      this.tracer.close();
    }
  }
}

function attachError(pid: number, err: unknown): HotpatchError {
  const e = toHotpatchError(err);
  if (e.code === 'EPERM') {
    const scope = yamaScope();
    const why = scope !== undefined && scope > 0
      ? `/proc/sys/kernel/yama/ptrace_scope is ${scope}`
      : process.getuid?.() === 0 ? 'the kernel refused (another tracer, or a protected process)' : 'the process belongs to another user or is protected';
    return new HotpatchError('EPERM', `cannot attach to process ${pid}: ${why}`, 'run as the same user with ptrace_scope 0, or as root / with CAP_SYS_PTRACE');
  }
  if (e.code === 'ESRCH' || e.code === 'ENOENT') return processGone(pid, 'no such process');
  return e;
}

/** How a zombie is gone: dead, its exit status not yet collected (its maps are empty, its threads cannot be traced). */
const ZOMBIE = 'a zombie: it exited and its parent has not reaped it';
