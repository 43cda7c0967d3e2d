// Opens an ELF64 file: headers and identity at once, symbol tables, dynamic section and relocations on first use.
import { SHT_SYMTAB } from './constants.js';
import type { ElfDynamic, ElfFile, ElfRelocation, ElfSection, ElfSymbol } from './types.js';
import { memorySource, withFileSource, elfBad, type ByteSource } from './source.js';
import { readLayout, sectionBytes, type ElfLayout } from './headers.js';
import { VirtualImage } from './image.js';
import { locateDynsym, readDynamicTable, type DynamicTable } from './dynamic.js';
import { readRelocations } from './relocations.js';
import { readBuildId, readDebugLink } from './notes.js';
import { parseAllSymbols, parseNamedSymbols, symbolsHolding, lazyTableInput, StringsAtOffsets, type NameScreen, type SymbolTableInput } from './symtab.js';
import { mergeSymbolTables, mergedSymbols, redundantTwins } from './merge.js';
import { finish, type Sliced } from '../slices.js';

/** Computes on first call, then answers from the cache; a failure is not cached, so it repeats the same way. */
function once<T>(compute: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = compute();
      done = true;
    }
    return value;
  };
}

function symtabInput(source: ByteSource, sections: ElfSection[]): SymbolTableInput | undefined {
  const table = sections.find((s) => s.type === SHT_SYMTAB);
  if (!table) return undefined;
  const strings = sections[table.link];
  if (!strings) throw elfBad(source.path, `.symtab links to section ${table.link}, which does not exist`);
  return lazyTableInput(source, table, strings, 'symtab', strings.name || 'the symbol string table');
}

/** A copy, so a caller that writes into it changes neither the image nor the read cache. */
function readVirtualCopy(source: ByteSource, image: VirtualImage, vaddr: bigint, size: number): Buffer | undefined {
  if (!Number.isSafeInteger(size) || size < 0) return undefined;
  const bytes = source.batch(() => image.tryRead(vaddr, size, `bytes at 0x${vaddr.toString(16)}`));
  return bytes && Buffer.from(bytes);
}

function buildElfFile(source: ByteSource, layout: ElfLayout): ElfFile {
  const { header, segments, sections } = layout;
  const image = new VirtualImage(source, segments);
  const dynamicTable = once((): DynamicTable | undefined => source.batch(() => readDynamicTable(source, segments, sections, image)));
  const dynsymInput = once(() => source.batch(() => locateDynsym(source, sections, dynamicTable(), image)));
  const dynamicSymbols = once((): ElfSymbol[] => {
    const input = dynsymInput();
    return input ? parseAllSymbols(input) : [];
  });
  // Kept only once whole: a reading dropped half-way (Ctrl-C in the console) leaves nothing behind.
  let symbolList: ElfSymbol[] | undefined;
  function* readSymbols(): Sliced<ElfSymbol[]> {
    if (symbolList) return symbolList;
    // The tables' bytes are read at once (the file open once); turning them into symbols is the long part.
    const { symtab, dynsym } = source.batch(() => ({ symtab: symtabInput(source, sections), dynsym: dynsymInput() }));
    // Stripped: the .dynsym entries themselves, shared with dynamicSymbols().
    const list = symtab ? yield* mergedSymbols(symtab, dynsym)
      : dynamicSymbols().filter((s, index) => index > 0 && s.type !== 'section' && s.type !== 'file');
    symbolList ??= list;
    return symbolList;
  }
  const symbols = (): ElfSymbol[] => symbolList ?? finish(readSymbols());
  // A screened parse for a name pattern: the full table is not made. Only the last screen's result is kept: `syms`
  // asks twice with the same pattern (its symbols, then its thread-local variables), and node's tables are 17 MB.
  let lastScreened: { key: string; symbols: ElfSymbol[] } | undefined;
  const symbolsMatching = (screen: NameScreen): ElfSymbol[] => {
    const key = `${screen.sticky.source}\0${screen.prefix}\0${screen.contains ?? ''}`;
    if (lastScreened?.key !== key) lastScreened = { key, symbols: screened(screen) };
    return lastScreened.symbols;
  };
  const screened = (screen: NameScreen): ElfSymbol[] => {
    const symtab = symtabInput(source, sections);
    if (!symtab) {
      // Stripped: the .dynsym entries that pass, as symbols() would list them.
      const dynsym = dynsymInput();
      return dynsym ? source.batch(() => parseNamedSymbols(dynsym, undefined, screen)) : [];
    }
    // Screen both tables, then merge the few survivors: a .dynsym twin has the .symtab name (or its base before
    // @VER), so it passes the screen exactly when its .symtab entry does.
    return source.batch(() => {
      const dynsym = dynsymInput();
      const fromSymtab = parseNamedSymbols(symtab, undefined, screen);
      if (!dynsym) return fromSymtab;
      const twins = redundantTwins(fromSymtab);
      let fromDynsym = parseNamedSymbols(dynsym, undefined, screen, twins.skip);
      if (twins.collides(fromDynsym)) fromDynsym = parseNamedSymbols(dynsym, undefined, screen);
      return mergeSymbolTables(fromSymtab, fromDynsym);
    });
  };
  // The raw .symtab entries and its names read one by one: naming a few addresses reads 2.6 MB of node, not 10.
  const holdingInput = once((): SymbolTableInput | undefined => source.batch(() => {
    const table = sections.find((s) => s.type === SHT_SYMTAB);
    const strings = table && sections[table.link];
    if (!table || !strings) return dynsymInput();
    const names = new StringsAtOffsets((offset, length) => source.batch(() => source.read(strings.offset + BigInt(offset), length, strings.name || 'the symbol string table')),
      Number(strings.size), source.path, strings.name || 'the symbol string table');
    return { entries: sectionBytes(source, table), names, table: 'symtab' };
  }));
  const holding = (addresses: readonly bigint[]) => source.batch(() => {
    const table = holdingInput();
    return table ? symbolsHolding(table, addresses) : addresses.map(() => []);
  });
  const dynamic = once((): ElfDynamic | undefined => source.batch(() => dynamicTable()?.describe()));
  const relocations = once((): ElfRelocation[] => source.batch(() => {
    const table = dynamicTable();
    return table ? readRelocations(table, image, dynamicSymbols, header.machine) : [];
  }));

  const elf: ElfFile = {
    path: source.path,
    type: header.type,
    machine: header.machine,
    entry: header.entry,
    segments,
    sections,
    hasSymtab: sections.some((s) => s.type === SHT_SYMTAB),
    symbols,
    symbolsSliced: readSymbols,
    symbolsMatching,
    symbolsHolding: holding,
    dynamicSymbols,
    dynamic,
    relocations,
    readVirtual: (vaddr, size) => readVirtualCopy(source, image, vaddr, size),
    readSection: (section) => source.batch(() => sectionBytes(source, section)),
  };
  const buildId = readBuildId(source, segments, sections);
  if (buildId !== undefined) elf.buildId = buildId;
  const debugLink = readDebugLink(source, sections);
  if (debugLink !== undefined) elf.debugLink = debugLink;
  return elf;
}

/** Reads an ELF64 file's headers, build-id and debuglink now; the rest when first asked for. */
export function openElf(path: string): ElfFile {
  return withFileSource(path, (source) => buildElfFile(source, readLayout(source)));
}

/** The same over an image already in memory (tests, files read by other means); `bytes` is used in place, not copied. */
export function parseElf(bytes: Buffer, path = '<memory>'): ElfFile {
  const source = memorySource(bytes, path);
  return buildElfFile(source, readLayout(source));
}
