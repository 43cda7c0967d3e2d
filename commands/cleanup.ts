// cleanup: take out what failed or killed commands left, and hotpatch's own pages once nothing of ours is in use.
import type { CommandSpec } from '../src/command.js';
import { text, type Block } from '../src/result.js';
import { cleanupProcess } from '../src/patch/cleanup.js';

export const cleanup: CommandSpec = {
  name: 'cleanup',
  stage: 'patch',
  usage: 'cleanup',
  summary: 'take out what an interrupted command left, and hotpatch’s own pages (record, code areas, call stub) once all is reverted and unloaded',
  why: 'after revert all and unload, the memory map is then exactly as before the first patch; after a killed or failed command, nothing of it stays behind',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const out = await cleanupProcess(session);
    const data = [
      ...out.interrupted.map((l) => ({ what: 'interrupted load', name: l.name, id: l.id, done: l.done })),
      ...out.pages.map((p) => ({ what: p.what, start: '0x' + p.start.toString(16), size: Number(p.size), orphan: p.orphan || undefined })),
    ];
    if (data.length === 0) return { data: [], blocks: [text('nothing of hotpatch is left in the process', 'dim')] };
    const blocks: Block[] = [];
    for (const l of out.interrupted) blocks.push(text(`interrupted load #${l.id} ${l.name}: ${l.done}`, 'ok'));
    if (out.pages.length) {
      blocks.push({ type: 'table', columns: ['removed', 'start', 'size'], rows: out.pages.map((p) => [p.orphan ? `${p.what} (left by a failed or killed command)` : p.what, '0x' + p.start.toString(16), `${Number(p.size) / 1024}K`]) });
    }
    if (out.kept) blocks.push(text(`kept hotpatch's own pages: ${out.kept}`, 'dim'));
    return {
      data,
      blocks,
      explain: [
        ...(out.interrupted.length ? ['Interrupted loads listed as pending in the record: a dlopen\'ed library was found with dlopen(RTLD_NOLOAD) and closed; a mapped one had exactly its planned segments unmapped.'] : []),
        'Stopped every thread and checked that none stood inside these pages, nor inside a remote call returning into the stub page.',
        `Called munmap on a borrowed thread for each: ${out.pages.map((p) => `${p.what} 0x${p.start.toString(16)}`).join(', ') || 'none'}.${out.kept ? '' : ' The patch record went with them; a later load or redirect makes a new one.'}`,
      ],
    };
  },
};
