// Screens a raw ELF symbol table by a literal at C speed: node's .symtab and .dynsym hold 107k entries over 7 MB of
// names, and the same loop in JavaScript runs cold (the process has just started, the JIT has not warmed up). Only
// the entries whose name may match come back; the caller decodes those few names and tests the whole pattern.
#include <napi.h>

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

constexpr size_t kEntrySize = 24;  // Elf64_Sym
constexpr uint8_t kSttSection = 3;
constexpr uint8_t kSttFile = 4;

// The scan itself, over a raw table and its names wherever they lie (a Buffer, or the file mapped): each entry (from
// index 1, no STT_SECTION or STT_FILE entry) whose name starts with the literal (prefix) or contains it, as a pair
// (index, st_name of the nearest STT_FILE entry before it plus one, or 0: none, which is how a local is labelled) in
// `out`, and its name followed by a NUL in `text`. A name runs from st_name to the next NUL or the table's end; an
// st_name past the end names nothing and passes none.
void scanTable(const uint8_t* raw, size_t count, const char* names, size_t namesLength, const char* lit, size_t litLength,
               bool prefix, std::vector<uint32_t>& out, std::string& text) {
  // Substring: the literal is found in the whole table first (one memmem over 7 MB, not one per name, each of which
  // would set up its search anew). A hit at p lies in every name that starts after the NUL before p and at or before
  // p, so the names holding it are ranges of offsets; a map of 64-byte blocks turns away most entries with one read.
  std::vector<uint32_t> starts, ends;
  std::vector<uint8_t> blocks;
  constexpr int kBlockShift = 6;
  if (!prefix && litLength > 0) {
    blocks.assign((namesLength >> kBlockShift) + 1, 0);
    const char* end = names + namesLength;
    for (const char* at = names; at + litLength <= end;) {
      const char* hit = static_cast<const char*>(memmem(at, end - at, lit, litLength));
      if (!hit) break;
      const void* nul = memrchr(names, 0, hit - names);
      const uint32_t start = nul ? static_cast<uint32_t>(static_cast<const char*>(nul) - names + 1) : 0;
      const uint32_t stop = static_cast<uint32_t>(hit - names);
      if (!ends.empty() && start <= ends.back()) ends.back() = stop;  // a second hit in the same name widens its range
      else {
        starts.push_back(start);
        ends.push_back(stop);
      }
      at = hit + 1;
    }
    for (size_t r = 0; r < starts.size(); r++) memset(&blocks[starts[r] >> kBlockShift], 1, (ends[r] >> kBlockShift) - (starts[r] >> kBlockShift) + 1);
  }

  uint32_t file = 0;
  for (size_t index = 1; index < count; index++) {
    const uint8_t* e = raw + index * kEntrySize;
    uint32_t nameOffset;
    memcpy(&nameOffset, e, 4);  // entries need not be aligned
    const uint8_t kind = e[4] & 0xf;
    if (kind == kSttFile) {
      file = nameOffset + 1;
      continue;
    }
    if (kind == kSttSection || nameOffset >= namesLength) continue;
    if (prefix) {
      // Most names differ in the first byte: nothing more is read for them.
      if (litLength > namesLength - nameOffset || memcmp(names + nameOffset, lit, litLength) != 0) continue;
    } else if (litLength > 0) {
      if (!blocks[nameOffset >> kBlockShift]) continue;
      // The first range ending at or after the offset holds it if it starts at or before it.
      const size_t r = std::lower_bound(ends.begin(), ends.end(), nameOffset) - ends.begin();
      if (r == ends.size() || starts[r] > nameOffset) continue;
    }
    out.push_back(static_cast<uint32_t>(index));
    out.push_back(file);
    const void* nul = memchr(names + nameOffset, 0, namesLength - nameOffset);
    text.append(names + nameOffset, nul ? static_cast<const char*>(nul) - (names + nameOffset) : namesLength - nameOffset);
    text.push_back('\0');
  }
}

Napi::Uint32Array toUint32Array(Napi::Env env, const std::vector<uint32_t>& v) {
  auto a = Napi::Uint32Array::New(env, v.size());
  if (!v.empty()) memcpy(a.Data(), v.data(), v.size() * sizeof(uint32_t));
  return a;
}

// scanSymbols(entries, strings, literal, prefix) -> [Uint32Array of pairs (index, file), their names (UTF-8 decoded,
// each followed by a NUL)]: see scanTable.
Napi::Value ScanSymbols(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entries = info[0].As<Napi::Buffer<uint8_t>>();
  auto strings = info[1].As<Napi::Buffer<uint8_t>>();
  auto literal = info[2].As<Napi::Buffer<uint8_t>>();
  bool prefix = info[3].As<Napi::Boolean>().Value();
  std::vector<uint32_t> out;
  std::string text;  // the passing names, each ended by a NUL: one string for JavaScript to split, not one per name
  scanTable(entries.Data(), entries.Length() / kEntrySize, reinterpret_cast<const char*>(strings.Data()), strings.Length(),
            reinterpret_cast<const char*>(literal.Data()), literal.Length(), prefix, out, text);
  auto result = Napi::Array::New(env, 2);
  result.Set(0u, toUint32Array(env, out));
  result.Set(1u, Napi::String::New(env, text));
  return result;
}

// What a .dynsym screen is given to drop the twins the merge with .symtab would take and copy nothing from (the
// rule and the reasons are src/elf/merge.ts redundantTwins', which does the same in TypeScript): the non-local
// .symtab results as names and values, the base names of their `name@VER` ones, and where .gnu.version lies.
struct Twins {
  std::unordered_set<std::string> keys;  // name NUL value
  std::unordered_set<std::string> splitBases;
  uint64_t versymOffset = 0;
  uint64_t versymSize = 0;
};

std::string twinKey(const char* name, size_t length, uint64_t value) {
  std::string key(name, length);
  key.push_back('\0');
  key.append(std::to_string(value));
  return key;
}

bool readTwins(const Napi::Object& o, Twins& twins) {
  if (!o.Get("names").IsString() || !o.Get("values").IsTypedArray() || !o.Get("splitBases").IsString()) return false;
  const std::string names = o.Get("names").As<Napi::String>().Utf8Value();
  auto values = o.Get("values").As<Napi::Float64Array>();
  size_t at = 0;
  for (size_t i = 0; i < values.ElementLength(); i++) {
    size_t end = names.find('\0', at);
    if (end == std::string::npos) end = names.size();
    twins.keys.insert(twinKey(names.data() + at, end - at, static_cast<uint64_t>(values[i])));
    at = end + 1;
  }
  const std::string bases = o.Get("splitBases").As<Napi::String>().Utf8Value();
  for (size_t start = 0; start < bases.size();) {
    size_t end = bases.find('\0', start);
    if (end == std::string::npos) end = bases.size();
    if (end > start) twins.splitBases.insert(bases.substr(start, end - start));
    start = end + 1;
  }
  twins.versymOffset = static_cast<uint64_t>(o.Get("versymOffset").As<Napi::Number>().Int64Value());
  twins.versymSize = static_cast<uint64_t>(o.Get("versymSize").As<Napi::Number>().Int64Value());
  return true;
}

// Drops from a scan's results (pairs and names) each entry that is defined, unversioned (.gnu.version index 0 or 1,
// or no such table), the first of its name and value, not a split base, and whose name and value a .symtab result
// has. False (nothing dropped) when a later entry has the name and value of a dropped one: the merge would take that
// one as the twin instead, and the caller decides with the whole list.
bool dropRedundantTwins(const Twins& twins, const uint8_t* raw, const uint8_t* versym, size_t versymCount, std::vector<uint32_t>& out, std::string& text) {
  std::unordered_set<std::string> seen, dropped;
  std::vector<uint32_t> keptPairs;
  std::string keptText;
  size_t at = 0;
  for (size_t i = 0; i < out.size(); i += 2) {
    const size_t end = text.find('\0', at);
    const char* name = text.data() + at;
    const size_t length = end - at;
    const uint32_t index = out[i];
    const uint8_t* e = raw + size_t(index) * kEntrySize;
    uint16_t shndx;
    uint64_t value;
    memcpy(&shndx, e + 6, 2);
    memcpy(&value, e + 8, 8);
    bool drop = false;
    if (shndx != 0) {
      const std::string key = twinKey(name, length, value);
      const bool first = seen.insert(key).second;
      if (!first) {
        if (dropped.count(key)) return false;
      } else {
        uint16_t version = 0;
        if (versym && index < versymCount) memcpy(&version, versym + size_t(index) * 2, 2);
        if ((version & 0x7fff) <= 1 && twins.keys.count(key) && !twins.splitBases.count(std::string(name, length))) {
          dropped.insert(key);
          drop = true;
        }
      }
    }
    if (!drop) {
      keptPairs.push_back(out[i]);
      keptPairs.push_back(out[i + 1]);
      keptText.append(name, length);
      keptText.push_back('\0');
    }
    at = end + 1;
  }
  out.swap(keptPairs);
  text.swap(keptText);
  return true;
}

// scanSymbolsFile(path, ino, mtimeMs, size, entriesOffset, entriesSize, stringsOffset, stringsSize, literal, prefix)
// [, twins] -> [pairs, names, Buffer of the passing entries' 24 bytes, in the pairs' order, whether twins were given
// but a collision kept them all (see dropRedundantTwins)], or null when the file cannot be
// mapped, is no longer the one the caller opened (inode, modification time, size), or the ranges do not lie in it
// (the caller reads the tables then). The tables are mapped, not read: node's .symtab and
// .strtab are 10 MB, and reading them into fresh buffers (a copy, and a page fault every 4 KiB) was the biggest part
// of a `syms *Heap*` run after Node's own start.
Napi::Value ScanSymbolsFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const double ino = info[1].As<Napi::Number>().DoubleValue();
  const double mtimeMs = info[2].As<Napi::Number>().DoubleValue();
  const double size = info[3].As<Napi::Number>().DoubleValue();
  const uint64_t entriesOffset = static_cast<uint64_t>(info[4].As<Napi::Number>().Int64Value());
  const uint64_t entriesSize = static_cast<uint64_t>(info[5].As<Napi::Number>().Int64Value());
  const uint64_t stringsOffset = static_cast<uint64_t>(info[6].As<Napi::Number>().Int64Value());
  const uint64_t stringsSize = static_cast<uint64_t>(info[7].As<Napi::Number>().Int64Value());
  auto literal = info[8].As<Napi::Buffer<uint8_t>>();
  const bool prefix = info[9].As<Napi::Boolean>().Value();
  // Optional: the .symtab twins to drop from a .dynsym's results (see dropRedundantTwins).
  Twins twins;
  const bool withTwins = info.Length() > 10 && info[10].IsObject() && readTwins(info[10].As<Napi::Object>(), twins);

  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return env.Null();
  struct stat st;
  // The file the caller opened, not one put in its place since (a rebuild): same inode, time and size.
  const bool same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && double(st.st_ino) == ino && double(st.st_size) == size &&
                    std::abs(double(st.st_mtim.tv_sec) * 1000.0 + double(st.st_mtim.tv_nsec) / 1e6 - mtimeMs) <= 0.001;
  if (!same) {
    close(fd);
    return env.Null();
  }
  const uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  if (entriesOffset > fileSize || entriesSize > fileSize - entriesOffset || stringsOffset > fileSize || stringsSize > fileSize - stringsOffset) {
    close(fd);
    return env.Null();
  }
  if (withTwins && (twins.versymOffset > fileSize || twins.versymSize > fileSize - twins.versymOffset)) {
    close(fd);
    return env.Null();
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t from = std::min(entriesOffset, stringsOffset) / page * page;
  uint64_t to = std::max(entriesOffset + entriesSize, stringsOffset + stringsSize);
  if (withTwins && twins.versymSize > 0) {
    from = std::min(from, twins.versymOffset / page * page);
    to = std::max(to, twins.versymOffset + twins.versymSize);
  }
  if (to <= from) {
    close(fd);
    return env.Null();
  }
  void* map = mmap(nullptr, to - from, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(from));
  close(fd);
  if (map == MAP_FAILED) return env.Null();
  const uint8_t* base = static_cast<const uint8_t*>(map);
  const uint8_t* raw = base + (entriesOffset - from);
  const size_t count = entriesSize / kEntrySize;
  std::vector<uint32_t> out;
  std::string text;
  scanTable(raw, count, reinterpret_cast<const char*>(base + (stringsOffset - from)), stringsSize,
            reinterpret_cast<const char*>(literal.Data()), literal.Length(), prefix, out, text);
  bool collided = false;
  if (withTwins) {
    const uint8_t* versym = twins.versymSize > 0 ? base + (twins.versymOffset - from) : nullptr;
    collided = !dropRedundantTwins(twins, raw, versym, twins.versymSize / 2, out, text);
  }
  auto entries = Napi::Buffer<uint8_t>::New(env, out.size() / 2 * kEntrySize);
  for (size_t i = 0; i < out.size(); i += 2) memcpy(entries.Data() + i / 2 * kEntrySize, raw + size_t(out[i]) * kEntrySize, kEntrySize);
  munmap(map, to - from);
  auto result = Napi::Array::New(env, 4);
  result.Set(0u, toUint32Array(env, out));
  result.Set(1u, Napi::String::New(env, text));
  result.Set(2u, entries);
  result.Set(3u, Napi::Boolean::New(env, collided));
  return result;
}

constexpr uint8_t kSttTls = 6;

// holdSymbols(entries, wanted) -> Uint32Array of triples (wanted index, entry index, file): for each address of
// `wanted` (sorted, ascending), the entries whose [value, value + size) holds it; for an address no sized entry holds
// (hand-written assembly), the nearest unsized entry at or below it, unless a sized one starts between them. Only
// entries worth naming an address with count: defined, named, not STT_SECTION, STT_FILE or STT_TLS. `file` is the
// st_name of the nearest STT_FILE entry before it plus one (0: none). A backtrace names a dozen pcs with node's 107k
// entries: one pass here instead of a cold JavaScript loop.
Napi::Value HoldSymbols(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto entries = info[0].As<Napi::Buffer<uint8_t>>();
  auto wantedArray = info[1].As<Napi::Float64Array>();
  const uint8_t* raw = entries.Data();
  const size_t count = entries.Length() / kEntrySize;
  std::vector<uint64_t> wanted(wantedArray.ElementLength());
  for (size_t i = 0; i < wanted.size(); i++) wanted[i] = static_cast<uint64_t>(wantedArray[i]);
  std::vector<uint32_t> out;
  if (wanted.empty()) return Napi::Uint32Array::New(env, 0);
  const uint64_t lowest = wanted.front();
  const uint64_t highest = wanted.back();
  std::vector<bool> held(wanted.size(), false);

  struct Entry {
    uint32_t name;
    uint8_t kind;
    uint16_t shndx;
    uint64_t value;
    uint64_t size;
  };
  auto read = [&](size_t index) {
    const uint8_t* e = raw + index * kEntrySize;
    Entry x;
    memcpy(&x.name, e, 4);  // entries need not be aligned
    x.kind = e[4] & 0xf;
    memcpy(&x.shndx, e + 6, 2);
    memcpy(&x.value, e + 8, 8);
    memcpy(&x.size, e + 16, 8);
    return x;
  };
  auto nameable = [](const Entry& x) { return x.kind != kSttSection && x.kind != kSttTls && x.shndx != 0 && x.name != 0; };

  uint32_t file = 0;
  for (size_t index = 1; index < count; index++) {
    const Entry x = read(index);
    if (x.kind == kSttFile) {
      file = x.name + 1;
      continue;
    }
    // Most entries hold none of the addresses: turned away before anything else is looked at.
    if (x.size == 0 || x.value == 0 || x.value > highest || x.value + x.size <= lowest || !nameable(x)) continue;
    for (size_t i = std::lower_bound(wanted.begin(), wanted.end(), x.value) - wanted.begin(); i < wanted.size() && wanted[i] < x.value + x.size; i++) {
      out.push_back(static_cast<uint32_t>(i));
      out.push_back(static_cast<uint32_t>(index));
      out.push_back(file);
      held[i] = true;
    }
  }

  std::vector<size_t> unheld;
  for (size_t i = 0; i < wanted.size(); i++) if (!held[i]) unheld.push_back(i);
  if (!unheld.empty()) {
    std::vector<int64_t> best(wanted.size(), -1), sizedBelow(wanted.size(), -1);
    std::vector<uint32_t> nearest(wanted.size(), 0), nearestFile(wanted.size(), 0);
    file = 0;
    for (size_t index = 1; index < count; index++) {
      const Entry x = read(index);
      if (x.kind == kSttFile) {
        file = x.name + 1;
        continue;
      }
      if (x.value == 0 || x.value > highest || !nameable(x)) continue;
      for (size_t i : unheld) {
        if (x.value > wanted[i]) continue;
        const int64_t v = static_cast<int64_t>(x.value);
        if (x.size > 0) {
          if (v > sizedBelow[i]) sizedBelow[i] = v;
        } else if (v > best[i]) {
          best[i] = v;
          nearest[i] = static_cast<uint32_t>(index);
          nearestFile[i] = file;
        }
      }
    }
    for (size_t i : unheld) {
      if (nearest[i] == 0 || best[i] < sizedBelow[i]) continue;
      out.push_back(static_cast<uint32_t>(i));
      out.push_back(nearest[i]);
      out.push_back(nearestFile[i]);
    }
  }
  return toUint32Array(env, out);
}

}  // namespace

namespace hp {
void initSymbolScan(Napi::Env env, Napi::Object exports) {
  exports.Set("scanSymbols", Napi::Function::New(env, ScanSymbols));
  exports.Set("scanSymbolsFile", Napi::Function::New(env, ScanSymbolsFile));
  exports.Set("holdSymbols", Napi::Function::New(env, HoldSymbols));
}
}  // namespace hp
