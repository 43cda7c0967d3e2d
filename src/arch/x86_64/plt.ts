// x86-64 PLT entries: which GOT slot each one jumps through, so its stub can be named `func@plt` as objdump does.

/**
 * The GOT slot an x86-64 PLT entry jumps through: the first `jmp qword ptr [rip + disp32]` (ff 25) in it, with or
 * without `endbr64` before and a `bnd` (f2) prefix. That covers .plt entries (jmp first, then push and jmp to PLT0),
 * .plt.sec (endbr64; bnd jmp) and .plt.got; entries with no such jump (PLT0's push, IBT .plt's push/jmp) give none.
 */
export function pltSlot(entry: Uint8Array, address: bigint): bigint | undefined {
  for (let p = 0; p + 6 <= entry.length; p++) {
    if (entry[p] !== 0xff || entry[p + 1] !== 0x25) continue;
    const disp = new DataView(entry.buffer, entry.byteOffset + p + 2, 4).getInt32(0, true);
    return address + BigInt(p + 6) + BigInt(disp);
  }
  return undefined;
}
