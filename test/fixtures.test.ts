// Checks the C fixtures themselves: they build, have the symbols the other tests rely on, and the helpers drive them.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  fixturePath,
  isAlive,
  killAllFixtures,
  parseFields,
  patchPath,
  repoRoot,
  startFixture,
  status,
} from "./helpers/fixtures.js";

const programs = [
  "counter",
  "stripped",
  "threads",
  "statics",
  "uselib",
  "blocking",
  "signals",
  "sigqueue",
  "locks",
  "callbench",
  "demo",
  "tls_main",
];
const libraries = ["libfoo.so", "stripped.debug", ".debug/stripped.debug"];
const patches = [
  "patch_tick",
  "patch_compute",
  "patch_statics",
  "patch_ambig",
  "patch_foo",
  "patch_missing",
  "patch_malloc",
  "patch_callbench",
  "demo_fix",
  "patch_tls",
  "patch_tls_ie",
  "not_elf",
  "elf32",
];

const tool = (command: string, ...args: string[]) =>
  execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

before(() => {
  execFileSync(process.execPath, [join(repoRoot, "scripts", "build-fixtures.mjs")], { stdio: "pipe" });
});
after(killAllFixtures);

test("every fixture and patch is built", () => {
  for (const name of [...programs, ...libraries]) assert.ok(existsSync(fixturePath(name)), name);
  for (const name of patches) assert.ok(existsSync(patchPath(name)), name);
  assert.equal(readFileSync(patchPath("elf32"))[4], 1, "elf32.so has EI_CLASS = ELFCLASS32");
});

test("counter's tick is a tiny local function and compute is exported", () => {
  const tick = tool("nm", "-S", fixturePath("counter"))
    .split("\n")
    .find((line) => / t tick$/.test(line));
  assert.ok(tick, "a local tick symbol");
  const size = parseInt(tick.split(" ")[1]!, 16);
  assert.ok(size > 0 && size <= 8, `tick is ${size} bytes`);
  const dynamic = tool("nm", "-D", "--defined-only", fixturePath("counter"));
  for (const name of ["compute", "g_value"]) assert.match(dynamic, new RegExp(` ${name}$`, "m"));
});

test("counter prints parseable lines and stop() leaves no process", async () => {
  const counter = await startFixture("counter");
  const line = await counter.waitForLine(/^count=/);
  assert.match(line, /^count=\d+ compute=6 value=0 secret=42$/);
  const before = parseFields(line).count!;
  const later = parseFields(await counter.waitForLine(/^count=/, 3000, counter.lines.indexOf(line) + 1)).count!;
  assert.ok(later > before, `count moves on: ${before} then ${later}`);
  assert.equal(status(counter.pid).tracerPid, 0);
  assert.equal(status(counter.pid).threads, 1);
  await counter.stop();
  assert.equal(isAlive(counter.pid), false);
  assert.equal(existsSync(`/proc/${counter.pid}`), false);
});

test("stripped has no .symtab but links to its debug file", () => {
  const sections = tool("readelf", "-SW", fixturePath("stripped"));
  assert.doesNotMatch(sections, /\.symtab/);
  assert.match(sections, /\.gnu_debuglink/);
  assert.match(tool("readelf", "-SW", fixturePath("stripped.debug")), /\.symtab/);
});

test("statics has two local counters, one per file", () => {
  const symbols = tool("readelf", "-sW", fixturePath("statics")).split("\n");
  const counters = symbols.filter((line) => /\bOBJECT\s+LOCAL\b.*\scounter$/.test(line));
  assert.equal(counters.length, 2);
});

test("threads starts seven threads and its workers never see a wrong result", async () => {
  const threads = await startFixture("threads");
  assert.equal(status(threads.pid).threads, 7);
  const line = await threads.waitForLine(/^wrong=/);
  assert.equal(parseFields(line).wrong, 0);
  await threads.stop();
});

test("each target prints its documented line", async () => {
  const expected: Array<[string, RegExp]> = [
    ["stripped", /^count=\d+ compute=6 value=0 secret=42$/],
    ["statics", /^a=101 b=201$/],
    ["uselib", /^foo=42$/],
    ["locks", /^alive 1 mallocs=\d+ phdrs=\d+$/],
    ["callbench", /^ns_per_call=[\d.]+ calls=\d+ sum_ok=1$/],
    ["demo", /^\[switch\] window=1 routed=9\/12 dropped=3 limit=8 total_calls=9 total_dropped=3 OVERLOAD$/],
  ];
  const started = await Promise.all(expected.map(([name]) => startFixture(name)));
  await Promise.all(started.map((fixture, i) => fixture.waitForLine(expected[i]![1])));
  await Promise.all(started.map((fixture) => fixture.stop()));
});

test("blocking: one SIGUSR1 wakes each blocked thread once, without EINTR", async () => {
  const blocking = await startFixture("blocking");
  assert.match(blocking.lines.join("\n"), /^port=\d+$/m);
  const from = blocking.lines.length;
  process.kill(blocking.pid, "SIGUSR1");
  for (const name of ["read", "poll", "cond", "accept"]) await blocking.waitForLine(new RegExp(`^${name} ok$`), 3000, from);
  assert.ok(!blocking.lines.some((line) => /EINTR|spurious|error/.test(line)), blocking.lines.join("\n"));
  await blocking.stop();
});

test("signals: queued values arrive in order", async () => {
  const signals = await startFixture("signals");
  tool(fixturePath("sigqueue"), String(signals.pid), "1", "50");
  await signals.waitForLine(/^sig got=50 last=50 inorder=1$/);
  tool(fixturePath("sigqueue"), String(signals.pid), "50", "50");
  await signals.waitForLine(/^sig got=51 last=50 inorder=0$/);
  await signals.stop();
});
