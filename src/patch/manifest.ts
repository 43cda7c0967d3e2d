// A declared fix (hotpatch apply FIX.json): the libraries, redirects and bindings a fixed process has, each for one
// module and build-id. Applying brings a process to that state and says what changed; applying again changes
// nothing; --revert takes it off. A process whose module is another build is never touched. Format: docs/fleet.md.
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { HotpatchError, toHotpatchError } from '../errors.js';
import { openElf } from '../elf/reader.js';
import type { Module } from '../symbols/types.js';
import type { PatchContext } from './context.js';
import { fileHash, loadLibrary, unloadLibrary } from './loader.js';
import { parseBindOptions } from './binding.js';
import { redirect, revert } from './redirect.js';
import { loadRecord } from './record.js';

export const MANIFEST_FORMAT = 'hotpatch-fix/1';

export interface ManifestLibrary {
  /** Absolute (a relative path in the file is taken from the manifest's own directory). */
  path: string;
  method: 'dlopen' | 'map';
  bind: string[];
  /** When given, the file must have this content: a manifest names one build of its fix too. */
  sha256?: string;
}

export interface ManifestRedirect {
  from: string;
  to: string;
  got: boolean;
}

export interface ManifestTarget {
  /** The module the fix is for: a basename (`libfoo.so`, `nginx`) or a path. */
  module: string;
  /** Its GNU build-id (hex): a process mapping another build of the module is skipped. */
  buildId?: string;
  libraries: ManifestLibrary[];
  redirects: ManifestRedirect[];
}

export interface Manifest {
  /** The manifest's own absolute path. */
  file: string;
  name: string;
  targets: ManifestTarget[];
}

/** One thing apply did or found done, in order: what the JSON reports and what --all-or-none undoes. */
export interface ApplyStep {
  kind: 'load' | 'redirect' | 'unload' | 'revert';
  /** The library's path, or `FROM -> TO`. */
  what: string;
  /** The library's or patch's # in the process (absent when there was nothing to take off). */
  id?: number;
  changed: boolean;
}

export interface ApplyOutcome {
  name: string;
  changed: boolean;
  steps: ApplyStep[];
  /** The modules the fix is for that this process maps, with their build-ids. */
  modules: { module: string; path: string; buildId?: string }[];
}

const bad = (file: string, what: string) => new HotpatchError('E_MANIFEST', `${file}: ${what}`, 'docs/fleet.md describes the manifest format');

export function readManifest(rawPath: string): Manifest {
  const file = resolvePath(rawPath);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = toHotpatchError(err);
    throw bad(rawPath, e.code === 'ENOENT' ? 'no such file' : `not JSON (${e.message})`);
  }
  return parseManifest(json, file);
}

/** Checks every field, so that a mistake is found before any process is touched. */
export function parseManifest(json: unknown, file: string): Manifest {
  const dir = dirname(file);
  const obj = (v: unknown, where: string) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, `${where} must be an object`);
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, where: string) => {
    if (typeof v !== 'string' || v === '') throw bad(file, `${where} must be a non-empty string`);
    return v;
  };
  const list = (v: unknown, where: string) => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw bad(file, `${where} must be a list`);
    return v as unknown[];
  };
  const top = obj(json, 'the manifest');
  if (top.format !== MANIFEST_FORMAT) throw bad(file, `"format" must be "${MANIFEST_FORMAT}"`);
  const targets = list(top.targets, '"targets"').map((t, i): ManifestTarget => {
    const where = `targets[${i}]`;
    const o = obj(t, where);
    const buildId = o.buildId === undefined ? undefined : str(o.buildId, `${where}.buildId`).toLowerCase();
    if (buildId !== undefined && !/^[0-9a-f]+$/.test(buildId)) throw bad(file, `${where}.buildId must be hex digits`);
    return {
      module: str(o.module, `${where}.module`),
      buildId,
      libraries: list(o.libraries, `${where}.libraries`).map((l, j) => {
        const lw = `${where}.libraries[${j}]`;
        const lo = obj(l, lw);
        const method = lo.method ?? 'dlopen';
        if (method !== 'dlopen' && method !== 'map') throw bad(file, `${lw}.method must be dlopen or map`);
        const bind = list(lo.bind, `${lw}.bind`).map((b, k) => str(b, `${lw}.bind[${k}]`));
        const sha256 = lo.sha256 === undefined ? undefined : str(lo.sha256, `${lw}.sha256`).toLowerCase();
        return { path: resolvePath(dir, str(lo.path, `${lw}.path`)), method, bind, ...(sha256 ? { sha256 } : {}) };
      }),
      redirects: list(o.redirects, `${where}.redirects`).map((r, j) => {
        const rw = `${where}.redirects[${j}]`;
        const ro = obj(r, rw);
        return { from: str(ro.from, `${rw}.from`), to: str(ro.to, `${rw}.to`), got: ro.got === true };
      }),
    };
  });
  if (targets.length === 0) throw bad(file, '"targets" lists nothing to apply');
  return { file, name: typeof top.name === 'string' ? top.name : basename(file, '.json'), targets };
}

/** Build-ids read from the files (by path, inode, time and size): a thousand processes share one read. */
const buildIds = new Map<string, string | undefined>();

function buildIdOf(path: string): string | undefined {
  let key: string;
  try {
    const st = statSync(path);
    key = `${path}:${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return undefined;
  }
  if (!buildIds.has(key)) {
    let id: string | undefined;
    try {
      id = openElf(path).buildId?.toLowerCase();
    } catch {
      id = undefined;
    }
    buildIds.set(key, id);
  }
  return buildIds.get(key);
}

function findModule(modules: readonly Module[], wanted: string): Module | undefined {
  return wanted.includes('/') ? modules.find((m) => m.path === wanted) : modules.find((m) => m.name === wanted || basename(m.path) === wanted);
}

/**
 * The targets of the manifest this process maps; E_NOT_MAPPED when it maps none, E_OTHER_BUILD when one is another
 * build (then nothing is applied to it at all: a fix for one build may break another).
 */
function applicable(session: PatchContext, manifest: Manifest): { targets: ManifestTarget[]; modules: ApplyOutcome['modules'] } {
  const pid = session.requireTarget().pid;
  const modules = session.space().modules;
  const targets: ManifestTarget[] = [];
  const found: ApplyOutcome['modules'] = [];
  for (const t of manifest.targets) {
    const m = findModule(modules, t.module);
    if (!m) continue;
    const id = buildIdOf(m.path);
    if (t.buildId !== undefined && id !== t.buildId) {
      throw new HotpatchError('E_OTHER_BUILD', `process ${pid} maps another build of ${t.module} (${m.path}: build-id ${id ?? 'none'}, the fix is for ${t.buildId}); not patched`,
        'build the fix against this build, or list this build-id in the manifest as a target of its own');
    }
    targets.push(t);
    found.push({ module: t.module, path: m.path, ...(id ? { buildId: id } : {}) });
  }
  if (targets.length === 0) {
    throw new HotpatchError('E_NOT_MAPPED', `process ${pid} maps none of ${[...new Set(manifest.targets.map((t) => t.module))].join(', ')}; not patched`, 'the fix is for other programs');
  }
  return { targets, modules: found };
}

/** FROM within the module the fix is for; TO within the fix's one library (a name with `!` is taken as written). */
function qualified(t: ManifestTarget, r: ManifestRedirect): { from: string; to: string } {
  const from = r.from.includes('!') || r.got ? r.from : `${basename(t.module)}!${r.from}`;
  const to = r.to.includes('!') || t.libraries.length !== 1 ? r.to : `${basename(t.libraries[0]!.path)}!${r.to}`;
  return { from, to };
}

function checkFiles(manifest: Manifest): void {
  for (const t of manifest.targets) {
    for (const l of t.libraries) {
      let hash: string;
      try {
        hash = fileHash(l.path);
      } catch {
        throw bad(manifest.file, `its library ${l.path} cannot be read`);
      }
      if (l.sha256 !== undefined && hash !== l.sha256) throw bad(manifest.file, `${l.path} is not the file it names (sha256 ${hash.slice(0, 12)}, the manifest says ${l.sha256.slice(0, 12)})`);
    }
  }
}

/**
 * Brings the process to the manifest's state: each library loaded (the same file already loaded: unchanged), each
 * redirect on top of its function (already there: unchanged). A failure takes back what this call changed, in
 * reverse, so the process is left as it was found.
 */
export async function applyManifest(session: PatchContext, manifest: Manifest): Promise<ApplyOutcome> {
  checkFiles(manifest);
  const { targets, modules } = applicable(session, manifest);
  const steps: ApplyStep[] = [];
  try {
    for (const t of targets) {
      for (const l of t.libraries) {
        const out = await loadLibrary(session, l.path, { method: l.method, binds: parseBindOptions(l.bind), force: false, init: false, timeoutMs: 2000 });
        steps.push({ kind: 'load', what: l.path, id: out.library.id, changed: out.changed });
      }
      for (const r of t.redirects) {
        const { from, to } = qualified(t, r);
        const out = await redirect(session, from, to, { force: false, got: r.got });
        steps.push({ kind: 'redirect', what: `${from} -> ${to}`, id: out.patch.id, changed: out.changed });
      }
    }
  } catch (err) {
    if (session.target?.attached) await undoSteps(session, steps);
    throw err;
  }
  return { name: manifest.name, changed: steps.some((s) => s.changed), steps, modules };
}

/** Takes back, last first, what the steps changed (revert #ID, unload #ID); a failure of one does not stop the rest. */
export async function undoSteps(session: PatchContext, steps: readonly ApplyStep[]): Promise<void> {
  for (const s of [...steps].reverse()) {
    if (!s.changed || s.id === undefined) continue;
    if (s.kind === 'redirect') await revert(session, `#${s.id}`, false).catch(() => undefined);
    else if (s.kind === 'load') await unloadLibrary(session, `#${s.id}`).catch(() => undefined);
  }
}

/** Takes the manifest's fix off: its redirects reverted (last first), then its libraries unloaded; absent: unchanged. */
export async function revertManifest(session: PatchContext, manifest: Manifest): Promise<ApplyOutcome> {
  const { targets, modules } = applicable(session, manifest);
  const steps: ApplyStep[] = [];
  for (const t of [...targets].reverse()) {
    const loaded = (path: string) => loadRecord(session).libraries.find((l) => l.path === path && !l.pending);
    for (const r of [...t.redirects].reverse()) {
      const { from, to } = qualified(t, r);
      const what = `${from} -> ${to}`;
      // TO lives in the fix's library: not loaded, no redirect to it can be there.
      const toAddress = await session.resolve(to).then((a) => a.address, () => undefined);
      const fromAddress = r.got ? undefined : await session.resolve(from).then((a) => a.address, () => undefined);
      const patch = toAddress === undefined ? undefined : loadRecord(session).patches
        .filter((p) => p.to === toAddress && (r.got ? p.kind === 'got' && p.fromName === from : p.kind === 'jump' && p.from === fromAddress))
        .sort((a, b) => b.id - a.id)[0];
      if (!patch) {
        steps.push({ kind: 'revert', what, changed: false });
        continue;
      }
      await revert(session, `#${patch.id}`, false);
      steps.push({ kind: 'revert', what, id: patch.id, changed: true });
    }
    for (const l of [...t.libraries].reverse()) {
      const lib = loaded(l.path);
      if (!lib) {
        steps.push({ kind: 'unload', what: l.path, changed: false });
        continue;
      }
      await unloadLibrary(session, `#${lib.id}`);
      steps.push({ kind: 'unload', what: l.path, id: lib.id, changed: true });
    }
  }
  return { name: manifest.name, changed: steps.some((s) => s.changed), steps, modules };
}
