// maps: the memory map of the process, with module names and load bias.
import type { CommandSpec } from '../src/command.js';
import { hex } from '../src/result.js';
import { ownPages } from '../src/patch/cleanup.js';

export const maps: CommandSpec = {
  name: 'maps',
  stage: 'explore',
  usage: 'maps [FILTER]',
  summary: 'memory map: ranges, permissions, files',
  args: [{ name: 'filter', kind: 'string', optional: true, help: 'show only lines whose file contains this' }],
  needsTarget: true,
  async run({ session }, { args }) {
    const space = session.space();
    const filter = args.filter as string | undefined;
    // hotpatch's own anonymous pages, named for what they hold (maps of the kernel show them without a name).
    let ours = new Map<bigint, string>();
    try {
      ours = new Map(ownPages(session).map((p) => [p.start, `[hotpatch ${p.what}]`]));
    } catch {
      // a record another version wrote, or a damaged one: the map is shown without our names
    }
    const named = space.maps.map((m) => (m.path === '' && ours.has(m.start) ? { ...m, path: ours.get(m.start)! } : m));
    const entries = named.filter((m) => !filter || m.path.includes(filter));
    const moduleOf = (path: string) => space.modules.find((m) => m.path === path);
    return {
      data: entries.map((m) => ({ start: hex(m.start), end: hex(m.end), perms: m.perms, offset: hex(m.offset), path: m.path, module: moduleOf(m.path)?.name })),
      blocks: [
        {
          type: 'table',
          columns: ['start', 'end', 'perm', 'size', 'offset', 'file'],
          rows: entries.map((m) => [hex(m.start), hex(m.end), m.perms, sizeText(m.end - m.start), hex(m.offset), m.path]),
          alignRight: [3],
        },
      ],
    };
  },
};

function sizeText(n: bigint): string {
  const v = Number(n);
  if (v >= 1 << 30) return (v / (1 << 30)).toFixed(1) + 'G';
  if (v >= 1 << 20) return (v / (1 << 20)).toFixed(1) + 'M';
  if (v >= 1 << 10) return (v / (1 << 10)).toFixed(0) + 'K';
  return String(v);
}
