// The state of one console: the target, its address space, settings, and what we loaded and patched.
import { HotpatchError } from './errors.js';
import { Target } from './target/target.js';
import { ElfCache, SpaceCache, type AddressSpace, type ExtraModule } from './symbols/space.js';
import { resolveAddress, resolveModuleName, threadLocalError, type ResolvedAddress } from './symbols/resolve.js';
import { parseAddress } from './symbols/expr.js';
import { currentArch } from './arch/index.js';
import { loadRecord, type LoadedLibrary } from './patch/record.js';
import type { Arch } from './arch/types.js';
import type { Symbolized } from './symbols/types.js';

export interface SessionEvents {
  /** Something happened to the target on its own (it exited, exec'd). */
  notice?: (message: string) => void;
}

export class Session {
  target?: Target;
  explain = false;
  readonly elves = new ElfCache();
  private spaces = new SpaceCache(this.elves);
  private _arch?: Arch;
  /** Per-session bag for later stages (loaded libraries, patches) keyed by owner. */
  readonly state = new Map<string, unknown>();

  constructor(private events: SessionEvents = {}) {}

  get arch(): Arch {
    this._arch ??= currentArch();
    return this._arch;
  }

  requireTarget(): Target {
    if (this.target && !this.target.attached) {
      const gone = this.target;
      this.target = undefined;
      throw new HotpatchError('ESRCH', `process ${gone.pid} ${gone.exitReason ?? 'exited'}; no process attached now`, 'attach to another process');
    }
    if (!this.target) {
      throw new HotpatchError('E_NO_TARGET', 'no process attached', 'attach PID first (or start with hotpatch -p PID)');
    }
    return this.target;
  }

  async attach(pid: number): Promise<Target> {
    if (this.target?.attached) {
      throw new HotpatchError('E_ATTACHED', `already attached to ${this.target.pid} (${this.target.name})`, 'detach first');
    }
    const target = await Target.attach(pid);
    this.target = target;
    this.spaces.invalidate();
    target.listen((ev) => {
      if (ev.type === 'exit') {
        this.events.notice?.(`process ${target.pid} ${ev.signaled ? `was killed by signal ${ev.status}` : `exited with status ${ev.status}`}; no process attached`);
        this.spaces.invalidate();
      } else if (ev.type === 'exec') {
        this.spaces.invalidate();
        // The old image is gone, and with it its patch record and every address we cached from it.
        for (const key of ['record', 'syscallInsn', 'returnStub']) this.state.delete(key);
        this.events.notice?.(`process ${target.pid} called exec: symbols reloaded`);
      }
    });
    return target;
  }

  async detach(): Promise<number | undefined> {
    const t = this.target;
    this.target = undefined;
    this.spaces.invalidate();
    if (t) await t.detach();
    return t?.pid;
  }

  space(): AddressSpace {
    const t = this.requireTarget();
    return this.spaces.current(t.pid, t.exe, this.mappedLibraries());
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
    this.spaces.invalidate();
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
        index: space.names,
        modules: space.modules,
        readRegister: regs ? (name) => regs![name] ?? readAlias(this.arch, regs!, name) : undefined,
      });
    } catch (err) {
      // Killed while we read its maps (a dying process shows none): say it is gone, not that the name is unknown.
      if ((err as { code?: string }).code === 'E_UNKNOWN_SYMBOL') {
        target.checkIdentity();
        if (space.maps.length === 0) throw new HotpatchError('ESRCH', `process ${target.pid} is exiting (its memory is gone)`, 'attach to another process');
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
