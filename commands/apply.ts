// apply FIX.json [--revert]: bring the process to the state a fix manifest declares (or take the fix off), saying
// what changed; run again, it changes nothing. The same command runs in each process of `hotpatch apply`.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';
import { readManifest, applyManifest, revertManifest } from '../src/patch/manifest.js';

export const apply: CommandSpec = {
  name: 'apply',
  stage: 'patch',
  usage: 'apply FIX.json [--revert]',
  summary: 'bring the process to a declared fix: its libraries loaded, its redirects in place (unchanged when they are)',
  why: 'a fix described once, for one build of a module, applied the same way to every process; safe to run again (docs/fleet.md)',
  args: [{ name: 'manifest', kind: 'path', help: 'the fix manifest (JSON, format hotpatch-fix/1)' }],
  options: [{ name: 'revert', kind: 'flag', help: 'take the fix off: its redirects reverted, its libraries unloaded' }],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const manifest = readManifest(args.manifest as string);
    const out = options.revert === true ? await revertManifest(session, manifest) : await applyManifest(session, manifest);
    const verb = { load: 'loaded', redirect: 'redirected', unload: 'unloaded', revert: 'reverted' } as const;
    const already = { load: 'already loaded', redirect: 'already in place', unload: 'not loaded', revert: 'not in place' } as const;
    return {
      data: out,
      changed: out.changed,
      blocks: [
        text(`${out.name}: ${out.changed ? (options.revert ? 'taken off' : 'applied') : 'unchanged'} (${out.modules.map((m) => `${m.module}${m.buildId ? ` ${m.buildId.slice(0, 12)}` : ''}`).join(', ')})`, out.changed ? 'ok' : 'dim'),
        ...out.steps.map((s) => text(`  ${s.changed ? verb[s.kind] : already[s.kind]}: ${s.what}${s.id !== undefined ? ` (#${s.id})` : ''}`, s.changed ? 'plain' : 'dim')),
      ],
    };
  },
};
