// Counted nouns in messages: "1 thread", "9 bytes", never "1 threads" or "9 byte(s)".

/** `count` and the noun, plural unless it is one (`plural` for nouns that do not just take an s). */
export function counted(count: number | bigint, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 || count === 1n ? noun : plural}`;
}
