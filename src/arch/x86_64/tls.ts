// x86-64 thread-local storage (TLS variant II): where the executable's TLS block lies below the thread pointer.
//
// The thread pointer (fs_base) points at the thread control block; the TLS blocks of the modules loaded at start
// lie below it, the executable's first, so a variable of the executable is at fs_base - blockOffset + st_value,
// where st_value of an STT_TLS symbol is its offset in the module's TLS image (PT_TLS). ld.so computes blockOffset
// (l_tls_offset) in _dl_determine_tlsoffset: for the first module, with nothing placed before it,
//   firstbyte = -(p_vaddr mod p_align) mod p_align
//   offset    = roundup(p_memsz - firstbyte, p_align) + firstbyte
// so that the block starts at an address congruent to p_vaddr modulo p_align (glibc's static start-up code,
// csu/libc-tls.c, gives the same value: roundup(p_memsz, p_align) for an aligned p_vaddr).

export interface TlsSegment {
  vaddr: bigint;
  memsz: bigint;
  align: bigint;
}

const U64 = 1n << 64n;

/** Distance from the thread pointer down to the start of the executable's TLS block (ld.so's l_tls_offset). */
export function executableTlsBlockOffset(segment: TlsSegment): bigint {
  const align = segment.align > 0n ? segment.align : 1n;
  const firstByte = (U64 - (segment.vaddr & (align - 1n))) & (align - 1n);
  const roundUp = (value: bigint) => ((value + align - 1n) / align) * align;
  return roundUp(segment.memsz - firstByte) + firstByte;
}

/**
 * What code adds to the thread pointer to reach a variable of the executable at `offsetInBlock` (its st_value plus
 * the relocation's addend): the value of an R_X86_64_TPOFF64 against it. Negative: the block lies below fs_base.
 */
export function executableThreadPointerOffset(segment: TlsSegment, offsetInBlock: bigint): bigint {
  return offsetInBlock - executableTlsBlockOffset(segment);
}
