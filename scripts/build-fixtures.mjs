// Builds the C fixtures (targets and patch libraries) into fixtures/build/ with gcc; skips what is up to date.
//
// One table lists every output: its sources, its gcc flags, and for the odd
// ones a custom build step. An output is rebuilt when it is missing or older
// than any of its sources, the outputs it depends on, or this script.
// Each output is written under a temporary name and renamed into place, so a
// fixture that a test is running is never overwritten in place (ETXTBSY) and
// two builds at once cannot leave a half-written file.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const scriptPath = fileURLToPath(import.meta.url);
const repoRoot = dirname(dirname(scriptPath));
const sourceDir = join(repoRoot, "fixtures");
const buildDir = join(sourceDir, "build");

const common = ["-g", "-Wall", "-Werror"];
const patchLib = ["-O2", "-shared", "-fPIC"];

/**
 * name: output path under fixtures/build; sources: files under fixtures/;
 * flags: gcc flags before the sources; libs: after them; deps: other outputs; headers: files under fixtures/ the
 * sources include (inputs, not passed to gcc); extraOutputs: files the step also writes; build: a custom step instead of gcc.
 */
const targets = [
  // -rdynamic: a PIE exports nothing by default; tests need compute, g_value, … in .dynsym.
  { name: "counter", sources: ["counter.c"], flags: ["-O2", "-rdynamic"] },
  {
    name: "stripped",
    sources: ["counter.c"],
    flags: ["-O2", "-rdynamic"],
    extraOutputs: ["stripped.debug", ".debug/stripped.debug"],
    build: buildStripped,
  },
  { name: "threads", sources: ["threads.c"], flags: ["-O1", "-pthread", "-rdynamic"] },
  {
    name: "statics",
    sources: ["statics_main.c", "statics_a.c", "statics_b.c"],
    flags: ["-O0", "-rdynamic"],
  },
  { name: "libfoo.so", sources: ["libfoo.c"], flags: ["-O2", "-shared", "-fPIC"] },
  {
    name: "uselib",
    sources: ["uselib.c"],
    deps: ["libfoo.so"],
    flags: ["-O2"],
    libs: [`-L${buildDir}`, "-lfoo", "-Wl,-rpath,$ORIGIN"],
  },
  // The fleet bench's thousand processes: a tiny program and the one library they all map.
  { name: "libfleet.so", sources: ["libfleet.c"], flags: ["-O2", "-shared", "-fPIC"] },
  {
    name: "fleet_tiny",
    sources: ["fleet_tiny.c"],
    deps: ["libfleet.so"],
    flags: ["-O2"],
    libs: [`-L${buildDir}`, "-lfleet", "-Wl,-rpath,$ORIGIN"],
  },
  { name: "blocking", sources: ["blocking.c"], flags: ["-O1", "-pthread"] },
  { name: "signals", sources: ["signals.c"], flags: ["-O1"] },
  { name: "sigqueue", sources: ["sigqueue.c"], flags: ["-O1"] },
  { name: "locks", sources: ["locks.c"], flags: ["-O1", "-pthread"] },
  {
    name: "callbench",
    sources: ["callbench.c", "callbench_tiny.c"],
    flags: ["-O2", "-rdynamic"],
    objects: { "callbench_tiny.c": ["-O2", "-falign-functions=1", "-fno-toplevel-reorder", "-fcf-protection=none"] },
    build: buildFromObjects,
  },
  { name: "demo", sources: ["demo.c"], flags: ["-O2", "-rdynamic"] },
  // Layouts that broke placement on real programs: PIE (perl, sqlite3) and ET_EXEC at 0x400000 (node); lazy binding
  // so time()'s GOT slot stays unbound until the program first calls it.
  { name: "layout", sources: ["layout.c"], flags: ["-O2", "-rdynamic", "-Wl,-z,lazy"] },
  { name: "layout_nopie", sources: ["layout.c"], flags: ["-O2", "-rdynamic", "-no-pie", "-Wl,-z,lazy"] },
  // Threads with their own `static __thread` counter; -rdynamic exports tls_global (a thread-local in .dynsym).
  { name: "tls_main", sources: ["tls_main.c"], flags: ["-O1", "-pthread", "-rdynamic"] },
  // Its own exported getpid comes before libc's in load order; its static getpagesize is not exported.
  { name: "interpose", sources: ["interpose.c"], flags: ["-O1", "-rdynamic"] },
  // Threads asleep in known call chains (a static helper, an inlined call, recursion) for `bt all` against gdb.
  { name: "bt_threads", sources: ["bt_threads.c"], flags: ["-O2", "-pthread"] },
  // Rich types for prototypes from DWARF (checked against gdb's ptype); statics of one name in two files, to fix with `patch`.
  { name: "shapes", sources: ["shapes.c", "shapes_b.c"], flags: ["-O2"] },
  ...[
    "patch_tick",
    "patch_compute",
    "patch_statics",
    "patch_ambig",
    "patch_foo",
    "patch_missing",
    "patch_malloc",
    "patch_callbench",
    "demo_fix",
    "patch_clock",
    "patch_sleepy",
    "patch_tls",
    "patch_fleet",
  ].map((base) => ({ name: `patches/${base}.so`, sources: [`${base}.c`], flags: patchLib })),
  // A second library of compute replacements (its own hp_orig_compute), to stack on patch_compute.so's.
  { name: "patches/patch_compute_b.so", sources: ["patch_compute.c"], flags: patchLib },
  // The same patch in the initial-exec TLS model: one R_X86_64_TPOFF64 per variable instead of a DTPMOD64/DTPOFF64 pair.
  { name: "patches/patch_tls_ie.so", sources: ["patch_tls.c"], flags: [...patchLib, "-ftls-model=initial-exec"] },
  // Fault suite (test/faults): targets for signals, threads, fork/exec, hardened processes and lost records.
  { name: "fault_sleeper", sources: ["fault_sleeper.c"], flags: ["-O1", "-rdynamic"] },
  { name: "fault_churn", sources: ["fault_churn.c"], flags: ["-O1", "-pthread"] },
  { name: "fault_forkexec", sources: ["fault_forkexec.c"], flags: ["-O1", "-rdynamic"] },
  { name: "fault_hammer", sources: ["fault_hammer.c"], flags: ["-O1", "-pthread", "-rdynamic"] },
  { name: "fault_records", sources: ["fault_records.c"], flags: ["-O2", "-rdynamic"] },
  { name: "fault_rtsig", sources: ["fault_rtsig.c"], flags: ["-O2"] },
  { name: "fault_mdwe", sources: ["fault_mdwe.c"], flags: ["-O2", "-rdynamic"] },
  { name: "fault_seccomp", sources: ["fault_seccomp.c"], flags: ["-O2", "-rdynamic"] },
  { name: "fault_xstate", sources: ["fault_xstate.c"], flags: ["-O1", "-rdynamic"] },
  ...["fault_patch_hammer", "fault_patch_records"].map((base) => ({ name: `patches/${base}.so`, sources: [`${base}.c`], flags: patchLib })),
  { name: "patches/patch_slowinit.so", sources: ["patch_slowinit.c"], flags: patchLib },
  // Redirecting any function: tiny entries packed with no padding, endbr64 entries, stacked layers, inlined code.
  {
    name: "entries",
    sources: ["entries.c", "entries_packed.c", "entries_cet.c"],
    flags: ["-O2", "-pthread", "-rdynamic"],
    objects: {
      "entries_packed.c": ["-O2", "-falign-functions=1", "-fno-toplevel-reorder", "-fcf-protection=none"],
      "entries_cet.c": ["-O2", "-falign-functions=1", "-fno-toplevel-reorder", "-fcf-protection=full"],
    },
    build: buildFromObjects,
  },
  { name: "patches/patch_entries.so", sources: ["patch_entries.c"], flags: patchLib },
  ...[200, 300, 400].map((add) => ({ name: `patches/patch_layer_${add}.so`, sources: ["patch_layer.c"], flags: [...patchLib, `-DLAYER_ADD=${add}`] })),
  // DT_NEEDED libfoo.so with no run path to it: dlopen in the target fails after our pages are made.
  {
    name: "patches/patch_needs_missing.so",
    sources: ["patch_needs_missing.c"],
    deps: ["libfoo.so"],
    flags: patchLib,
    libs: [`-L${buildDir}`, "-Wl,--no-as-needed", "-lfoo"],
  },
  // The DWARF reader's fixtures (test/dwarf.test.ts): DWARF 5; DWARF 4 with zlib-compressed sections; no unwind
  // tables, so gcc writes the CFI to .debug_frame. Stack-clash probes give big_frame a CFA based on r11.
  ...[
    ["dwarf_inline", []],
    ["dwarf_inline_v4", ["-gdwarf-4", "-gz=zlib"]],
    ["dwarf_inline_debugframe", ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]],
  ].map(([name, extra]) => ({
    name,
    sources: ["dwarf_inline.c", "dwarf_inline_b.c"],
    flags: ["-O2", "-fstack-clash-protection", ...extra],
  })),
  { name: "patches/not_elf.so", sources: [], build: buildNotElf },
  { name: "patches/elf32.so", sources: [], deps: ["patches/patch_tick.so"], build: buildElf32 },
  // Patches for programs installed on the machine (test/real-programs.test.ts): one per function they replace.
  ...["clock_gettime", "gettimeofday", "time", "getpid", "localtime_r", "uv_hrtime", "sqlite"].map((fn) => ({
    name: `real/patch_${fn}.so`,
    sources: [`real/patch_${fn}.c`],
    headers: ["real/offset.h"],
    flags: patchLib,
  })),
];

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function isUpToDate(target) {
  const outputs = [target.name, ...(target.extraOutputs ?? [])].map((o) => join(buildDir, o));
  const inputs = [
    scriptPath,
    ...target.sources.map((s) => join(sourceDir, s)),
    ...(target.headers ?? []).map((h) => join(sourceDir, h)),
    ...(target.deps ?? []).map((d) => join(buildDir, d)),
  ];
  const oldestOutput = Math.min(...outputs.map((o) => mtimeMs(o) ?? -Infinity));
  const newestInput = Math.max(...inputs.map((i) => mtimeMs(i) ?? Infinity));
  return oldestOutput >= newestInput;
}

function run(command, args) {
  execFileSync(command, args, { cwd: sourceDir, stdio: ["ignore", "pipe", "pipe"] });
}

function tempPath(out) {
  return `${out}.tmp-${process.pid}`;
}

function gcc(target, out) {
  const sources = target.sources.map((s) => join(sourceDir, s));
  run("gcc", [...common, ...target.flags, "-o", out, ...sources, ...(target.libs ?? [])]);
}

function buildWithGcc(target, out) {
  const tmp = tempPath(out);
  gcc(target, tmp);
  renameSync(tmp, out);
}

// counter.c again, its symbols moved to a separate debug file found through .gnu_debuglink
// (next to the binary, and in .debug/ as gdb also looks there).
function buildStripped(target, out) {
  const tmp = tempPath(out);
  const debugFile = join(buildDir, "stripped.debug");
  const debugTmp = tempPath(debugFile);
  gcc(target, tmp);
  run("objcopy", ["--only-keep-debug", tmp, debugTmp]);
  renameSync(debugTmp, debugFile);
  run("strip", ["--strip-all", tmp]);
  // The link stores the file's basename ("stripped.debug") and its CRC.
  run("objcopy", [`--add-gnu-debuglink=${debugFile}`, tmp]);
  mkdirSync(join(buildDir, ".debug"), { recursive: true });
  const copyTmp = tempPath(join(buildDir, ".debug", "stripped.debug"));
  copyFileSync(debugFile, copyTmp);
  renameSync(copyTmp, join(buildDir, ".debug", "stripped.debug"));
  renameSync(tmp, out);
}

// Some sources need flags of their own (packed functions, endbr64 entries): each is compiled to an object with
// them (`objects`: source -> flags), the rest with the target's flags, then all are linked.
function buildFromObjects(target, out) {
  const tmp = tempPath(out);
  const objects = [];
  try {
    for (const source of target.sources) {
      const flags = target.objects[source];
      if (!flags) continue;
      const obj = `${tmp}.${source.replace(/\.c$/, ".o")}`;
      run("gcc", [...common, ...flags, "-c", "-o", obj, join(sourceDir, source)]);
      objects.push(obj);
    }
    const rest = target.sources.filter((s) => !target.objects[s]).map((s) => join(sourceDir, s));
    run("gcc", [...common, ...target.flags, "-o", tmp, ...rest, ...objects, ...(target.libs ?? [])]);
    renameSync(tmp, out);
  } finally {
    for (const obj of objects) rmSync(obj, { force: true });
  }
}

function buildNotElf(target, out) {
  writeFileSync(out, "this is not an ELF file: the loader must refuse it\n");
}

// A 64-bit library relabelled as ELFCLASS32 (e_ident[EI_CLASS] = 1): the loader must refuse it.
function buildElf32(target, out) {
  const bytes = readFileSync(join(buildDir, "patches/patch_tick.so"));
  bytes[4] = 1;
  const tmp = tempPath(out);
  writeFileSync(tmp, bytes);
  renameSync(tmp, out);
}

function main() {
  mkdirSync(join(buildDir, "patches"), { recursive: true });
  mkdirSync(join(buildDir, "real"), { recursive: true });
  const started = Date.now();
  const built = [];
  for (const target of targets) {
    if (isUpToDate(target)) continue;
    const out = join(buildDir, target.name);
    try {
      (target.build ?? buildWithGcc)(target, out);
    } catch (err) {
      for (const o of [out, ...(target.extraOutputs ?? []).map((e) => join(buildDir, e))]) {
        rmSync(tempPath(o), { force: true });
      }
      const detail = err.stderr?.toString().trim() || err.message;
      console.error(`fixtures: building ${target.name} failed:\n${detail}`);
      process.exit(1);
    }
    built.push(target.name);
  }
  const where = relative(process.cwd(), buildDir) || ".";
  const ms = Date.now() - started;
  console.log(
    built.length === 0
      ? `fixtures: ${targets.length} up to date in ${where} (${ms} ms)`
      : `fixtures: built ${built.length} of ${targets.length} in ${where} (${ms} ms): ${built.join(", ")}`,
  );
}

if (!existsSync(sourceDir)) {
  console.error(`fixtures: no ${sourceDir}`);
  process.exit(1);
}
main();
