// The trusted model registry on disk: read-only copies under registry/<sha256>/ and a manifest signed by the appliance key.
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { getSodium } from '../../common/sodium.js';
import { folderDigest, folderFiles, sha256File } from '../../common/hash-file.js';

export interface StageSummary { stage: string; verdict: string; reason: string }

export interface RegistryEntry {
  name: string;
  sha256: string;
  size: number;
  kind: 'file' | 'folder';
  format: string;
  merkleRoot: string | null;
  /** Path of the model relative to the registry folder: <sha256>/<file or folder name>. */
  path: string;
  stages: StageSummary[];
  jobId: string;
  promotedAt: string;
}

interface ManifestFile {
  version: 1;
  entries: RegistryEntry[];
  /** Ed25519 over canonicalJson({version, entries}), base64. */
  signature: string;
  publicKey: string;
}

export interface PromoteRequest {
  jobId: string;
  name: string;
  /** The quarantined copy (inside quarantine/work). */
  path: string;
  kind: 'file' | 'folder';
  sha256: string;
  format: string;
  merkleRoot: string | null;
  stages: StageSummary[];
}

export interface VerifyResult {
  name: string;
  ok: boolean;
  sha256: string;
  actual: string | null;
  reason: string;
}

/** The appliance's Ed25519 key, shared with the integrity monitor (common/appliance-key.ts). */
export { applianceKey } from '../../common/appliance-key.js';
import { applianceKey } from '../../common/appliance-key.js';

/** A folder's digest, as stage 3 computes it: SHA-256 over "path\0sha256\n" of its regular files in path order. */
export async function folderSha256(root: string): Promise<string> {
  return folderDigest(await folderFiles(root));
}

const digestOf = (path: string, kind: 'file' | 'folder') => (kind === 'folder' ? folderSha256(path) : sha256File(path));

function makeReadOnly(path: string): void {
  const st = lstatSync(path);
  if (st.isDirectory()) {
    for (const e of readdirSync(path)) makeReadOnly(join(path, e));
    chmodSync(path, 0o555);
  } else if (st.isFile()) chmodSync(path, 0o444);
  else throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${path} is not a regular file or folder`);
}

function makeWritable(path: string): void {
  if (!existsSync(path)) return;
  const st = lstatSync(path);
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const e of readdirSync(path)) makeWritable(join(path, e));
  }
}

export class Registry {
  private constructor(
    readonly dir: string,
    private readonly key: { secretKey: Uint8Array; publicKey: Uint8Array },
    /** Only copies from here may be promoted (the quarantine work folder). */
    private readonly quarantineWork: string,
  ) {}

  static async open(o: { dir: string; keyPath: string; quarantineWork: string }): Promise<Registry> {
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const r = new Registry(o.dir, await applianceKey(o.keyPath), o.quarantineWork);
    if (!existsSync(r.manifestPath)) await r.write([]);
    r.leftovers = r.sweep(await r.entries()); // a tampered manifest stops the actor here
    return r;
  }

  /** What `open` removed: the remains of a promotion or removal that a crash cut short (logged by the actor). */
  leftovers: readonly string[] = [];

  /**
   * The manifest is the truth: a promotion killed midway leaves a `.incoming-<job>` copy (killed while copying
   * or hashing) or a stored `<sha256>/` folder the manifest does not name (killed between the rename and the
   * manifest write); a removal killed after its manifest write leaves the folder too. Neither is a model, and
   * nothing may load it: both go before the registry serves. Other names are left alone.
   */
  private sweep(entries: readonly RegistryEntry[]): string[] {
    const named = new Set(entries.map((e) => e.sha256));
    const removed: string[] = [];
    for (const name of readdirSync(this.dir)) {
      const orphan = name.startsWith('.incoming-') || (/^[0-9a-f]{64}$/.test(name) && !named.has(name));
      if (!orphan) continue;
      const p = join(this.dir, name);
      makeWritable(p);
      rmSync(p, { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }

  get manifestPath(): string {
    return join(this.dir, 'manifest.json');
  }

  /** The entries, after checking the manifest's signature with the appliance key. */
  async entries(): Promise<RegistryEntry[]> {
    return (await readManifest(this.manifestPath, this.key.publicKey)).entries;
  }

  private async write(entries: RegistryEntry[]): Promise<void> {
    const sodium = await getSodium();
    const body = { version: 1 as const, entries };
    const signature = Buffer.from(sodium.crypto_sign_detached(new TextEncoder().encode(canonicalJson(body)), this.key.secretKey)).toString('base64');
    const file: ManifestFile = { ...body, signature, publicKey: Buffer.from(this.key.publicKey).toString('base64') };
    writeFileAtomic(this.manifestPath, JSON.stringify(file, null, 2) + '\n', 0o644);
  }

  async get(name: string): Promise<RegistryEntry> {
    const e = findEntry(await this.entries(), name);
    if (!e) throw new SecaiError(ErrorCode.MODEL_NOT_FOUND, `no model '${name}' in the registry`);
    return e;
  }

  /** Absolute path of a promoted model. */
  pathOf(e: RegistryEntry): string {
    return join(this.dir, e.path);
  }

  async promote(req: PromoteRequest): Promise<RegistryEntry> {
    if (!/^[0-9a-f]{64}$/.test(req.sha256)) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'promotion needs the SHA-256 of the artifact');
    // Only a copy inside quarantine/work is promotable: no path from elsewhere on the host.
    let real: string;
    try { real = realpathSync(req.path); } catch { throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${req.path} does not exist`); }
    const work = realpathSync(this.quarantineWork);
    if (!real.startsWith(work + sep)) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${req.path} is not inside the quarantine work folder`);
    const st = lstatSync(real);
    if (req.kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${req.path} is not a ${req.kind}`);
    const entries = await this.entries();
    const same = entries.find((e) => e.name === req.name);
    if (same && same.sha256 === req.sha256) return same;
    if (same) throw new SecaiError(ErrorCode.MODEL_EXISTS, `a different model named '${req.name}' is already in the registry (sha256 ${same.sha256.slice(0, 16)}…)`);

    // The same bytes under a second name share the stored copy (after checking the copy still hashes right).
    const twin = entries.find((e) => e.sha256 === req.sha256);
    if (twin) {
      const check = await this.verify(twin.name);
      if (check.ok) {
        const entry: RegistryEntry = { ...twin, name: req.name, stages: req.stages, jobId: req.jobId, promotedAt: new Date().toISOString() };
        await this.write([...entries, entry]);
        return entry;
      }
    }
    const target = join(this.dir, req.sha256);
    const tmp = join(this.dir, `.incoming-${req.jobId}`);
    makeWritable(tmp);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    const file = basename(real);
    cpSync(real, join(tmp, file), { recursive: true, verbatimSymlinks: true, errorOnExist: true });
    // Hash the copy we keep, not the one we were shown: the scanned bytes are the stored bytes.
    const actual = await digestOf(join(tmp, file), req.kind);
    if (actual !== req.sha256) {
      rmSync(tmp, { recursive: true, force: true });
      throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `the artifact changed during promotion: scanned ${req.sha256.slice(0, 16)}…, copied ${actual.slice(0, 16)}…`);
    }
    const size = req.kind === 'file' ? lstatSync(join(tmp, file)).size : dirSize(join(tmp, file));
    if (existsSync(target)) { makeWritable(target); rmSync(target, { recursive: true, force: true }); }
    makeReadOnly(join(tmp, file));
    chmodSync(tmp, 0o555);
    renameSync(tmp, target);
    const entry: RegistryEntry = {
      name: req.name, sha256: req.sha256, size, kind: req.kind, format: req.format, merkleRoot: req.merkleRoot,
      path: `${req.sha256}/${file}`, stages: req.stages, jobId: req.jobId, promotedAt: new Date().toISOString(),
    };
    await this.write([...entries.filter((e) => e.sha256 !== req.sha256 || e.name !== req.name), entry]);
    return entry;
  }

  /** Re-hashes the stored model and checks it against the signed manifest. */
  async verify(name: string): Promise<VerifyResult> {
    const e = await this.get(name);
    const p = this.pathOf(e);
    let actual: string | null = null;
    try {
      const st = lstatSync(p);
      if (e.kind === 'file' ? !st.isFile() : !st.isDirectory()) return { name: e.name, ok: false, sha256: e.sha256, actual, reason: `${e.path} is no longer a ${e.kind}` };
      actual = await digestOf(p, e.kind);
    } catch (err) {
      return { name: e.name, ok: false, sha256: e.sha256, actual, reason: `${e.path} cannot be read: ${(err as Error).message}` };
    }
    return actual === e.sha256
      ? { name: e.name, ok: true, sha256: e.sha256, actual, reason: 'SHA-256 matches the signed manifest' }
      : { name: e.name, ok: false, sha256: e.sha256, actual, reason: `SHA-256 mismatch: the manifest signs ${e.sha256.slice(0, 16)}…, the file is ${actual.slice(0, 16)}…` };
  }

  async rm(name: string): Promise<RegistryEntry> {
    const entries = await this.entries();
    const e = findEntry(entries, name);
    if (!e) throw new SecaiError(ErrorCode.MODEL_NOT_FOUND, `no model '${name}' in the registry`);
    const rest = entries.filter((x) => x !== e);
    await this.write(rest);
    if (!rest.some((x) => x.sha256 === e.sha256)) {
      const dir = join(this.dir, e.sha256);
      makeWritable(dir);
      rmSync(dir, { recursive: true, force: true });
    }
    return e;
  }
}

/**
 * The entry a name means: its registry name, its SHA-256, or the file name it was imported as (`x.gguf`
 * for `x`: names are stored without the model extension, and users type either).
 */
export function findEntry(entries: readonly RegistryEntry[], name: string): RegistryEntry | undefined {
  const stem = name.replace(/\.(gguf|safetensors)$/i, '');
  return entries.find((x) => x.name === name || x.sha256 === name) ?? (stem !== name ? entries.find((x) => x.name === stem) : undefined);
}

function dirSize(p: string): number {
  let n = 0;
  for (const e of readdirSync(p, { withFileTypes: true })) n += e.isDirectory() ? dirSize(join(p, e.name)) : lstatSync(join(p, e.name)).size;
  return n;
}

/** Reads and checks a registry manifest; anything unsigned, re-signed by another key, or malformed is REGISTRY_TAMPERED. */
export async function readManifest(path: string, publicKey: Uint8Array): Promise<{ entries: RegistryEntry[] }> {
  const sodium = await getSodium();
  let f: ManifestFile;
  try { f = JSON.parse(readFileSync(path, 'utf8')) as ManifestFile; } catch (err) {
    throw new SecaiError(ErrorCode.REGISTRY_TAMPERED, `${path} does not parse: ${(err as Error).message}`);
  }
  if (!f || f.version !== 1 || !Array.isArray(f.entries) || typeof f.signature !== 'string') throw new SecaiError(ErrorCode.REGISTRY_TAMPERED, `${path} is not a registry manifest`);
  const sig = Buffer.from(f.signature, 'base64');
  const ok = sig.length === sodium.crypto_sign_BYTES
    && sodium.crypto_sign_verify_detached(sig, new TextEncoder().encode(canonicalJson({ version: f.version, entries: f.entries })), publicKey);
  if (!ok) throw new SecaiError(ErrorCode.REGISTRY_TAMPERED, `${path}: the appliance signature does not verify (the manifest was changed outside the registry)`);
  return { entries: f.entries };
}

/**
 * What another actor calls before loading a model (in-process; over the bus it is `registry.verify`):
 * the signed manifest's entry, after re-hashing the stored file. Throws unless it matches.
 */
export async function verifiedModel(o: { dir: string; keyPath: string }, name: string): Promise<{ entry: RegistryEntry; path: string }> {
  const { publicKey } = await applianceKey(o.keyPath);
  const { entries } = await readManifest(join(o.dir, 'manifest.json'), publicKey);
  const entry = findEntry(entries, name);
  if (!entry) throw new SecaiError(ErrorCode.MODEL_NOT_FOUND, `no model '${name}' in the registry`);
  const path = join(o.dir, entry.path);
  const actual = await digestOf(path, entry.kind).catch((err: Error) => { throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${entry.path} cannot be read: ${err.message}`); });
  if (actual !== entry.sha256) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `${name}: SHA-256 ${actual.slice(0, 16)}… differs from the signed manifest's ${entry.sha256.slice(0, 16)}…`);
  return { entry, path };
}
