// load PATH: bring a patch library into the process, by its dlopen or mapped by us, bound to the program's statics.
import type { CommandSpec } from '../src/command.js';
import { parseNumber } from '../src/command.js';
import { hex, text, type Block } from '../src/result.js';
import { loadLibrary } from '../src/patch/loader.js';
import { parseBindOptions } from '../src/patch/binding.js';

export const load: CommandSpec = {
  name: 'load',
  stage: 'load',
  usage: 'load PATH [--method dlopen|map] [--bind SYM=WHERE]… [--init] [--force] [--timeout MS]',
  summary: 'load a patch .so into the process (dlopen in the target, or our own loader)',
  why: 'the new code arrives as a shared library; its references to the program, statics included, are bound to the live process',
  args: [{ name: 'path', kind: 'path' }],
  options: [
    { name: 'method', kind: 'string', values: ['dlopen', 'map'], help: 'dlopen: the target loads it itself (default); map: we map and relocate it, near the executable' },
    { name: 'bind', kind: 'list', valueName: 'SYM=WHERE', help: 'bind a reference to one definition, e.g. counter=b.c:counter' },
    { name: 'init', kind: 'flag', help: 'map: run its constructors' },
    { name: 'force', kind: 'flag', help: 'load even a library others can write to (as root)' },
    { name: 'timeout', kind: 'number', valueName: 'MS', help: 'how long the remote dlopen may take (default 2000)' },
  ],
  needsTarget: true,
  async run({ session }, { args, options }) {
    const method = (options.method as 'dlopen' | 'map' | undefined) ?? 'dlopen';
    const out = await loadLibrary(session, args.path as string, {
      method,
      binds: parseBindOptions(options.bind as string[] | undefined),
      force: options.force === true,
      init: options.init === true,
      timeoutMs: options.timeout ? parseNumber(options.timeout as string, '--timeout') : 2000,
    });
    const lib = out.library;
    if (!out.changed) {
      return {
        data: { ...lib, changed: false },
        blocks: [text(`${lib.name} is already loaded (#${lib.id}) with the same content (sha256 ${lib.sha256!.slice(0, 12)}): unchanged`, 'dim')],
        explain: out.steps,
        changed: false,
      };
    }
    const blocks: Block[] = [text(`loaded ${lib.name} (#${lib.id}) by ${method} at ${hex(lib.base)}`, 'ok')];
    if (out.segments.length) {
      blocks.push({ type: 'table', columns: ['segment', 'size', 'prot'], rows: out.segments.map((s) => [hex(s.start), hex(s.size), s.prot]) });
    }
    if (lib.bindings.length) {
      blocks.push({
        type: 'table',
        columns: ['reference', 'bound to', 'address', 'by'],
        rows: lib.bindings.map((b) => [b.name, b.description, b.address !== undefined ? hex(b.address) : `TLS+${hex(b.tlsOffset ?? 0n)}`, b.hidden ? 'hotpatch' : method === 'dlopen' ? 'ld.so' : 'hotpatch']),
      });
    }
    if (out.report.unresolvedWeak.length) blocks.push(text(`left 0 (weak, not found): ${out.report.unresolvedWeak.join(', ')}`, 'warn'));
    return {
      data: { ...lib, segments: out.segments.map((s) => ({ start: '0x' + s.start.toString(16), size: '0x' + s.size.toString(16), prot: s.prot })), unresolvedWeak: out.report.unresolvedWeak, pauseMicros: out.pauseMicros },
      blocks,
      explain: out.steps,
      changed: true,
    };
  },
};
