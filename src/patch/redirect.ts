// Redirect a function to new code with a jump at its entry (or its GOT slots), keep a trampoline to the original, undo it.
import { counted } from '../words.js';
import { notesOf } from '../symbols/resolve.js';
import { spellingFor } from '../symbols/resolve.js';
import { belongsTo } from '../symbols/scope.js';
import { HotpatchError, toHotpatchError } from '../errors.js';
import type { PatchContext } from './context.js';
import type { RuntimeSymbol } from '../symbols/types.js';
import { planEntry } from './entry.js';
import { whatReaches, reachWarnings } from './reach.js';
import { reserveCode } from './area.js';
import { hex } from '../hex.js';
import { adoptStubPage, runCalls, syscallWords } from '../process/stub.js';
import { mmapFailure } from '../process/steps.js';
import { confirmPages, pageSteps, undoPages, unmapPages, type PagePlan } from '../process/pages.js';
import { loadRecord, recordWrite, recordUpdate, type PatchEntry } from './record.js';
import { dropFreshPages } from './cleanup.js';

export interface RedirectOptions {
  force: boolean;
  got: boolean;
  /** The fix this redirect installs (src/patch/fix.ts): kept in its record entry. */
  fix?: PatchEntry['fix'];
}

export interface RedirectOutcome {
  patch: PatchEntry;
  /** false: the same redirect (this FROM to this TO) was on top already, and nothing was done. */
  changed: boolean;
  replaced: boolean;
  /** The patch it was stacked on (the function was already redirected). */
  stackedOn?: number;
  /** Why the redirect may change nothing (no caller reaches the entry, copies inlined into callers). */
  warnings?: string[];
  pauseMicros: number;
  threads: number;
  steps: string[];
  /** How FROM and TO were read, when a name had several definitions (ResolvedAddress.note). */
  notes?: string[];
}

const hexBytes = (b: Uint8Array) => Buffer.from(b).toString('hex');
const fromHex = (s: string) => Buffer.from(s, 'hex');

export async function redirect(session: PatchContext, fromText: string, toText: string, opts: RedirectOptions): Promise<RedirectOutcome> {
  try {
    return await redirectOnce(session, fromText, toText, opts);
  } catch (err) {
    // A stub page made on the way (to run an ifunc resolver) goes again when nothing of ours uses it.
    if (session.target?.attached) await dropFreshPages(session).catch(() => undefined);
    throw err;
  }
}

async function redirectOnce(session: PatchContext, fromText: string, toText: string, opts: RedirectOptions): Promise<RedirectOutcome> {
  const record = loadRecord(session);
  const from = await session.resolve(fromText);
  const to = await session.resolve(toText);
  const notes = notesOf(from, to) ?? [];
  if (opts.got) return { ...(await redirectGot(session, from.symbol, fromText, to.address, to.description, opts)), notes: notes.length ? notes : undefined };
  const sym = from.symbol;
  const steps: string[] = [];
  const isEntry = sym && sym.address === from.address && (sym.type === 'func' || sym.type === 'ifunc');
  if (!isEntry && !opts.force) {
    throw new HotpatchError('E_NOT_FUNCTION', `${from.description} is not the start of a function`, 'name a function (e.g. tick, counter.c:tick), or pass --force for a raw address');
  }
  // An indirect function's symbol is its resolver, which ran once at load time: the code callers reach is the
  // implementation the resolver chose, so that is where the jump goes.
  let fromAddress = from.address;
  let entrySym = sym;
  const chosenImpl = isEntry && sym.type === 'ifunc' ? await ifuncImplementation(session, sym) : undefined;
  if (chosenImpl !== undefined) {
    fromAddress = chosenImpl;
    const implSym = session.symbolize(chosenImpl);
    entrySym = implSym.symbol && implSym.offset === 0n ? implSym.symbol : undefined;
  }
  if (fromAddress === to.address) throw new HotpatchError('E_USAGE', 'FROM and TO are the same address');
  const fromName = sym && isEntry ? spellingFor(sym, session.naming()) : from.description;
  if (chosenImpl !== undefined) {
    steps.push(`${fromName} is an indirect function (ifunc): its resolver chose 0x${chosenImpl.toString(16)} (${session.describe(chosenImpl)}), which is the code its callers reach, so the jump goes there.`);
    notes.push(`${fromName} is an indirect function: the jump goes at the implementation its resolver picks, 0x${chosenImpl.toString(16)} (${session.describe(chosenImpl)})`);
  }
  const stack = jumpStack(record.patches, fromAddress);
  const top = stack.at(-1);
  if (top && top.to === to.address) {
    // The very redirect asked for is in place: a rollout run again changes nothing (a different TO stacks, below).
    return { patch: top, changed: false, replaced: false, stackedOn: top.below, pauseMicros: 0, threads: 0, notes: notes.length ? notes : undefined,
      steps: [`${fromName} already leads to ${to.description} (patch #${top.id}, the top of its stack): nothing to do.`] };
  }
  // hp_orig_<name> in the library that defines TO. Two layers from one library share that one pointer: it cannot
  // lead each of them down (the lower one would call itself, endlessly). The new function then takes the top layer's
  // place, and the pointer stays where it leads; under a lower layer, it is refused.
  const bare = sym?.name ?? '';
  const slot = origSlot(session, bare, to.symbol);
  const sharing = slot ? stack.find((p) => p.origPointer?.address === slot.address) : undefined;
  if (sharing && sharing !== top) {
    throw new HotpatchError('E_SHARED_ORIG', `${to.description} and patch #${sharing.id}'s ${sharing.toName} share ${slot!.module}!hp_orig_${bare}, and #${sharing.id} is not the top layer: one pointer cannot lead both down`,
      `put ${to.description} in a library of its own, or revert #${sharing.id} first`);
  }
  const replacing = sharing;
  const arch = session.arch;
  const target = session.requireTarget();

  // A new code area is mapped first on one borrowed thread; the trampoline, the veneer, a hop and hp_orig_ are
  // written while the process runs (nothing reaches them before the jump); then the record and last the jump (or,
  // on a stack, the switch to the new layer) in one stop of every thread.
  const tid = target.borrowThread();
  adoptStubPage(target); // a new code area's mmap through the stub page's `syscall` when a page is there
  const pages: PagePlan[] = [];
  const code: { address: bigint; bytes: Uint8Array; what: string }[] = [];
  let site: { at: bigint; before: Buffer; after?: Buffer; hop?: { address: bigint; before: Buffer }; trampoline: bigint; trampolineBytes: string };
  if (top) {
    // Stacked on the patch already there: the entry and its trampoline stay; the switch (the 5 bytes at the entry,
    // or in the hop) now leads to the new code, whose hp_orig_ runs the layer below.
    const at = top.at ?? top.from;
    const now = target.readExact(at, top.before.length / 2).toString('hex');
    if (now !== top.after && !opts.force) {
      throw new HotpatchError('E_CHANGED', `the bytes at ${fromName} are not the jump hotpatch wrote (${now}), so nothing is stacked on it`, 'look with disasm; revert it first, or --force');
    }
    if (top.hop) {
      const nowHop = target.readExact(top.hop.address, top.hop.after.length / 2).toString('hex');
      if (nowHop !== top.hop.after && !opts.force) {
        throw new HotpatchError('E_CHANGED', `the hop of ${fromName} at ${hex(top.hop.address)} is not the jump hotpatch wrote (${nowHop})`, 'look with disasm; revert it first, or --force');
      }
    }
    site = { at, before: fromHex(top.before), after: fromHex(top.after), hop: top.hop ? { address: top.hop.address, before: fromHex(top.hop.before) } : undefined, trampoline: top.trampoline!, trampolineBytes: top.trampolineBytes ?? '' };
    steps.push(replacing
      ? `${fromName} is already redirected (patch #${top.id}) to ${top.toName}, from the same library as ${to.description}: both would use its one hp_orig_${bare}, so ${to.description} takes #${top.id}'s place; the ${top.hop ? 'hop' : 'jump'} now leads to it, and hp_orig_${bare} keeps leading to what #${top.id} called.`
      : `${fromName} is already redirected (patch #${top.id}${stack.length > 1 ? `, the top of ${stack.length} layers` : ''}): the new patch goes on top; the entry and the trampoline stay, the ${top.hop ? 'hop' : 'jump'} now leads to the new code, and its hp_orig_ to patch #${top.id}'s.`);
  } else {
    const plan = await planEntry(session, fromAddress, entrySym && isEntry ? entrySym : undefined, opts.force);
    const room = reserveCode(session, fromAddress, 64);
    pages.push(room.page);
    // Reached through hp_orig_ pointers, an indirect call: it starts with the landing pad the CPU may require.
    const pad = Buffer.from(arch.landingPad ?? []);
    const moved = await arch.relocate(plan.code, plan.at, plan.jumpSize, room.address + BigInt(pad.length));
    const trampolineBytes = Buffer.concat([pad, moved.bytes]);
    code.push({ address: room.address, bytes: trampolineBytes, what: 'the trampoline' });
    site = { at: plan.at, before: plan.code.subarray(0, plan.jumpSize), hop: plan.hop, trampoline: room.address, trampolineBytes: hexBytes(trampolineBytes) };
    if (plan.landingPad) steps.push(`${fromName} starts with endbr64, which indirect calls must land on under CET: it stays, and the jump goes after it.`);
    steps.push(
      `${fromName} has ${counted(plan.available, 'byte')} to work with${plan.padding ? ` (${plan.size} of code + ${plan.padding} of padding)` : ''}; ${plan.hop ? `a ${arch.shortJumpSize}-byte jump does not fit, so a ${plan.jumpSize}-byte jmp rel8 goes to a hop at ${hex(plan.hop.address)}, in ${plan.hopSearch}` : `the jump needs ${plan.jumpSize}`}.`,
      `Copied its first ${counted(moved.consumed, 'byte')} (${counted(moved.instructions, 'whole instruction')}) to a trampoline at ${hex(room.address)}, re-encoded for the new address (iced-x86)${pad.length ? ' after an endbr64' : ''}, ending with a jump back: calling the trampoline runs the original.`,
    );
  }

  // The switch, the jump to TO: at the entry, or in the hop; rel32 when TO is within ±2 GiB, else through a veneer.
  const switchAt = site.hop?.address ?? site.at;
  let switchJump = arch.encodeShortJump(switchAt, to.address);
  let jumpKind: PatchEntry['jumpKind'] = 'rel32';
  let veneer: bigint | undefined;
  if (!switchJump) {
    const room = reserveCode(session, switchAt, 16);
    pages.push(room.page);
    veneer = room.address;
    code.push({ address: veneer, bytes: arch.encodeAbsoluteJump(veneer, to.address), what: 'the veneer' });
    switchJump = arch.encodeShortJump(switchAt, veneer)!;
    jumpKind = 'veneer';
    steps.push(`${to.description} is over 2 GiB away: a 5-byte jump goes to a veneer at ${hex(veneer)} holding jmp [rip+0] and the 8-byte address (no register used).`);
  } else {
    steps.push(`${to.description} is within ±2 GiB: a 5-byte jmp rel32 (e9 ${hexBytes(switchJump.subarray(1))}).`);
  }
  const entryJump = site.hop ? (site.after ?? arch.encodeTinyJump(site.at, site.hop.address)!) : switchJump;

  // hp_orig_<name> in the library that defines TO: the trampoline, or the layer below on a stack (unchanged when the
  // new function takes the place of a top layer from its own library).
  let origPointer: PatchEntry['origPointer'] = replacing?.origPointer;
  if (slot && !replacing) {
    const below = top ? top.to : site.trampoline;
    const old = target.readExact(slot.address, 8);
    code.push({ address: slot.address, bytes: le64(below), what: `hp_orig_${bare}` });
    origPointer = { address: slot.address, before: old.toString('hex') };
    steps.push(top
      ? `Stored patch #${top.id}'s ${top.toName} in ${slot.module}!hp_orig_${bare}: the new code calls the layer below, which calls the original.`
      : `Stored the trampoline's address in ${slot.module}!hp_orig_${bare}, so the new code can call the original.`);
  }

  const entry: PatchEntry = {
    id: record.nextId++,
    kind: 'jump',
    from: fromAddress,
    fromName,
    to: to.address,
    toName: to.description,
    at: site.at,
    before: site.before.toString('hex'),
    after: hexBytes(entryJump),
    hop: site.hop ? { address: site.hop.address, before: site.hop.before.toString('hex'), after: hexBytes(switchJump) } : undefined,
    below: replacing ? replacing.below : top?.id,
    jumpKind,
    trampoline: site.trampoline,
    trampolineBytes: site.trampolineBytes,
    veneer,
    origPointer,
    library: libraryOf(session, to.symbol),
    fix: opts.fix,
    appliedAt: new Date().toISOString(),
  };
  // All threads stopped, none standing inside the bytes written (a thread at their first byte is fine: it runs the
  // new jump whole). The record that lists the patch is written in the same stop, just before the jump: whenever the
  // tool dies, the record lists every jump in the process (at worst one whose bytes are still the original: revert
  // drops it). A new hop is unreachable until the entry jump exists: written while the process runs.
  const writes: { address: bigint; bytes: Uint8Array }[] = [];
  const guard: [bigint, bigint][] = [];
  if (site.hop && !top) code.push({ address: site.hop.address, bytes: switchJump, what: 'the hop' });
  if (site.hop && top) {
    writes.push({ address: site.hop.address, bytes: switchJump });
    guard.push([site.hop.address + 1n, site.hop.address + BigInt(switchJump.length)]);
  }
  if (!top || !site.hop) {
    writes.push({ address: site.at, bytes: entryJump });
    guard.push([site.at + 1n, site.at + BigInt(entryJump.length)]);
  }
  const rec = recordUpdate(session);
  pages.push(rec.page);
  const previous = record.patches;
  record.patches = [...record.patches.filter((p) => p !== replacing), entry];
  await writePatch(session, tid, pages, code, [rec.write(), ...writes], guard, () => (record.patches = previous));
  const pause = target.lastPause!;
  const made = pages.filter((p) => p.steps.length).length;
  if (made) steps.push(`Mapped ${counted(made, 'page')} of ours (read+exec, never writable) with a remote mmap on borrowed thread ${tid} alone: ${syscallWords(target)}`);
  if (code.length) steps.push(`Wrote ${code.map((c) => c.what).join(', ')} while the process ran (pwrite to /proc/${target.pid}/mem, which writes read-only pages too): nothing can reach them before the jump exists.`);
  steps.push(`Stopped ${pause.threads === 1 ? 'the one thread' : `all ${pause.threads} threads`} (PTRACE_INTERRUPT each, then waitpid until every one reported its stop), read every pc (PTRACE_GETREGS) to check none lies inside the bytes written, wrote the patch record and last the ${top && site.hop ? 'hop' : 'jump'}, and let them all go (PTRACE_CONT).`);
  // Does anything reach the entry? Said after the patch is in (the scan reads files, not the process).
  const warnings: string[] = [];
  const module = session.space().modules.find((m) => m.start <= fromAddress && fromAddress < m.end);
  if (!top && module && !opts.force) {
    const reach = whatReaches(session, module, fromAddress, entrySym && isEntry ? entrySym : undefined);
    warnings.push(...reachWarnings(fromName, module.name, reach));
    steps.push(`Looked for what reaches ${fromName} in ${module.name}: ${counted(reach.directCalls, 'direct call')}, ${counted(reach.directJumps, 'jump')}, ${counted(reach.addressTaken, 'place')} taking its address, ${counted(reach.slots, 'GOT slot or pointer', 'GOT slots or pointers')} by name${reach.inlined.length ? `; the debug info says it was inlined into ${reach.inlined.map((i) => i.caller).join(', ')}` : ''}.`);
  }
  return { patch: entry, changed: true, replaced: !!replacing, stackedOn: replacing ? replacing.below : top?.id, pauseMicros: pause.micros, threads: pause.threads, steps, notes: notes.length ? notes : undefined, warnings };
}

/** The jump patches of one function, bottom layer first (each stacked on the one before). */
export function jumpStack(patches: readonly PatchEntry[], from: bigint): PatchEntry[] {
  return patches.filter((p) => p.kind === 'jump' && p.from === from).sort((a, b) => a.id - b.id);
}


function libraryOf(session: PatchContext, sym: RuntimeSymbol | undefined): string | undefined {
  if (!sym) return undefined;
  const mod = session.space().modules.find((m) => belongsTo(sym, m));
  return loadRecord(session).libraries.find((l) => l.path === mod?.path)?.path;
}

/** Whole-process interposition: rewrite every GOT slot that imports the symbol. */
async function redirectGot(session: PatchContext, sym: RuntimeSymbol | undefined, fromText: string, to: bigint, toName: string, opts: RedirectOptions): Promise<RedirectOutcome> {
  if (!sym) throw new HotpatchError('E_USAGE', `--got needs a symbol name, not an address (${fromText})`);
  const record = loadRecord(session);
  const target = session.requireTarget();
  const space = session.space();
  const types = session.arch.relocTypes;
  const toModule = space.modules.find((m) => to >= m.start && to < m.end)?.name;
  const existing = record.patches.find((p) => p.kind === 'got' && p.fromName === sym.name);
  if (existing && existing.to === to) {
    return { patch: existing, changed: false, replaced: false, pauseMicros: 0, threads: 0, steps: [`${sym.name}'s GOT slots already lead to ${toName} (patch #${existing.id}): nothing to do.`] };
  }
  const slots: { address: bigint; module: string; before: Buffer }[] = [];
  for (const m of space.modules) {
    if (m.name === toModule) continue; // the new code's own calls still reach the real function
    const elf = space.elfOf(m);
    if (!elf) continue;
    for (const r of elf.relocations()) {
      if (r.symName !== sym.name || (r.type !== types.jumpSlot && r.type !== types.globDat)) continue;
      const address = m.loadBias + r.offset;
      const prior = existing?.slots?.find((s) => s.address === address);
      slots.push({ address, module: m.name, before: prior ? fromHex(prior.before) : target.readExact(address, 8) });
    }
  }
  if (!slots.length) throw new HotpatchError('E_NO_GOT', `no module imports ${sym.name} through a GOT slot`, 'redirect the function itself (without --got)');
  const value = le64(to);
  // hp_orig_<name>, when the patch declares one, gets the function the slots lead to now: refused before anything is
  // written when that cannot be known.
  const steps: string[] = [];
  const unseen: { address: bigint; bytes: Uint8Array; what: string }[] = [];
  let origPointer: PatchEntry['origPointer'];
  const orig = origSlot(session, sym.name, space.symbolize(to).symbol);
  if (orig) {
    const original = await originalOfSlots(session, sym, slots);
    unseen.push({ address: orig.address, bytes: le64(original.address), what: `hp_orig_${sym.name}` });
    origPointer = { address: orig.address, before: target.readExact(orig.address, 8).toString('hex') };
    steps.push(`Stored ${original.how} in ${orig.module}!hp_orig_${sym.name}, so the new code can call the original.`);
  }
  const entry: PatchEntry = {
    id: existing?.id ?? record.nextId++,
    kind: 'got',
    from: sym.address,
    fromName: sym.name,
    to,
    toName,
    before: '',
    after: value.toString('hex'),
    slots: slots.map((s) => ({ address: s.address, module: s.module, before: s.before.toString('hex') })),
    origPointer: origPointer ?? existing?.origPointer,
    library: libraryOf(session, space.symbolize(to).symbol),
    appliedAt: new Date().toISOString(),
  };
  // The record first, then the slots, in one stop (see the jump above).
  const tid = target.borrowThread();
  const rec = recordUpdate(session);
  const previous = record.patches;
  record.patches = [...record.patches.filter((p) => p !== existing), entry];
  await writePatch(session, tid, [rec.page], unseen, [rec.write(), ...slots.map((s) => ({ address: s.address, bytes: value }))], [], () => (record.patches = previous));
  const pause = target.lastPause!;
  return {
    patch: entry,
    changed: true,
    replaced: !!existing,
    pauseMicros: pause.micros,
    threads: pause.threads,
    steps: [...steps, `Rewrote ${counted(slots.length, 'GOT slot')} importing ${sym.name} (${[...new Set(slots.map((s) => s.module))].join(', ')}) to ${toName}; the code of ${sym.name} is untouched.`],
  };
}

const le64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v & 0xffffffffffffffffn);
  return b;
};

/** The patch's `hp_orig_<name>` pointer, in the module that defines the new function, when it declares one. */
function origSlot(session: PatchContext, name: string, newFunction: RuntimeSymbol | undefined): RuntimeSymbol | undefined {
  if (!name || !newFunction) return undefined;
  return session.space().names.lookup(`hp_orig_${name}`, { module: newFunction.module }).find((s) => s.type === 'object' || s.type === 'notype');
}

/**
 * The function GOT slots lead to today, resolved: a slot already bound holds it; a lazy slot (pointing back into its
 * own module's PLT) does not, and then it is what the dynamic linker binds the name to, with an ifunc's resolver
 * run in the target as ld.so would run it.
 */
async function originalOfSlots(session: PatchContext, sym: RuntimeSymbol, slots: { address: bigint; module: string; before: Buffer }[]): Promise<{ address: bigint; how: string }> {
  const space = session.space();
  const inCode = (a: bigint) => space.maps.some((m) => m.perms.includes('x') && m.start <= a && a < m.end);
  for (const s of slots) {
    const v = s.before.readBigUInt64LE(0);
    const own = space.modules.find((m) => m.name === s.module);
    const lazy = own !== undefined && v >= own.start && v < own.end;
    if (v !== 0n && !lazy && inCode(v)) return { address: v, how: `0x${v.toString(16)} (${session.describe(v)}), what the slot in ${s.module} held` };
  }
  if (sym.type !== 'ifunc') return { address: sym.address, how: `the address of ${sym.module}!${sym.name} (the slots were still lazy)` };
  const chosen = await ifuncImplementation(session, sym);
  return { address: chosen, how: `0x${chosen.toString(16)} (${session.describe(chosen)}), the implementation the ifunc resolver of ${sym.module}!${sym.name} chose` };
}

/** The implementation an indirect function's resolver picks, by running the resolver in the target as ld.so does. */
async function ifuncImplementation(session: PatchContext, sym: RuntimeSymbol): Promise<bigint> {
  const space = session.space();
  const target = session.requireTarget();
  const { results } = await runCalls(target, target.borrowThread(), [{ kind: 'call', fn: sym.address, args: [] }]);
  const chosen = results[0]!.value;
  if (!space.maps.some((m) => m.perms.includes('x') && m.start <= chosen && chosen < m.end)) {
    throw new HotpatchError('E_IFUNC', `the resolver of the indirect function ${sym.module}!${sym.name} returned 0x${chosen.toString(16)}, which is not code`, 'name the implementation itself (see syms)');
  }
  return chosen;
}

export interface RevertOutcome {
  reverted: PatchEntry[];
  /** Patches whose code was already the original (put back by hand, or a jump that never landed): only unlisted. */
  alreadyOriginal: PatchEntry[];
  pauseMicros: number;
}

/** Put the original bytes back after checking they are still what we wrote; `all` undoes in reverse order. */
export async function revert(session: PatchContext, which: string, force: boolean): Promise<RevertOutcome> {
  const record = loadRecord(session);
  const target = session.requireTarget();
  let chosen: PatchEntry[];
  if (which === 'all') {
    chosen = [...record.patches].sort((a, b) => b.id - a.id);
  } else {
    const byId = /^#?\d+$/.test(which) ? record.patches.find((p) => p.id === Number(which.replace('#', ''))) : undefined;
    // By the function: its top layer.
    const tops = (list: PatchEntry[]): PatchEntry | undefined => list.sort((a, b) => b.id - a.id)[0];
    let byName = tops(record.patches.filter((p) => p.fromName === which));
    if (!byId && !byName) {
      const r = await session.resolve(which).catch(() => undefined);
      byName = r ? tops(record.patches.filter((p) => p.from === r.address)) : undefined;
      // A fix that carries the original's name (patch FUNC) makes the bare name ambiguous; it still names the one
      // patched function of that name.
      const same = byName ? [] : record.patches.filter((p) => p.fromName.replace(/^.*[:!]/, '') === which);
      if (new Set(same.map((p) => p.from)).size === 1) byName = tops(same);
    }
    const p = byId ?? byName;
    if (!p) throw new HotpatchError('E_NO_PATCH', `no active patch for "${which}"`, 'see `patches`');
    chosen = [p];
  }
  let pauseMicros = 0;
  const alreadyOriginal: PatchEntry[] = [];
  for (const p of chosen) {
    // The bytes first, then the record without the patch, in one stop: a kill of the tool in between leaves a listed
    // patch whose bytes are already the original (or the layer below's), which the next revert simply drops.
    const step = p.kind === 'jump' ? revertJump(session, p, force) : revertGot(session, p, force);
    if (step.alreadyOriginal) alreadyOriginal.push(p);
    const previous = record.patches;
    const relinked = step.relink ? { patch: step.relink, below: step.relink.below } : undefined;
    record.patches = record.patches.filter((x) => x !== p);
    if (relinked) relinked.patch.below = p.below;
    try {
      await target.writeWhileStopped([...step.writes, await recordWrite(session)], step.guard);
    } catch (err) {
      record.patches = previous;
      if (relinked) relinked.patch.below = relinked.below;
      throw err;
    }
    pauseMicros += target.lastPause?.micros ?? 0;
  }
  return { reverted: chosen, alreadyOriginal, pauseMicros };
}

interface RevertStep {
  writes: { address: bigint; bytes: Uint8Array }[];
  guard: [bigint, bigint][];
  /** Recorded, but its jump never landed (or was already taken out): only the record changes. */
  alreadyOriginal?: boolean;
  /** The layer above, whose hp_orig_ now leads to the layer below (its `below` changes with the record). */
  relink?: PatchEntry;
}

/**
 * Taking one layer of a function's stack away. The top one: the switch (at the entry, or in the hop) goes back to the
 * layer below, or, with none, every byte of the entry and the hop is the original again. A layer under another: the
 * one above now calls, through its hp_orig_, what this one called (the layer below, or the trampoline). The layer's
 * own hp_orig_ is left as it is: a thread that entered the layer just before still calls through it, and what it
 * leads to (a trampoline, the layer below) stays in place.
 */
function revertJump(session: PatchContext, p: PatchEntry, force: boolean): RevertStep {
  const target = session.requireTarget();
  const stack = jumpStack(loadRecord(session).patches, p.from);
  const k = stack.indexOf(p);
  const below = k > 0 ? stack[k - 1] : undefined;
  const above = stack[k + 1];
  const at = p.at ?? p.from;
  const writes: RevertStep['writes'] = [];
  const guard: [bigint, bigint][] = [];
  if (above) {
    const slot = above.origPointer;
    if (slot) {
      const now = target.readExact(slot.address, 8).readBigUInt64LE(0);
      if (now !== p.to && !force) {
        throw new HotpatchError('E_CHANGED', `patch #${above.id}'s hp_orig_ at ${hex(slot.address)} no longer leads to patch #${p.id} (it holds ${hex(now)})`, 'look with peek; --force relinks it anyway');
      }
      writes.push({ address: slot.address, bytes: le64(below ? below.to : p.trampoline!) });
    }
    return { writes, guard, relink: above };
  }
  const now = target.readExact(at, p.after.length / 2).toString('hex');
  const hopNow = p.hop ? target.readExact(p.hop.address, p.hop.after.length / 2).toString('hex') : undefined;
  if (!below && now === p.before && (!p.hop || hopNow === p.hop.before) && !force) return { writes: [], guard, alreadyOriginal: true };
  if ((now !== p.after || (p.hop && hopNow !== p.hop.after)) && !force) {
    throw new HotpatchError('E_CHANGED', `the bytes at ${p.fromName} are not the jump hotpatch wrote (${p.hop && now === p.after ? `hop at ${hex(p.hop.address)}: ${hopNow}` : now}), so they are left alone`, 'look with disasm; --force writes the original bytes anyway');
  }
  if (below) {
    // The layer below is on top again: its switch bytes.
    if (p.hop) {
      writes.push({ address: p.hop.address, bytes: fromHex(below.hop!.after) });
      guard.push([p.hop.address + 1n, p.hop.address + BigInt(p.hop.after.length / 2)]);
    } else {
      writes.push({ address: at, bytes: fromHex(below.after) });
      guard.push([at + 1n, at + BigInt(below.after.length / 2)]);
    }
    return { writes, guard };
  }
  writes.push({ address: at, bytes: fromHex(p.before) });
  guard.push([at + 1n, at + BigInt(p.before.length / 2)]);
  if (p.hop) {
    // No thread may stand in the hop when it turns back into padding.
    writes.push({ address: p.hop.address, bytes: fromHex(p.hop.before) });
    guard.push([p.hop.address, p.hop.address + BigInt(p.hop.before.length / 2)]);
  }
  return { writes, guard };
}

function revertGot(session: PatchContext, p: PatchEntry, force: boolean): RevertStep {
  const target = session.requireTarget();
  const changed = p.slots!.filter((s) => {
    const now = target.readExact(s.address, 8).toString('hex');
    return now !== p.after && now !== s.before;
  });
  if (changed.length && !force) {
    const s = changed[0]!;
    throw new HotpatchError('E_CHANGED', `GOT slot ${hex(s.address)} (${s.module}) changed since the redirect`, '--force restores it anyway');
  }
  return { writes: p.slots!.map((s) => ({ address: s.address, bytes: fromHex(s.before) })), guard: [] };
}

/**
 * The pages the preludes make (a new code area, the record's page) first, in a stop of the one borrowed thread alone
 * (asleep in a system call: the process hardly notices), each checked before use. Then, while everything runs,
 * `unseen`: bytes no thread can reach before the jump exists (trampoline, veneer in our own pages; the hp_orig_
 * pointer, an aligned 8-byte write). Last the stop of every thread (none inside `guard`), holding only `writes` (the
 * record, then the jump): the shorter it is, the shorter every thread stands still. On failure the tracer rolls
 * `writes` back, `unseen` bytes are put back as they were, `undo` restores the record in memory, and the pages this
 * command made are unmapped again: the process is left as it was found.
 */
async function writePatch(session: PatchContext, tid: number, pages: PagePlan[], unseen: { address: bigint; bytes: Uint8Array }[], writes: { address: bigint; bytes: Uint8Array }[], guard: [bigint, bigint][], undo: () => void): Promise<void> {
  const target = session.requireTarget();
  const made = pages.filter((p) => p.steps.length > 0);
  const written: { address: bigint; before: Buffer }[] = [];
  let pagesMade = false;
  try {
    if (made.length) {
      const steps = pageSteps(made);
      try {
        await target.runSteps(tid, steps);
      } catch (err) {
        await undoPages(target, tid, made, steps, err);
        throw err;
      }
      pagesMade = true;
      const bad = await confirmPages(target, tid, made);
      if (bad.length) throw new HotpatchError('E_PAGE_CHECK', `the ${bad[0]!.what} hotpatch made did not hold what was written there; it was unmapped again`, 'try again');
    }
    for (const w of unseen) {
      written.push({ address: w.address, before: target.readExact(w.address, w.bytes.length) });
      target.writeMemory(w.address, w.bytes);
    }
    await target.writeWhileStopped(writes, guard);
  } catch (err) {
    for (const w of written.reverse()) {
      try {
        target.writeMemory(w.address, w.before);
      } catch {
        // the target is gone, or the page with it
      }
    }
    undo();
    if (pagesMade && target.attached) {
      const mapped = made.filter((p) => p.address !== undefined);
      await unmapPages(target, tid, mapped).catch(() => undefined);
      for (const p of mapped) p.abandon?.();
    }
    throw mmapFailure(toHotpatchError(err), target.pid, 'code area');
  }
}
