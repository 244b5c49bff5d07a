// Walks the watched files, compares them with the baseline (stat first, SHA-256 where it must) and explains legitimate changes.
import { createHash } from 'node:crypto';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Stats } from 'node:fs';
import { canonicalJson } from '../../common/canonical-json.js';
import type { Sodium } from '../../common/sodium.js';
import type { Change, DiffResult, Entries, FileRecord, ScanInput, ScanResult } from '../../machines/integrity/integrity.machine.js';
import type { BaselineStore } from './baseline-file.js';
import { fileHasher } from '../../common/hash-file.js';
import { rootOf, type Root, type Targets } from './targets.js';

export interface ScanDeps {
  targets: Targets;
  /** Canary files: never opened, never listed (reading one would report this monitor). */
  canaries: ReadonlySet<string>;
  baseline: BaselineStore;
  applianceKey: Uint8Array;
  sodium: Sodium;
}

type Found = { path: string; st: Stats; kind: FileRecord['kind'] };

/** Every regular file and link under the roots (or under `scope`), never following links and never a canary. */
async function walk(deps: ScanDeps, scope: 'all' | string[]): Promise<Found[]> {
  const out: Found[] = [];
  const visit = async (path: string, root: Root, depth: number): Promise<void> => {
    if (deps.canaries.has(path)) return;
    let st: Stats;
    try { st = await lstat(path); } catch { return; } // lint-ok: gone between readdir and lstat: the next scan sees it
    if (st.isDirectory()) {
      if (depth > 0 && !root.recursive) return;
      if (depth > 32) return;
      let names: string[];
      try { names = await readdir(path); } catch { return; } // lint-ok: an unreadable folder lists nothing; its files then show as removed
      for (const n of names.sort()) await visit(join(path, n), root, depth + 1);
      return;
    }
    if (!st.isFile() && !st.isSymbolicLink()) return;
    if (root.dir && root.accept && !root.accept(path.slice(path.lastIndexOf(sep) + 1))) return;
    if (root.dir && !rootOf([root], path)) return;
    out.push({ path, st, kind: root.kindOf(path) });
  };
  if (scope === 'all') {
    for (const r of deps.targets.roots) await visit(r.path, r, 0);
  } else {
    for (const p of scope) {
      const r = deps.targets.roots.find((x) => x.path === p) ?? rootOf(deps.targets.roots, p);
      if (r) await visit(p, r, r.path === p ? 0 : 1);
    }
  }
  // One entry per path (scopes may overlap).
  return [...new Map(out.map((f) => [f.path, f])).values()];
}

const statOf = (st: Stats) => ({ size: st.size, mtimeMs: Math.trunc(st.mtimeMs), ctimeMs: Math.trunc(st.ctimeMs), ino: st.ino });
const sameStat = (a: FileRecord, st: Stats) => {
  const b = statOf(st);
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino;
};

/** The record of a file now: a link's digest is its target, so a file swapped for a link is a change. */
async function recordOf(f: Found, hash: (p: string) => Promise<{ sha256: string; size: number }>): Promise<FileRecord> {
  if (f.st.isSymbolicLink()) return { sha256: `link:${await readlink(f.path)}`, ...statOf(f.st), kind: f.kind };
  const h = await hash(f.path);
  return { sha256: h.sha256, ...statOf(f.st), size: h.size, kind: f.kind };
}

/** Hashes every watched file: the first baseline, and what `diff` compares with. */
export async function measure(deps: ScanDeps): Promise<Entries> {
  const hash = fileHasher({ noFollow: true });
  const entries: Entries = {};
  for (const f of await walk(deps, 'all')) {
    try { entries[f.path] = await recordOf(f, hash); } catch { /* lint-ok: vanished while measured: not part of the baseline */ }
  }
  return entries;
}

/** `securectl integrity diff`: what differs from the baseline now, and the digest a rebaseline must quote. */
export async function diff(deps: ScanDeps, baseline: Entries): Promise<DiffResult> {
  const entries = await measure(deps);
  const changes: DiffResult['changes'] = [];
  for (const p of [...new Set([...Object.keys(baseline), ...Object.keys(entries)])].sort()) {
    const a = baseline[p];
    const b = entries[p];
    if (a && b && a.sha256 === b.sha256 && a.kind === b.kind) continue;
    changes.push({ path: p, change: !a ? 'added' : !b ? 'removed' : 'changed', old: a?.sha256 ?? null, new: b?.sha256 ?? null });
  }
  const digest = createHash('sha256').update(canonicalJson(changes)).digest('hex');
  return { changes, digest, entries, at: Date.now() };
}

interface RegistryEntry { name: string; sha256: string; kind: 'file' | 'folder'; path: string }

/** The registry manifest's entries if its signature verifies with the appliance key (what only the registry can write). */
function signedRegistry(deps: ScanDeps): RegistryEntry[] | null {
  try {
    const f = JSON.parse(readFileSync(deps.targets.registryManifest, 'utf8')) as { version: number; entries: RegistryEntry[]; signature: string };
    const ok = deps.sodium.crypto_sign_verify_detached(Buffer.from(f.signature, 'base64'), canonicalJson({ version: f.version, entries: f.entries }), deps.applianceKey);
    return ok && Array.isArray(f.entries) ? f.entries : null;
  } catch {
    return null; // lint-ok: absent or unreadable: nothing in the registry is explained by it
  }
}

/** Whether the registry's suspension record verifies with the appliance key (a suspension or an operator's unsuspend wrote it). */
function signedSuspensions(deps: ScanDeps): boolean {
  try {
    const f = JSON.parse(readFileSync(deps.targets.registrySuspensions, 'utf8')) as { version: number; seq: number; suspended: unknown[]; signature: string };
    return deps.sodium.crypto_sign_verify_detached(Buffer.from(f.signature, 'base64'), canonicalJson({ version: f.version, seq: f.seq, suspended: f.suspended }), deps.applianceKey);
  } catch {
    return false; // lint-ok: absent or unreadable: the change is not explained
  }
}

/** A folder model's digest as the quarantine computes it: SHA-256 over "path\0sha256\n" of its files in path order. */
function folderDigest(files: Entries, root: string): string {
  const h = createHash('sha256');
  const rels = Object.keys(files).filter((p) => p.startsWith(root + sep)).map((p) => [relative(root, p).split(sep).join('/'), files[p]!.sha256] as const);
  for (const [rel, sha] of rels.sort((a, b) => (a[0] < b[0] ? -1 : 1))) h.update(`${rel}\0${sha}\n`);
  return h.digest('hex');
}

/** Why a change is legitimate, or undefined. `now` holds the records of every file under the registry as it is now. */
function explain(c: Change, deps: ScanDeps, input: ScanInput, registry: RegistryEntry[] | null, now: Entries): string | undefined {
  const t = deps.targets;
  if (c.path === t.registrySuspensions) return c.change !== 'removed' && signedSuspensions(deps) ? 'registry suspension record re-signed by the appliance key' : undefined;
  if (c.kind === 'registry_manifest') return c.change !== 'removed' && registry ? 'registry manifest re-signed by the appliance key' : undefined;
  if (c.kind === 'model') {
    const rel = relative(t.registry, c.path).split(sep).join('/');
    const dir = rel.split('/')[0]!;
    const entry = registry?.find((e) => e.path.split('/')[0] === dir);
    if (c.change === 'removed') return registry && !entry ? `model removed from the registry (${dir.slice(0, 12)}…)` : undefined;
    if (c.change !== 'added' || !entry) return undefined;
    if (entry.kind === 'file') return rel === entry.path && c.new === entry.sha256 ? `promotion of ${entry.name}` : undefined;
    return rel.startsWith(`${entry.path}/`) && folderDigest(now, join(t.registry, entry.path)) === entry.sha256 ? `promotion of ${entry.name}` : undefined;
  }
  if (c.kind === 'policy') return input.policyLoaded && input.policyLoaded.path === c.path && input.policyLoaded.digest === c.new ? 'signed policy reload' : undefined;
  if (c.kind === 'trust' && c.change === 'added' && c.path.startsWith(t.operators + sep)) {
    // securectl trusts its own key on first use (bus/operator-keys.ts); any later operator is a finding.
    const known = Object.keys(input.entries).filter((p) => p.startsWith(t.operators + sep)).length;
    return known === 0 ? 'first operator key (trust on first use)' : undefined;
  }
  return undefined;
}

const modelOf = (deps: ScanDeps, registry: RegistryEntry[] | null, path: string): string | undefined => {
  if (!path.startsWith(deps.targets.registry + sep) || path === deps.targets.registryManifest || path === deps.targets.registrySuspensions) return undefined;
  const dir = relative(deps.targets.registry, path).split(sep)[0];
  return registry?.find((e) => e.path.split('/')[0] === dir)?.name;
};

/** One scan: the baseline file first (read before any await, so it is the file the machine last wrote), then the files. */
export async function scan(deps: ScanDeps, input: ScanInput): Promise<ScanResult> {
  const t0 = performance.now();
  const at = Date.now();
  const baselineCheck = deps.baseline.check(input.generation, input.entries);
  const hash = fileHasher({ noFollow: true });
  const found = await walk(deps, input.scope);
  const inScope = (p: string) => input.scope === 'all' || input.scope.some((s) => p === s || p.startsWith(s + sep));
  const changes: Change[] = [];
  const restat: Record<string, FileRecord> = {};
  const now: Entries = {};
  let bytesHashed = 0;
  const seen = new Set<string>();
  for (const f of found) {
    seen.add(f.path);
    const old = input.entries[f.path];
    const needHash = !old || input.full || f.st.size < input.smallFileBytes || !sameStat(old, f.st) || f.st.isSymbolicLink();
    if (!needHash) { now[f.path] = old; continue; }
    let rec: FileRecord;
    try { rec = await recordOf(f, hash); } catch { continue; } // lint-ok: gone while hashed: the removal shows on the next scan
    bytesHashed += f.st.isSymbolicLink() ? 0 : rec.size;
    now[f.path] = rec;
    if (!old) changes.push({ path: f.path, kind: f.kind, change: 'added', old: null, new: rec.sha256, record: rec });
    else if (old.sha256 !== rec.sha256) changes.push({ path: f.path, kind: f.kind, change: 'changed', old: old.sha256, new: rec.sha256, record: rec });
    else if (!sameStat(old, f.st)) restat[f.path] = rec;
  }
  for (const [p, old] of Object.entries(input.entries)) {
    if (!seen.has(p) && inScope(p)) changes.push({ path: p, kind: old.kind, change: 'removed', old: old.sha256, new: null });
  }
  const registryTouched = changes.some((c) => c.kind === 'model' || c.kind === 'registry_manifest');
  const registry = registryTouched ? signedRegistry(deps) : null;
  // A folder model is judged whole: its files as they are now, also the ones this scan did not re-hash.
  const registryNow: Entries = { ...Object.fromEntries(Object.entries(input.entries).filter(([p]) => p.startsWith(deps.targets.registry + sep))), ...now };
  for (const c of changes) {
    if (c.change === 'removed') delete registryNow[c.path];
  }
  for (const c of changes) {
    const model = modelOf(deps, registry, c.path);
    if (model) c.model = model;
    const why = explain(c, deps, input, registry, registryNow);
    if (why) c.explained = why;
  }
  return {
    changes, restat, checked: input.scope,
    baseline: baselineCheck, generation: input.generation, files: found.length, bytesHashed, ms: Math.round(performance.now() - t0), full: input.full, at,
  };
}
