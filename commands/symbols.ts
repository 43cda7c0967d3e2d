// symbols MODULE FILE: use a separate debug file for a stripped module's symbols.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';
import { openElf } from '../src/elf/reader.js';
import { HotpatchError } from '../src/errors.js';
import { resolveModuleName } from '../src/symbols/resolve.js';

export const symbols: CommandSpec = {
  name: 'symbols',
  stage: 'explore',
  usage: 'symbols MODULE FILE',
  summary: "read a stripped module's symbols from a separate debug file",
  args: [
    { name: 'module', kind: 'module' },
    { name: 'file', kind: 'path' },
  ],
  needsTarget: true,
  async run({ session }, { args }) {
    const space = session.space();
    const name = resolveModuleName(args.module as string, space.modules);
    const mod = space.modules.find((m) => m.name === name)!;
    const debug = openElf(args.file as string);
    const elf = space.elfOf(mod);
    if (elf?.buildId && debug.buildId && elf.buildId !== debug.buildId) {
      throw new HotpatchError('E_BUILD_ID', `${args.file} is for another build (build-id ${debug.buildId}, module has ${elf.buildId})`, 'use the debug file made from this very binary');
    }
    session.elves.userDebugFiles.set(name, args.file as string);
    session.elves.forget(mod.path);
    session.invalidateSpace();
    const count = session.space().index.match('*', { module: name }).length;
    return { data: { module: name, file: args.file, symbols: count }, blocks: [text(`${name}: ${count} symbols with ${args.file}`, 'ok')] };
  },
};
