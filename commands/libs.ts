// libs / unload: the libraries hotpatch loaded into the process, and taking one out again.
import type { CommandSpec } from '../src/command.js';
import { hex, text } from '../src/result.js';
import { loadRecord } from '../src/patch/record.js';
import { unloadLibrary } from '../src/patch/loader.js';

export const libs: CommandSpec = {
  name: 'libs',
  stage: 'load',
  usage: 'libs',
  summary: 'libraries loaded by hotpatch, and how',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const list = loadRecord(session).libraries;
    return {
      data: list,
      blocks: list.length
        ? [
            { type: 'table', columns: ['#', 'name', 'method', 'base', 'bindings', 'path'], rows: list.map((l) => [String(l.id), l.pending ? `${l.name} (interrupted)` : l.name, l.method, l.pending ? '-' : hex(l.base), String(l.bindings.length), l.path]) },
            ...(list.some((l) => l.pending) ? [text('an interrupted load (the tool was killed or failed mid-way) is taken out by cleanup', 'warn')] : []),
          ]
        : [text('no library loaded by hotpatch', 'dim')],
    };
  },
};

export const unload: CommandSpec = {
  name: 'unload',
  stage: 'load',
  usage: 'unload LIB',
  summary: 'remove a loaded library that no active patch uses',
  args: [{ name: 'lib', kind: 'string', help: 'name, path or # from libs' }],
  needsTarget: true,
  async run({ session }, { args }) {
    const out = await unloadLibrary(session, args.lib as string);
    return {
      data: { ...out.library, pauseMicros: out.pauseMicros },
      changed: true,
      blocks: [text(out.interrupted ? `took out the interrupted load of ${out.library.name}` : `unloaded ${out.library.name}`, 'ok')],
      explain: [out.library.method === 'dlopen' ? 'dlclose(handle) called on a borrowed thread.' : 'munmap of its memory on a borrowed thread.'],
    };
  },
};
