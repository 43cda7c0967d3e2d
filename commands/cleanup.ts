// cleanup: take hotpatch's own pages back out of the process once nothing of ours is in use.
import type { CommandSpec } from '../src/command.js';
import { text } from '../src/result.js';
import { removeOwnPages } from '../src/patch/cleanup.js';

export const cleanup: CommandSpec = {
  name: 'cleanup',
  stage: 'patch',
  usage: 'cleanup',
  summary: 'unmap hotpatch’s own pages (record, code areas, call stub) once all is reverted and unloaded',
  why: 'after revert all and unload, the memory map is then exactly as before the first patch',
  args: [],
  needsTarget: true,
  async run({ session }) {
    const target = session.requireTarget();
    const pages = await removeOwnPages(session);
    if (pages.length === 0) return { data: [], blocks: [text('nothing of hotpatch is left in the process', 'dim')] };
    return {
      data: pages.map((p) => ({ what: p.what, start: '0x' + p.start.toString(16), size: Number(p.size) })),
      blocks: [
        { type: 'table', columns: ['removed', 'start', 'size'], rows: pages.map((p) => [p.what, '0x' + p.start.toString(16), `${Number(p.size) / 1024}K`]) },
      ],
      pause: target.lastPause,
      explain: [
        'Stopped every thread and checked that none stood inside these pages.',
        `Called munmap on a borrowed thread for each: ${pages.map((p) => `${p.what} 0x${p.start.toString(16)}`).join(', ')}. The patch record went with them; a later load or redirect makes a new one.`,
      ],
    };
  },
};
