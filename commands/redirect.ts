// redirect / revert / patches: send a function's callers to new code, see every patch, undo them.
import type { CommandSpec } from '../src/command.js';
import { hex, text } from '../src/result.js';
import { redirect as applyRedirect, revert as applyRevert, jumpStack } from '../src/patch/redirect.js';
import { loadRecord, type PatchEntry } from '../src/patch/record.js';
import { unloadFixes, fixLabel } from '../src/patch/fix.js';

export const redirect: CommandSpec = {
  name: 'redirect',
  stage: 'patch',
  usage: 'redirect FROM TO [--got] [--force]',
  summary: 'replace function FROM by TO: a jump at its entry (or its GOT slots with --got)',
  why: 'the heart of a hot patch: every call of the old function now runs the new one; the original stays callable via hp_orig_<name>',
  args: [
    { name: 'from', kind: 'address', help: 'the function to replace' },
    { name: 'to', kind: 'address', help: 'the new function (usually in a loaded library)' },
  ],
  options: [
    { name: 'got', kind: 'flag', help: 'rewrite the GOT slots importing FROM instead of its code' },
    { name: 'force', kind: 'flag', help: 'skip the safety checks (not a function start, branch into the entry, bytes changed)' },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const out = await applyRedirect(session, args.from as string, args.to as string, { force: options.force === true, got: options.got === true });
    const p = out.patch;
    if (!out.changed) {
      return {
        data: { ...p, changed: false },
        blocks: [text(`patch #${p.id}: ${p.fromName} -> ${p.toName} is already in place: unchanged`, 'dim')],
        explain: out.steps,
        notes: out.notes,
        changed: false,
      };
    }
    const pairs: [string, string][] =
      p.kind === 'jump'
        ? [
            ['from', `${p.fromName} ${hex(p.from)}`],
            ['to', `${p.toName} ${hex(p.to)}`],
            ...(p.at !== undefined && p.at !== p.from ? [['at', `${hex(p.at)} (after the endbr64 at the entry)`] as [string, string]] : []),
            ['jump', p.hop ? `jmp rel8 to a hop at ${hex(p.hop.address)} in padding, which holds the 5-byte jump` : p.veneer !== undefined ? `rel32 to a veneer at ${hex(p.veneer)} (TO is over 2 GiB away)` : p.jumpKind ?? 'rel32'],
            ...(p.hop && p.veneer !== undefined ? [['veneer', `${hex(p.veneer)} (TO is over 2 GiB away)`] as [string, string]] : []),
            ['before', p.before],
            ['after', p.after],
            ...(p.hop ? [['hop', `${p.hop.before} -> ${p.hop.after}`] as [string, string]] : []),
            ...(out.stackedOn !== undefined ? [['stacked on', `#${out.stackedOn}: hp_orig_ runs it, and it the original`] as [string, string]] : []),
            ['trampoline', p.trampoline !== undefined ? `${hex(p.trampoline)}  ${p.trampolineBytes ?? ''}` : '-'],
            ['hp_orig', p.origPointer ? `set at ${hex(p.origPointer.address)}` : '-'],
          ]
        : [
            ['symbol', p.fromName],
            ['to', `${p.toName} ${hex(p.to)}`],
            ['slots', p.slots!.map((s) => `${s.module}:${hex(s.address)}`).join(', ')],
            ['hp_orig', p.origPointer ? `set at ${hex(p.origPointer.address)}` : '-'],
          ];
    return {
      data: { ...p, replaced: out.replaced, stackedOn: out.stackedOn, warnings: out.warnings?.length ? out.warnings : undefined },
      blocks: [
        text(`patch #${p.id}: ${p.fromName} -> ${p.toName}${out.replaced ? ' (in place of the top layer, from the same library: one hp_orig_ pointer)' : out.stackedOn !== undefined ? ` (on top of #${out.stackedOn})` : ''}`, 'ok'),
        ...(out.warnings ?? []).map((w) => text(`warning: ${w}`, 'warn')),
        { type: 'pairs', pairs },
      ],
      explain: out.steps,
      notes: out.notes,
      changed: true,
    };
  },
};

export const revert: CommandSpec = {
  name: 'revert',
  aliases: ['undo'],
  stage: 'patch',
  usage: 'revert FROM|ID|all [--force]',
  summary: 'undo a patch, any layer of a stack (FROM: its top one); checks the bytes are still ours first',
  args: [{ name: 'which', kind: 'address' }],
  options: [{ name: 'force', kind: 'flag', help: 'restore even if someone changed the bytes since' }],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const out = await applyRevert(session, args.which as string, options.force === true);
    // A fix compiled by `patch` goes with its last patch: its library is unloaded.
    const unloaded = await unloadFixes(session, out.reverted);
    return {
      changed: out.reverted.length > 0,
      data: { reverted: out.reverted.map((p) => ({ id: p.id, from: p.fromName, alreadyOriginal: out.alreadyOriginal.includes(p) || undefined })), unloaded: unloaded.length ? unloaded : undefined },
      blocks: [...(out.reverted.length
        ? out.reverted.map((p) => out.alreadyOriginal.includes(p)
          ? text(`#${p.id} ${p.fromName}: its code was already the original (put back by hand, or the jump never landed); taken off the record`, 'warn')
          : text(`reverted #${p.id} ${p.fromName}`, 'ok'))
        : [text('nothing to revert', 'dim')]), ...unloaded.map((l) => text(`unloaded the fix ${l.slice(l.lastIndexOf('/') + 1)}`, 'ok'))],
      explain: [...(unloaded.length ? [`Unloaded the library compiled for the fix (${unloaded.join(', ')}), which no patch uses any more, and removed its file.`] : []), 'Checked the bytes at each entry are still the jump we wrote (process_vm_readv), stopped all threads (PTRACE_INTERRUPT each, waitpid), checked no pc lies inside those bytes (PTRACE_GETREGS), wrote the original bytes back and then the patch record without them with pwrite to /proc/PID/mem, in that one stop, and let them go (PTRACE_CONT).'],
    };
  },
};

export const patches: CommandSpec = {
  name: 'patches',
  stage: 'patch',
  usage: 'patches',
  summary: 'every active patch, each function\'s stack of layers in order: from, to, kind, bytes, trampoline (kept inside the process)',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const list = loadRecord(session).patches;
    // A function's layers together, bottom first; `layer` says where each stands (2/3: the second of three).
    const rows = [...list].sort((a, b) => (a.from === b.from ? a.id - b.id : a.from < b.from ? -1 : 1));
    const layer = (p: PatchEntry) => {
      if (p.kind !== 'jump') return '-';
      const stack = jumpStack(list, p.from);
      return stack.length === 1 ? '-' : `${stack.indexOf(p) + 1}/${stack.length}`;
    };
    const kind = (p: PatchEntry) => (p.kind === 'got' ? 'got' : `${p.hop ? 'hop+' : ''}${p.jumpKind ?? 'jump'}`);
    return {
      data: list,
      blocks: list.length
        ? [{ type: 'table', columns: ['#', 'from', 'layer', 'to', 'kind', 'before', 'after', 'trampoline', 'fix', 'applied'], optional: [9, 5, 6, 7, 8], rows: rows.map((p) => [String(p.id), `${p.fromName} ${hex(p.from)}`, layer(p), p.toName, kind(p), p.before || '-', p.after, p.trampoline !== undefined ? hex(p.trampoline) : '-', fixLabel(p), p.appliedAt.replace('T', ' ').slice(0, 19)]) }]
        : [text('no active patches', 'dim')],
    };
  },
};
