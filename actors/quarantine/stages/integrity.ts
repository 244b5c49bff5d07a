// Stage 3, integrity: streaming SHA-256 (the same pass the static scan uses) checked against the lock-file pins
// and, for an import started from the signed catalog, the catalog entry's pin.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { walkFolder } from '../scan/folder-walk.js';
import { scanFile } from '../scan/scan-file.js';
import { guarded, stageResult } from './stage-result.js';
import type { Artifact, StageRunner } from './types.js';
import { fileHasher } from '../../../common/hash-file.js';

export interface IntegrityOptions {
  /** Artifact name or file name → expected SHA-256 (hex). */
  pins: ReadonlyMap<string, string>;
  /** Fail, rather than warn, when nothing pins this artifact. */
  requirePin: boolean;
  /** Passed to the shared scan so stage 5 finds it cached (same sampling, same workers). */
  sampleCap?: number;
  workers?: number;
}

/** A folder's digest: SHA-256 over "path\0sha256\n" lines of its regular files in path order. */
export async function folderDigest(root: string): Promise<{ digest: string; files: { file: string; sha256: string }[] }> {
  const files: { file: string; sha256: string }[] = [];
  const hash = fileHasher(); // one buffer for the whole folder
  for (const e of walkFolder(root).entries) {
    if (e.type !== 'file') continue;
    files.push({ file: e.rel, sha256: e.rel.endsWith('.safetensors') ? (await scanFile(e.abs)).sha256 : (await hash(e.abs)).sha256 });
  }
  const h = createHash('sha256');
  for (const f of files) h.update(`${f.file}\0${f.sha256}\n`);
  return { digest: h.digest('hex'), files };
}

interface Pin { key: string; sha256: string; from: 'lock' | 'catalog' }

function lockPin(a: Artifact, pins: ReadonlyMap<string, string>): Pin | null {
  for (const key of [a.name, basename(a.path)]) {
    const v = pins.get(key);
    if (v) return { key, sha256: v.toLowerCase(), from: 'lock' };
  }
  return null;
}

/** Every pin that applies: the catalog entry's (a catalog import) and the lock file's; each must hold. */
function pinsFor(a: Artifact, pins: ReadonlyMap<string, string>): Pin[] {
  const out: Pin[] = [];
  if (a.origin.type === 'url' && a.origin.catalog) out.push({ key: `catalog:${a.origin.catalog.id}`, sha256: a.origin.catalog.sha256.toLowerCase(), from: 'catalog' });
  const lock = lockPin(a, pins);
  if (lock) out.push(lock);
  return out;
}

export const integrityStage: StageRunner<IntegrityOptions> = (artifact, options, progress) =>
  guarded('integrity', async (started) => {
    let sha256: string;
    let extra: Record<string, unknown> = {};
    if (artifact.kind === 'folder') {
      const d = await folderDigest(artifact.path);
      sha256 = d.digest;
      extra = { digestOf: 'folder', files: d.files };
    } else {
      const scan = await scanFile(artifact.path, {
        ...(options.sampleCap !== undefined ? { sampleCap: options.sampleCap } : {}),
        ...(options.workers !== undefined ? { workers: options.workers } : {}),
      }, (p) => progress(p));
      sha256 = scan.sha256;
      extra = { digestOf: 'file', size: scan.size };
    }
    progress(100);
    const found = pinsFor(artifact, options.pins);
    const catalog = artifact.origin.type === 'url' && artifact.origin.catalog ? { catalog: { ...artifact.origin.catalog } } : {};
    const bad = found.find((p) => p.sha256 !== sha256);
    // A catalog pin names both hashes whole: the operator compares them with the publisher's record.
    if (bad?.from === 'catalog') {
      return stageResult('integrity', started, 'fail', `SHA-256 mismatch for ${artifact.name}: the signed catalog entry ${bad.key.slice(8)} pins ${bad.sha256}, the downloaded file is ${sha256}`,
        { sha256, expected: bad.sha256, found: sha256, pinKey: bad.key, pinned: true, rule: 'catalog_digest_mismatch', ...catalog, ...extra });
    }
    const pin = found.find((p) => p.from === 'catalog') ?? found[0];
    if (!pin) {
      return stageResult('integrity', started, options.requirePin ? 'fail' : 'warn',
        options.requirePin ? `no pin for ${artifact.name} in models.lock and policy requires one` : `no pin for ${artifact.name} in models.lock (SHA-256 recorded)`,
        { sha256, pinned: false, requirePin: options.requirePin, ...extra });
    }
    if (bad) {
      return stageResult('integrity', started, 'fail', `SHA-256 mismatch for ${artifact.name}: the lock pins ${bad.sha256.slice(0, 16)}…, the file is ${sha256.slice(0, 16)}…`,
        { sha256, expected: bad.sha256, pinKey: bad.key, pinned: true, rule: 'digest_mismatch', ...catalog, ...extra });
    }
    return stageResult('integrity', started, 'pass', `SHA-256 matches the pin for ${found.map((p) => p.key).join(' and ')}`, { sha256, expected: pin.sha256, pinKey: pin.key, pinned: true, ...catalog, ...extra });
  });
