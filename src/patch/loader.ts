// Bringing a patch library into the target: by its own dlopen, or mapped and relocated by us; then bound to its statics.
import { counted } from '../words.js';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { crypto } from '../builtins.js';
import { dirname, resolve as resolvePath, basename } from 'node:path';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { openElf } from '../elf/reader.js';
import type { ElfFile } from '../elf/types.js';
import { ET_DYN, PT_DYNAMIC, PT_GNU_RELRO, PT_LOAD } from '../elf/constants.js';
import type { Arch } from '../arch/types.js';
import { hex } from '../hex.js';
import type { PatchContext } from './context.js';
import { bindPatch, mapBinder, type Binding, type BindReport } from './binding.js';
import { findFunction } from './functions.js';
import { readMaps } from '../process/maps.js';
import { mmapFailure, munmapStep, syscallFailed, syscallError, seccompNote, type Step } from '../process/steps.js';
import { choosePlace, confirmPages, pagePlan, pageSteps, undoPages, unmapPages, type PagePlan } from '../process/pages.js';
import { stubWords, syscallWords, runCalls, adoptStubPage } from '../process/stub.js';
import { loadRecord, saveRecord, recordPagePlanOrWrite, recordPage, type LoadedLibrary } from './record.js';
import { planMapLoad, segmentsSpan } from './mapplan.js';
import { placementReach } from './area.js';
import { dropFreshPages } from './cleanup.js';
import { checkLoadMethods, type MethodCheck } from './precheck.js';
import type { HiddenSlot } from './slots.js';

const RTLD_NOW = 2n;
const RTLD_NOLOAD = 4n;
const RTLD_DLOPEN_FLAG = 0x80000000n; // __libc_dlopen_mode wants this set, as glibc's own callers do

export interface LoadOptions {
  method: 'dlopen' | 'map';
  binds: Map<string, string>;
  force: boolean;
  init: boolean;
  timeoutMs: number;
}

export interface LoadOutcome {
  library: LoadedLibrary;
  /** false: the same file (same sha256) was loaded already, and nothing was done. */
  changed: boolean;
  report: BindReport;
  written: Binding[];
  segments: { start: bigint; size: bigint; prot: string }[];
  pauseMicros: number;
  steps: string[];
}

/** Refuse what cannot or must not be loaded, before touching the target. */
export function checkLibraryFile(path: string, force: boolean, arch: Arch): ElfFile {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new HotpatchError('ENOENT', `no such file: ${path}`, 'give the path of a patch .so (built with gcc -shared -fPIC)');
  }
  if (!st.isFile()) throw new HotpatchError('E_NOT_FILE', `${path} is not a regular file`, 'give the path of a patch .so');
  const elf = openedLibrary(path, st);
  if (elf.machine !== arch.elfMachine) throw new HotpatchError('E_ARCH', `${path} is not an ${arch.name} library (e_machine ${elf.machine})`, 'build it for this machine');
  if (elf.type !== ET_DYN) throw new HotpatchError('E_NOT_DYN', `${path} is not a shared library (ELF type ${elf.type})`, 'build it with gcc -shared -fPIC');
  checkLayout(elf, path, st.size);
  if (process.getuid?.() === 0 && !force) checkNobodyElseCanChange(path);
  return elf;
}


/** Patch libraries opened so far, by path and stat: the thousand processes of a rollout share one read of the fix. */
const opened = new Map<string, ElfFile>();

function openedLibrary(path: string, st: import('node:fs').Stats): ElfFile {
  const key = `${path}:${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}:${st.ctimeMs}`;
  let elf = opened.get(key);
  if (!elf) {
    elf = openElf(path);
    if (opened.size > 16) opened.clear();
    opened.set(key, elf);
  }
  return elf;
}

/**
 * ld.so trusts the file: a PT_GNU_RELRO or a relocation pointing outside the library's own segments makes the
 * target's dlopen mprotect or write the program's other memory (seen: the target died of SIGSEGV). Both loaders
 * refuse such a file before anything happens in the target.
 */
function checkLayout(elf: ElfFile, path: string, fileSize: number): void {
  const bad = (what: string) => new HotpatchError('E_ELF_BAD', `${path}: ${what}`, 'the file is damaged; rebuild it');
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  if (loads.length === 0) throw bad('no loadable segment');
  for (const s of loads) {
    if (s.filesz > s.memsz) throw bad(`a segment at 0x${s.vaddr.toString(16)} has more bytes in the file than in memory`);
    if (s.offset + s.filesz > BigInt(fileSize)) throw bad(`a segment at 0x${s.vaddr.toString(16)} reaches past the end of the file`);
  }
  const inside = (lo: bigint, size: bigint) => loads.some((s) => lo >= s.vaddr && lo + size <= s.vaddr + s.memsz);
  for (const s of elf.segments) {
    if ((s.type === PT_GNU_RELRO || s.type === PT_DYNAMIC) && !inside(s.vaddr, s.memsz)) {
      throw bad(`its ${s.type === PT_DYNAMIC ? 'PT_DYNAMIC' : 'PT_GNU_RELRO'} range 0x${s.vaddr.toString(16)}+0x${s.memsz.toString(16)} lies outside its segments`);
    }
  }
  for (const r of elf.relocations()) {
    if (!inside(r.offset, 8n)) throw bad(`a relocation writes at 0x${r.offset.toString(16)}, outside its segments`);
  }
}

/**
 * As root, a library another user could replace would run inside the target with the target's rights: the file and
 * every directory above it (where the given path lies, and where its symlinks lead) must belong to root and be
 * writable by nobody else. A sticky directory (like /tmp) is fine: only an entry's owner may rename it there.
 */
function checkNobodyElseCanChange(path: string): void {
  const refuse = (what: string, why: string) =>
    new HotpatchError('E_INSECURE', `${what} ${why}`, 'keep patch libraries in a directory only root can change (chown root, chmod go-w), or pass --force if you trust it');
  const real = realpathSync(path);
  const st = statSync(real);
  const file = real === path ? path : `${path} (${real})`;
  if (st.mode & 0o002) throw refuse(file, 'is writable by every user');
  if (st.mode & 0o020 && st.gid !== 0) throw refuse(file, `is writable by group ${st.gid}`);
  if (st.uid !== 0) throw refuse(file, `belongs to user ${st.uid}, who can rewrite it`);
  const dirs = new Set<string>();
  for (let dir of [dirname(real), realpathSync(dirname(path))]) {
    for (;;) {
      dirs.add(dir);
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  for (const dir of dirs) {
    const d = statSync(dir);
    const sticky = (d.mode & 0o1000) !== 0;
    if (d.uid !== 0) throw refuse(dir, `belongs to user ${d.uid}, who can replace what it holds`);
    if (d.mode & 0o002 && !sticky) throw refuse(dir, 'is writable by every user');
    if (d.mode & 0o020 && d.gid !== 0 && !sticky) throw refuse(dir, `is writable by group ${d.gid}`);
  }
}

export async function loadLibrary(session: PatchContext, rawPath: string, opts: LoadOptions): Promise<LoadOutcome> {
  const target = session.requireTarget();
  const path = resolvePath(rawPath);
  const elf = checkLibraryFile(path, opts.force, session.arch);
  const record = loadRecord(session);
  const same = record.libraries.find((l) => l.path === path);
  if (same?.pending) {
    throw new HotpatchError('E_INTERRUPTED', `an earlier load of ${basename(path)} into ${target.pid} was interrupted (#${same.id})`, 'run cleanup (or unload ' + same.id + ') to take out what of it got in, then load again');
  }
  const sha256 = fileHash(path);
  if (same && same.sha256 === sha256) {
    // Loaded already with this very content: a rollout run again finds its work done.
    return { library: same, changed: false, report: { bindings: [], missing: [], unresolvedWeak: [] }, written: [], segments: [], pauseMicros: 0,
      steps: [`${basename(path)} is already loaded in ${target.pid} (#${same.id}) with the same content (sha256 ${sha256.slice(0, 12)}): nothing to do.`] };
  }
  if (same) {
    const why = same.sha256 ? `with other content (sha256 ${same.sha256.slice(0, 12)}, the file now ${sha256.slice(0, 12)})` : '(by a hotpatch that kept no hash of it)';
    throw new HotpatchError('E_LOADED', `${basename(path)} is already loaded in ${target.pid} ${why}`, 'unload it first, or load a copy under another name');
  }
  const report = await bindPatch(session, elf, opts.binds);
  if (report.missing.length) {
    throw new HotpatchError('E_UNRESOLVED', `the patch needs ${report.missing.join(', ')}, which nothing in process ${target.pid} defines`, 'check the names, or declare them __attribute__((weak)) if they are optional');
  }
  // Everything either method would refuse is refused here, before anything happens in the target.
  const checked = checkLoadMethods(session, elf, report, opts.method);
  // Listed (as pending) before anything happens, and written in the load's own stop: whatever stops the tool, the
  // record names what may have got in. On failure the entry goes and what got in is taken out again.
  const entry = libraryEntry(session, path, opts.method, report);
  entry.sha256 = sha256;
  record.libraries.push(entry);
  record.nextId = Math.max(record.nextId, entry.id + 1);
  const progress: LoadProgress = {};
  try {
    const outcome = opts.method === 'dlopen' ? await loadByDlopen(session, path, elf, report, opts, checked, entry, progress) : await loadByMapping(session, path, elf, report, opts, checked, entry, progress);
    delete entry.pending;
    session.invalidateSpace();
    await saveRecord(session);
    return { ...outcome, changed: true };
  } catch (err) {
    record.libraries = record.libraries.filter((l) => l !== entry);
    session.invalidateSpace();
    const e = toHotpatchError(err);
    if (!target.attached) throw e;
    let undone = true;
    if (progress.undo) undone = await progress.undo().then(() => true, () => false);
    await saveRecordIfMade(session).catch(() => undefined);
    if (undone) await dropFreshPages(session).catch(() => undefined);
    if (!undone) {
      throw new HotpatchError(e.code, `${e.message}; taking ${basename(path)} out again failed too`, 'see libs and maps; cleanup takes out what is left');
    }
    throw e;
  }
}

/** Hashes read so far, by path and what stat says of the file: a rollout hashes its fix once, not once a process. */
const hashes = new Map<string, string>();

/** The sha256 of a file, in hex. */
export function fileHash(path: string): string {
  const st = statSync(path);
  const key = `${path}:${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}:${st.ctimeMs}`;
  let hash = hashes.get(key);
  if (!hash) {
    hash = crypto().createHash('sha256').update(readFileSync(path)).digest('hex');
    if (hashes.size > 64) hashes.clear();
    hashes.set(key, hash);
  }
  return hash;
}

/** What a load has put into the target so far that a failure must take out again. */
interface LoadProgress {
  undo?: () => Promise<void>;
}

/** The record back in the target, when it has a page (a failed first load may have made none). */
async function saveRecordIfMade(session: PatchContext): Promise<void> {
  if (recordPage(session)) await saveRecord(session);
}

async function loadByDlopen(session: PatchContext, path: string, elf: ElfFile, report: BindReport, opts: LoadOptions, checked: MethodCheck, entry: LoadedLibrary, progress: LoadProgress): Promise<Omit<LoadOutcome, 'changed'>> {
  const target = session.requireTarget();
  const dlopen = findFunction(session, ['dlopen', '__libc_dlopen_mode'])!;
  const dlerror = findFunction(session, ['dlerror']);
  const legacy = dlopen.name === '__libc_dlopen_mode';
  const tid = target.borrowThread();
  const steps: Step[] = [
    { kind: 'call', fn: dlopen.address, args: [0n, legacy ? RTLD_NOW | RTLD_DLOPEN_FLAG : RTLD_NOW], stackData: { arg: 0, bytes: Buffer.from(path + '\0', 'utf8') }, timeoutMs: opts.timeoutMs },
  ];
  if (dlerror && !legacy) steps.push({ kind: 'call', fn: dlerror.address, args: [], onlyIfPreviousZero: true, timeoutMs: opts.timeoutMs });
  let res;
  let back;
  try {
    // The record (its page too, on a first load) listing this library as pending, and the stub page, are written in
    // the same stop as the call, before it.
    ({ results: res, path: back } = await runCalls(target, tid, steps, () => [recordPagePlanOrWrite(session)]));
  } catch (err) {
    const e = toHotpatchError(err);
    if (e.code === 'ETIMEDOUT') {
      throw new HotpatchError('ETIMEDOUT', `dlopen in thread ${tid} did not return within ${opts.timeoutMs} ms; the thread was put back as it was`, `another thread may hold the loader or malloc lock; try again${checked.otherWay()}`);
    }
    throw e;
  }
  const pauseMicros = target.lastPause?.micros ?? 0;
  const handle = res[0]!.value;
  if (handle === 0n) {
    const msgAddr = res[1]?.value ?? 0n;
    const msg = msgAddr ? readCString(session, msgAddr) : 'dlopen returned NULL';
    throw new HotpatchError('E_DLOPEN', `dlopen failed in the target: ${msg}`, seccompNote(target.pid) ?? 'the target is unchanged');
  }
  // From here on the library is in: any failure closes it again.
  entry.handle = handle;
  progress.undo = () => dlcloseHandle(session, handle);
  // struct link_map starts with l_addr, the load bias.
  const loadBias = target.readExact(handle, 8).readBigUInt64LE(0);
  const written = writeHiddenSlots(session, checked.slots, loadBias);
  const first = elf.segments.filter((s) => s.type === 1).reduce((m, s) => (s.vaddr < m ? s.vaddr : m), 1n << 62n);
  entry.base = loadBias + (first & ~0xfffn);
  entry.loadBias = loadBias;
  return {
    library: entry,
    report,
    written,
    segments: [],
    pauseMicros,
    steps: [
      `Borrowed thread ${tid} (asleep in a system call, so it holds no lock of its own): stopped it alone (PTRACE_INTERRUPT, then waitpid for its stop) and saved its registers (PTRACE_GETREGS), vector state (PTRACE_GETREGSET NT_X86_XSTATE: x87/SSE/AVX) and signal mask (PTRACE_GETSIGMASK).`,
      `Wrote the patch record listing ${basename(path)} as pending (pwrite to /proc/${target.pid}/mem), so a tool killed from here on leaves a record that cleanup can act on.`,
      `Called ${dlopen.name}("${path}", RTLD_NOW) at ${hex(dlopen.address)}: the path copied below its stack's red zone (pwrite to /proc/${target.pid}/mem), rip and the arguments set (PTRACE_SETREGS), every signal but SIGURG blocked (PTRACE_SETSIGMASK), then PTRACE_CONT, with ${stubWords(back)}`,
      'The other threads kept running, so a lock they hold (malloc, the loader) is released as usual.',
      `Put the thread back as it was (PTRACE_SETREGS, PTRACE_SETREGSET, PTRACE_SETSIGMASK) and let it go (PTRACE_CONT); its interrupted system call restarts as if nothing happened. Handle ${hex(handle)}, load bias ${hex(loadBias)} (read from the link_map dlopen returned).`,
      ...(written.length ? [`Wrote ${counted(written.length, 'GOT slot')} for symbols the dynamic linker cannot see: ${written.map((b) => `${b.name} -> ${b.description}`).join(', ')}.`] : []),
    ],
  };
}

/** dlclose in the target; a failure is an error. */
async function dlcloseHandle(session: PatchContext, handle: bigint): Promise<void> {
  const dlclose = findFunction(session, ['dlclose']);
  if (!dlclose) throw new HotpatchError('E_NO_DLOPEN', 'the target has no dlclose');
  const target = session.requireTarget();
  const { results } = await runCalls(target, target.borrowThread(), [{ kind: 'call', fn: dlclose.address, args: [handle] }]);
  if (results[0]!.value !== 0n) throw new HotpatchError('E_DLCLOSE', 'dlclose failed in the target');
  session.invalidateSpace();
}

/** After dlopen: fill the slots of references the dynamic linker could not bind (planned before it ran: src/patch/slots.ts). */
function writeHiddenSlots(session: PatchContext, slots: HiddenSlot[], loadBias: bigint): Binding[] {
  const target = session.requireTarget();
  const done: Binding[] = [];
  for (const s of slots) {
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(s.value);
    target.writeMemory(loadBias + s.offset, word);
    if (!done.includes(s.binding)) done.push(s.binding);
  }
  return done;
}

async function loadByMapping(session: PatchContext, path: string, elf: ElfFile, report: BindReport, opts: LoadOptions, checked: MethodCheck, entry: LoadedLibrary, progress: LoadProgress): Promise<Omit<LoadOutcome, 'changed'>> {
  const target = session.requireTarget();
  adoptStubPage(target); // its mmaps through the stub page's `syscall` when a page is there
  const space = session.space();
  const span = segmentsSpan(elf);
  const main = space.main;
  // Near the executable, so a 5-byte jump from its functions reaches the new code.
  let base = main ? choosePlace(target, span.size, [main.start, main.end], placementReach(session.arch)) : undefined;
  const near = base !== undefined;
  base ??= choosePlace(target, span.size, [0x7f0000000000n], 1n << 45n);
  if (base === undefined) throw new HotpatchError('ENOMEM', 'no free address range in the target for the library');
  const plan = planMapLoad(elf, base, mapBinder(report));
  const tid = target.borrowThread();
  const protName = (p: number) => `${p & 1 ? 'r' : '-'}${p & 2 ? 'w' : '-'}${p & 4 ? 'x' : '-'}`;
  const at = base;
  // Planned in the record before the first mmap, in the same stop: an interrupted load is found and unmapped exactly.
  entry.base = at;
  entry.loadBias = at - plan.firstVaddr;
  entry.size = plan.size;
  entry.segments = plan.protections.map((p) => ({ start: at + p.offset, size: p.size, prot: protName(p.prot) }));
  // Each segment is mapped with its final protection and filled through /proc/PID/mem, which writes read-only and
  // executable pages too: no page is ever made executable after the fact, so MemoryDenyWriteExecute targets work.
  const record = recordPagePlanOrWrite(session);
  const segments: PagePlan[] = plan.protections.map((p) => pagePlan({ what: 'segment', address: at + p.offset, size: p.size, prot: BigInt(p.prot) }, () => {}));
  const writes: Step[] = plan.writes.map((w): Step => ({ kind: 'write', address: at + w.offset, bytes: w.bytes }));
  const pages = [record, ...segments];
  const steps = [...pageSteps(pages), ...writes];
  try {
    await target.runSteps(tid, steps);
  } catch (err) {
    // Every segment and page this plan made is unmapped again; the record's bytes were put back by the tracer.
    await undoPages(target, tid, pages, steps, err);
    const failure = mmapFailure(toHotpatchError(err), target.pid, 'segment');
    // A target that forbids making executable memory (MemoryDenyWriteExecute) may still let its dynamic linker map a file.
    if ((failure.code === 'EPERM' || failure.code === 'EACCES') && checked.otherWay() && !seccompNote(target.pid)) {
      throw new HotpatchError(failure.code, failure.message, `${failure.hint ?? 'the target forbids it'}${checked.otherWay()}`);
    }
    throw failure;
  }
  await confirmPages(target, tid, [record]);
  progress.undo = async () => {
    await unmapPages(target, tid, segments);
  };
  const pauseMicros = target.lastPause?.micros ?? 0;
  if (opts.init && plan.initFunctions.length) {
    await runCalls(target, tid, plan.initFunctions.map((fn): Step => ({ kind: 'call', fn, args: [0n, 0n, 0n], timeoutMs: opts.timeoutMs })));
  }
  return {
    library: entry,
    report,
    written: report.bindings.filter((b) => b.hidden),
    segments: plan.protections.map((p) => ({ start: at + p.offset, size: p.size, prot: protName(p.prot) })),
    pauseMicros,
    steps: [
      `Chose ${hex(at)} for ${plan.size} bytes${near ? ', within ±2 GiB of the executable so a 5-byte jump reaches it' : ''}, clear of every other page this command places.`,
      `Borrowed thread ${tid} (PTRACE_INTERRUPT) for remote system calls: first the patch record listing the library as pending with its planned segments, then one mmap(MAP_FIXED_NOREPLACE) per segment with its final protection (never writable and executable at once). Each: ${syscallWords(target)}`,
      `Applied the library's ${counted(elf.relocations().length, 'relocation')} (RELATIVE, GLOB_DAT, JUMP_SLOT, 64, and the TLS ones against the executable's thread-local variables) in hotpatch's memory and wrote the finished segments with pwrite to /proc/${target.pid}/mem, which writes read-only pages too; then PTRACE_CONT.`,
      opts.init ? `Ran ${counted(plan.initFunctions.length, 'constructor')}.` : 'Constructors were not run (pass --init to run them).',
    ],
  };
}

/** The record's entry for a library about to be loaded: pending, its addresses filled in as the load goes. */
function libraryEntry(session: PatchContext, path: string, method: 'dlopen' | 'map', report: BindReport): LoadedLibrary {
  const record = loadRecord(session);
  return {
    id: record.nextId,
    path,
    name: basename(path),
    method,
    base: 0n,
    loadBias: 0n,
    bindings: report.bindings.map((b) => ({
      name: b.name,
      ...(b.tls ? { tlsOffset: b.tls.offset } : { address: b.address }),
      description: b.description,
      hidden: b.hidden,
    })),
    loadedAt: new Date().toISOString(),
    pending: true,
  };
}

export function readCString(session: PatchContext, address: bigint, max = 1024): string {
  const bytes = session.requireTarget().readMemory(address, max);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('utf8');
}

/** Unload: dlclose for dlopen'ed libraries, munmap for mapped ones. Refused while a patch uses it. */
export async function unloadLibrary(session: PatchContext, which: string): Promise<{ library: LoadedLibrary; pauseMicros: number; interrupted: boolean }> {
  const target = session.requireTarget();
  adoptStubPage(target);
  const record = loadRecord(session);
  const lib = record.libraries.find((l) => l.name === which || l.path === which || String(l.id) === which || `#${l.id}` === which);
  if (!lib) throw new HotpatchError('E_NOT_LOADED', `no library "${which}" was loaded by hotpatch`, 'see `libs`');
  const users = record.patches.filter((p) => p.library === lib.path);
  if (users.length) {
    throw new HotpatchError('E_IN_USE', `${lib.name} is used by patch ${users.map((p) => `#${p.id} (${p.fromName})`).join(', ')}`, 'revert those patches first');
  }
  if (lib.pending) {
    await removeInterruptedLoad(session, lib);
  } else if (lib.method === 'dlopen') {
    // Nothing leads into the library any more (its patches are reverted): once no thread is inside it, none can
    // come back in, so dlclose may run while the others run on (they may hold the loader's lock).
    await whenNoThreadInside(session, lib, []);
    await dlcloseHandle(session, lib.handle!);
  } else {
    // The check and the munmap in one stop of every thread.
    const res = await whenNoThreadInside(session, lib, [munmapStep(lib.base, lib.size!)]);
    const err = syscallFailed(res[0]!.value);
    if (err !== undefined) throw syscallError('munmap', err);
  }
  record.libraries = record.libraries.filter((l) => l !== lib);
  session.invalidateSpace();
  await saveRecord(session);
  return { library: lib, pauseMicros: target.lastPause?.micros ?? 0, interrupted: lib.pending === true };
}

/** How much of each thread's stack is searched for a return address into code about to go away. */
export const STACK_GUARD_BYTES = 16384;

/**
 * Stop every thread and check that none is inside the library's code: its pc there, or a return address into it near
 * the top of its stack (a thread preempted in the middle of a patch function, or in something it called); retried
 * while that holds, E_BUSY after a while. `ops` run in the same stop once it is clear.
 */
async function whenNoThreadInside(session: PatchContext, lib: LoadedLibrary, steps: Step[]) {
  const target = session.requireTarget();
  const code = lib.method === 'map'
    ? (lib.segments ?? [{ start: lib.base, size: lib.size ?? 0n, prot: 'r-x' }]).filter((s) => s.prot.includes('x')).map((s) => [s.start, s.start + s.size] as [bigint, bigint])
    : target.maps().filter((m) => m.path === lib.path && m.perms.includes('x')).map((m) => [m.start, m.end] as [bigint, bigint]);
  try {
    return await target.runSteps(target.borrowThread(), steps, { stopAll: true, guard: code, guardStackBytes: STACK_GUARD_BYTES });
  } catch (err) {
    const e = toHotpatchError(err);
    if (e.code !== 'E_BUSY') throw e;
    throw new HotpatchError('E_BUSY', `a thread is still running code of ${lib.name} (its pc or a return address lies there), so it stays loaded`, 'try again in a moment; if it stays busy, something still calls into it (see bt, patches)');
  }
}

/**
 * Take out what an interrupted load (the tool killed in the middle) left: a library dlopen'ed but never recorded is
 * closed (a handle from dlopen with RTLD_NOLOAD, then dlclose for it and for the load); the segments of a map load
 * that are there, exactly as planned, are unmapped. Nothing else is touched.
 */
export async function removeInterruptedLoad(session: PatchContext, lib: LoadedLibrary): Promise<string> {
  const target = session.requireTarget();
  const maps = readMaps(target.pid);
  if (lib.method === 'dlopen') {
    if (!maps.some((m) => m.path === lib.path)) return `${lib.name} never got in`;
    const dlopen = findFunction(session, ['dlopen']);
    if (!dlopen) throw new HotpatchError('E_NO_DLOPEN', `process ${target.pid} has no dlopen to find ${lib.name} with`, 'unmap it by hand with call munmap');
    const { results } = await runCalls(target, target.borrowThread(), [
      { kind: 'call', fn: dlopen.address, args: [0n, RTLD_NOW | RTLD_NOLOAD], stackData: { arg: 0, bytes: Buffer.from(lib.path + '\0', 'utf8') } },
    ]);
    const handle = results[0]!.value;
    if (handle === 0n) return `${lib.name} is mapped but not loaded (nothing to close)`;
    await dlcloseHandle(session, handle);
    await dlcloseHandle(session, handle);
    return `closed ${lib.name} (handle ${hex(handle)})`;
  }
  const there = (lib.segments ?? []).filter((s) => maps.some((m) => m.start === s.start && m.end === s.start + s.size && m.path === ''));
  if (there.length === 0) return `none of ${lib.name}'s segments got in`;
  await unmapPages(target, target.borrowThread(), there.map((s) => ({ address: s.start, size: s.size, what: 'segment' })));
  return `unmapped ${counted(there.length, 'segment')} of ${lib.name}`;
}
