// Names for PLT stubs: `malloc@plt` for the 16 bytes a `call` into the PLT lands on, from the GOT slot each entry
// jumps through and the relocation that fills that slot (JUMP_SLOT, or GLOB_DAT for .plt.got).
import type { ElfFile, ElfSymbol } from './types.js';

const PLT_SECTIONS = ['.plt', '.plt.sec', '.plt.got'];

/** The machine's decoder of one PLT entry: the GOT slot it jumps through (Arch.pltSlot). */
export type PltSlotDecoder = (entry: Uint8Array, address: bigint) => bigint | undefined;

const cache = new WeakMap<ElfFile, ElfSymbol[]>();

/**
 * Synthetic local function symbols, one per PLT entry whose slot a relocation names; none for stripped section
 * tables, or without a decoder for the file's machine.
 */
export function pltSymbols(elf: ElfFile, decode: PltSlotDecoder | undefined): ElfSymbol[] {
  let found = cache.get(elf);
  if (!found) {
    try {
      found = decode ? decodePlt(elf, decode) : [];
    } catch {
      found = []; // a damaged relocation table or section: no names, the rest still works
    }
    cache.set(elf, found);
  }
  return found;
}

function decodePlt(elf: ElfFile, decode: PltSlotDecoder): ElfSymbol[] {
  const sections = elf.sections.filter((s) => PLT_SECTIONS.includes(s.name) && s.size > 0n);
  if (sections.length === 0) return [];
  const bySlot = new Map<bigint, string>();
  for (const r of elf.relocations()) if (r.symName) bySlot.set(r.offset, r.symName);
  const out: ElfSymbol[] = [];
  for (const s of sections) {
    const shndx = elf.sections.indexOf(s);
    // .plt.got entries are 8 bytes without IBT, 16 with it; sh_entsize says which (some linkers leave it 0).
    const step = s.entsize > 0n && s.entsize <= 32n ? Number(s.entsize) : s.name === '.plt.got' ? 8 : 16;
    const bytes = elf.readVirtual(s.addr, Number(s.size));
    if (!bytes) continue;
    for (let at = 0; at + step <= bytes.length; at += step) {
      const address = s.addr + BigInt(at);
      const slot = decode(bytes.subarray(at, at + step), address);
      const name = slot === undefined ? undefined : bySlot.get(slot);
      if (name === undefined) continue;
      out.push({ name: `${name}@plt`, value: address, size: step, type: 'func', bind: 'local', shndx, defined: true, table: 'symtab' });
    }
  }
  return out;
}
