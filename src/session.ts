// The state of one console: the target, its address space, settings, and what we loaded and patched.
import { HotpatchError } from './errors.js';
import { Target, exitText, type Pause } from './process/target.js';
import { startStopped, killStarted, type StartedProgram } from './process/spawn.js';
import { ElfCache, SpaceCache, type AddressSpace, type ExtraModule } from './symbols/space.js';
import { resolveAddress, resolveModuleName, threadLocalError, type NamingContext, type ResolvedAddress } from './symbols/resolve.js';
import { parseAddress } from './symbols/expr.js';
import { readLinkMap, type LinkMapEntry } from './symbols/linkmap.js';
import { lookupScope, linkerChoice, type LookupScope } from './symbols/scope.js';
import { currentArch } from './arch/index.js';
import { loadRecord, type LoadedLibrary } from './patch/record.js';
import type { Attachment, PatchContext } from './patch/context.js';

export type { Attachment } from './patch/context.js';
import type { Arch } from './arch/types.js';
import type { Module, RuntimeSymbol, Symbolized } from './symbols/types.js';


/** How long a started program may take from SIGCONT to its exec. */
const SPAWN_EXEC_TIMEOUT_MS = 5000;

export interface SessionEvents {
  /** Something happened to the target on its own (it exited, exec'd). */
  notice?: (message: string) => void;
}

export class Session implements PatchContext {
  /** What belongs to the process attached now; dropped on detach, made anew on exec. */
  private current?: Attachment;
  explain = false;
  /** The stage the `tour` stands at (commands/tour.ts). */
  tourStage?: number;
  /**
   * The whole pause of the last run of each command (by name) on the process attached now, as the runner measured it:
   * the tour quotes these instead of promising a figure. Emptied on attach and detach.
   */
  readonly lastPauses = new Map<string, Pause>();
  readonly elves: ElfCache;
  private spaces: SpaceCache;
  /** The dynamic linker's scope of each address space: its link map changes only with the mappings. */
  private scopes = new WeakMap<AddressSpace, LookupScope>();
  private _arch?: Arch;
  /** `elves`: the ELF files read so far, shared by the sessions of a run over many processes (src/cli/fleet.ts). */
  constructor(private events: SessionEvents = {}, elves = new ElfCache()) {
    this.elves = elves;
    this.spaces = new SpaceCache(this.elves);
  }

  get arch(): Arch {
    this._arch ??= currentArch();
    return this._arch;
  }

  /** The process attached, if any (it may have exited since: see requireTarget). */
  get target(): Target | undefined {
    return this.current?.target;
  }

  requireTarget(): Target {
    return this.attachment().target;
  }

  /** The attachment to a live process, or the error that says why there is none. */
  attachment(): Attachment {
    const now = this.current;
    if (now && !now.target.attached) {
      this.current = undefined;
      throw now.target.gone();
    }
    if (!now) {
      throw new HotpatchError('E_NO_TARGET', 'no process attached', 'attach PID first (or start with hotpatch -p PID)');
    }
    return now;
  }

  async attach(pid: number): Promise<Target> {
    if (this.target?.attached) {
      throw new HotpatchError('E_ATTACHED', `already attached to ${this.target.pid} (${this.target.name})`, 'detach first');
    }
    const target = await Target.attach(pid, this.arch);
    const attachment: Attachment = { target };
    this.current = attachment;
    this.lastPauses.clear();
    this.forgetSpace();
    target.listen((ev) => {
      if (ev.type === 'exit') {
        this.events.notice?.(`process ${target.pid} is gone (${exitText(ev.signaled, ev.status)}); no process attached`);
        this.forgetSpace();
      } else if (ev.type === 'exec') {
        this.forgetSpace();
        // The exec of a program we start is how it starts: `spawn` says so itself.
        if (this.starting) return;
        // The old image is gone, and with it its patch record (the Target drops its own stub and libc addresses).
        if (this.current?.target === target) this.current = { target };
        this.events.notice?.(`process ${target.pid} called exec: symbols reloaded`);
      }
    });
    return target;
  }

  /** The program hotpatch started (hotpatch -- PROG, `spawn`): stopped when the console or the batch ends. */
  spawned?: StartedProgram;
  /** While `spawn` waits for the exec of the program it started (not news to report). */
  starting = false;

  /**
   * Starts a program and attaches to it before its first instruction (it is stopped before its exec, attached, then
   * let go: the exec is the first thing we see), then lets it run. Its output goes to a log file (`spawned.log`).
   */
  async spawn(program: string, args: readonly string[], logDir: string): Promise<Target> {
    if (this.target?.attached) {
      throw new HotpatchError('E_ATTACHED', `already attached to ${this.target.pid} (${this.target.name})`, 'detach first');
    }
    const started = await startStopped(program, args, logDir);
    let target: Target;
    try {
      target = await this.attach(started.pid);
    } catch (err) {
      killStarted(started.pid, started.startTime);
      throw err;
    }
    this.spawned = started;
    this.starting = true;
    // Continued, the shell execs the program: wait for that exec (or its end: not found, not executable).
    const outcome = await new Promise<'exec' | 'exit' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => finish('timeout'), SPAWN_EXEC_TIMEOUT_MS);
      const stop = target.listen((ev) => {
        if (ev.type === 'exec' || ev.type === 'exit') finish(ev.type);
      });
      function finish(how: 'exec' | 'exit' | 'timeout') {
        clearTimeout(timer);
        stop();
        resolve(how);
      }
      process.kill(started.pid, 'SIGCONT');
    }).finally(() => {
      this.starting = false;
    });
    if (outcome !== 'exec') {
      await this.stopSpawned();
      throw new HotpatchError('E_SPAWN', outcome === 'exit' ? `${program} could not be run (pid ${started.pid} ended before its exec)` : `${program} did not start within ${SPAWN_EXEC_TIMEOUT_MS / 1000} s; it was killed`,
        `see ${started.log}`);
    }
    return target;
  }

  /**
   * Ends the program hotpatch started, as gdb and Frida do on quit: detached first (never left stopped or traced), then
   * killed by its pid. Says what happened, or undefined when there was none or it is gone already.
   */
  async stopSpawned(): Promise<string | undefined> {
    const started = this.spawned;
    if (!started) return undefined;
    this.spawned = undefined;
    if (this.target?.attached && this.target.pid === started.pid) await this.detach();
    return killStarted(started.pid, started.startTime) ? `stopped ${started.pid}, which hotpatch started (its output: ${started.log})` : undefined;
  }

  async detach(): Promise<number | undefined> {
    const t = this.current?.target;
    this.current = undefined;
    this.lastPauses.clear();
    this.forgetSpace();
    if (t) await t.detach();
    return t?.pid;
  }

  /**
   * The address space, read once a command: a command asks for it many times (each look-up, each check), and reading
   * and parsing /proc/PID/maps (and the patch record) each time was a good part of a fleet rollout's time. Read again
   * after code ran in the target (a call or a system call of ours may map or unmap: Target.codeRuns) and after
   * invalidateSpace(). What the program maps by itself meanwhile is missed, as it would be a moment after any read.
   */
  space(): AddressSpace {
    const t = this.requireTarget();
    const kept = this.commandSpace;
    if (!this.inCommand) return this.spaces.current(t.pid, t.exe, this.mappedLibraries(), t.maps());
    if (kept && kept.target === t && kept.codeRuns === t.codeRuns) return kept.space;
    const space = this.spaces.current(t.pid, t.exe, this.mappedLibraries(), t.maps());
    this.commandSpace = { target: t, codeRuns: t.codeRuns, space };
    return space;
  }

  private commandSpace?: { target: Target; codeRuns: number; space: AddressSpace };
  private inCommand = false;

  /**
   * A command starts, or ends (the runner says so): its address space is read afresh. Outside a command (the
   * console's panels) every space() reads it.
   */
  beginCommand(): void {
    this.commandSpace = undefined;
    this.inCommand = true;
  }

  endCommand(): void {
    this.commandSpace = undefined;
    this.inCommand = false;
  }

  private forgetSpace(): void {
    this.commandSpace = undefined;
    this.current?.target.forgetMaps();
    this.spaces.invalidate();
  }

  /** Libraries loaded with --method map live in anonymous memory: name them for the symbol index. */
  private mappedLibraries(): ExtraModule[] {
    let libraries: LoadedLibrary[];
    try {
      libraries = loadRecord(this).libraries;
    } catch {
      return [];  // a damaged record must not hide the process's own symbols
    }
    return libraries
      .filter((l) => l.method === 'map' && !l.pending)
      .map((l) => ({
        module: { name: l.name, path: l.path, loadBias: BigInt(l.loadBias), start: BigInt(l.base), end: BigInt(l.base) + BigInt(l.size ?? '0'), maps: [] },
      }));
  }

  invalidateSpace(): void {
    this.forgetSpace();
  }

  /** What naming a symbol needs: the modules, and the `#ID` of each library hotpatch loaded (as `libs` shows). */
  naming(space = this.space()): NamingContext & { index: AddressSpace['names']; modules: Module[] } {
    const loadIds = new Map<Module, number>();
    let libraries: LoadedLibrary[] = [];
    try {
      libraries = loadRecord(this).libraries;
    } catch {
      // a damaged record names no library; the modules keep their other names
    }
    for (const l of libraries) {
      const m = space.modules.find((x) => x.name === l.name && x.loadBias === BigInt(l.loadBias));
      if (m) loadIds.set(m, l.id);
    }
    return { index: space.names, modules: space.modules, loadIds };
  }

  /** The objects the program's names are looked up in, in the dynamic linker's order (read from its link map). */
  lookupScope(space = this.space()): LookupScope {
    let scope = this.scopes.get(space);
    if (!scope) {
      const target = this.requireTarget();
      const mainElf = space.main && space.elfOf(space.main);
      let linkMap: LinkMapEntry[] | undefined;
      try {
        linkMap = space.main && mainElf ? readLinkMap(space.main, mainElf, (address, length) => target.readMemory(address, length)) : undefined;
      } catch {
        linkMap = undefined;  // unreadable: the files' DT_NEEDED order is the fallback
      }
      scope = lookupScope(space.main, space.modules, space.elfOf, linkMap);
      this.scopes.set(space, scope);
    }
    return scope;
  }

  /** Of several definitions of one name, the one the dynamic linker binds for the program, if one is. */
  linkerChoice(candidates: readonly RuntimeSymbol[], space = this.space()): RuntimeSymbol | undefined {
    return linkerChoice(candidates, this.lookupScope(space), space.elfOf);
  }

  /** Resolve an address expression; registers (`$rip`) are read from the main thread when named. */
  async resolve(text: string): Promise<ResolvedAddress> {
    const target = this.requireTarget();
    target.checkIdentity(); // a target that died since the last command: ESRCH, not an unknown name
    const space = this.space();
    let regs: Record<string, bigint> | undefined;
    if (text.includes('$')) {
      regs = this.arch.decodeRegs(await target.registers()).values;
    }
    try {
      return resolveAddress(text, {
        ...this.naming(space),
        linkerChoice: (candidates) => this.linkerChoice(candidates, space),
        readRegister: regs ? (name) => regs![name] ?? readAlias(this.arch, regs!, name) : undefined,
      });
    } catch (err) {
      // Killed while we read its maps (a dying process shows none): say it is gone, not that the name is unknown.
      if (err instanceof HotpatchError && err.code === 'E_UNKNOWN_SYMBOL') {
        target.checkIdentity();
        if (space.maps.length === 0) throw target.gone('exiting: its memory is gone');
        this.refuseThreadLocal(text, space);
      }
      throw err;
    }
  }

  /** A name that is unknown as an address may be a thread-local variable: say so, instead of "unknown symbol". */
  private refuseThreadLocal(text: string, space: AddressSpace): void {
    const { base } = parseAddress(text);
    if (base.kind !== 'symbol') return;
    const module = base.module === undefined ? undefined : resolveModuleName(base.module, space.modules);
    const found = space.threadLocals(base.name, { module, file: base.file });
    if (found.length === 0) return;
    const typed = (base.module !== undefined ? `${base.module}!` : '') + (base.file !== undefined ? `${base.file}:` : '') + base.name;
    throw threadLocalError(typed, found, this.arch.threadPointerName,
      (t) => (t.executable && t.segment ? this.arch.executableThreadPointerOffset(t.segment, t.offset) : undefined));
  }

  symbolize(address: bigint): Symbolized {
    return this.space().symbolize(address);
  }

  /** `sym+0x10` / `module+0x123` / `0x…` for an address. */
  describe(address: bigint): string {
    const s = this.symbolize(address);
    if (s.symbol) return s.offset === 0n ? s.symbol.name : `${s.symbol.name}+0x${s.offset.toString(16)}`;
    if (s.module) return `${s.module}+0x${s.offset.toString(16)}`;
    return '0x' + address.toString(16);
  }
}

function readAlias(arch: Arch, regs: Record<string, bigint>, name: string): bigint | undefined {
  if (name === 'pc') return regs[arch.pcName];
  if (name === 'sp') return regs[arch.spName];
  return undefined;
}
