// The suspension record: registry/suspended.json beside the manifest, signed by the same appliance key. A model an
// incident suspended stays refused across restarts until a signed operator unsuspend; a record that does not verify
// suspends every model (fail closed). An anchor in keys/ remembers the last sequence number written, so an older
// signed record put back (one from before a suspension) is a rollback, not a trusted record.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { readAnchor, writeAnchor } from '../../common/signed-anchor.js';
import { getSodium } from '../../common/sodium.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import type { SuspendedModel, Suspensions } from '../../machines/registry/registry.machine.js';

export const SUSPENSIONS_FILE = 'suspended.json';
export const suspensionsPath = (registryDir: string): string => join(registryDir, SUSPENSIONS_FILE);
export const suspensionsAnchorPath = (keysDir: string): string => join(keysDir, 'registry-suspensions.anchor');

/** Where the record and its anchor live: registry/suspended.json and keys/registry-suspensions.anchor. */
export interface SuspensionFiles { registryDir: string; anchor: string }

interface SuspensionsFile { version: 1; seq: number; suspended: SuspendedModel[]; signature: string; publicKey: string }

const SHA = /^[0-9a-f]{64}$/;
const wellFormed = (m: unknown): m is SuspendedModel => {
  const x = m as Partial<SuspendedModel> | null;
  return !!x && typeof x.sha256 === 'string' && SHA.test(x.sha256) && Array.isArray(x.names) && x.names.every((n) => typeof n === 'string')
    && typeof x.by === 'string' && typeof x.reason === 'string' && typeof x.at === 'number';
};

const ANCHOR = 'registry-suspensions';
const anchoredSeq = (anchor: string, publicKey: Uint8Array) => readAnchor(anchor, ANCHOR, publicKey);

/** Records `seq` as the newest record written. */
export const writeSuspensionsAnchor = (anchor: string, key: ApplianceKey, seq: number): Promise<void> => writeAnchor(anchor, ANCHOR, key, seq);

/**
 * The record as the registry trusts it. Absent: nothing suspended only while the registry holds no model (a fresh
 * registry writes an empty record at open); absent beside promoted models it was deleted, which is as untrusted as
 * an edit. Untrusted: `untrusted` says why, and every model counts as suspended until an operator clears each.
 */
async function readRecord(where: SuspensionFiles, publicKey: Uint8Array, models: number): Promise<{ suspensions: Suspensions; anchored: number | null }> {
  const file = suspensionsPath(where.registryDir);
  const anchored = await anchoredSeq(where.anchor, publicKey);
  // The next record written must be newer than anything written before, whatever this one claims.
  const floor = typeof anchored === 'number' ? anchored : 0;
  if (anchored === 'forged') return { suspensions: { records: [], seq: floor, untrusted: `${where.anchor} (the suspension anchor) does not verify` }, anchored: null };
  const at = (suspensions: Suspensions) => ({ suspensions, anchored });
  if (!existsSync(file)) {
    return at(models === 0 ? { records: [], seq: floor, untrusted: null } : { records: [], seq: floor, untrusted: `${SUSPENSIONS_FILE} is missing beside a registry of ${models} model(s)` });
  }
  const sodium = await getSodium();
  let f: Partial<SuspensionsFile>;
  try { f = JSON.parse(readFileSync(file, 'utf8')) as Partial<SuspensionsFile>; } catch (err) {
    return at({ records: [], seq: floor, untrusted: `${SUSPENSIONS_FILE} does not parse: ${(err as Error).message}`.slice(0, 512) });
  }
  if (!f || f.version !== 1 || !Number.isSafeInteger(f.seq) || (f.seq as number) < 0 || !Array.isArray(f.suspended) || typeof f.signature !== 'string' || !f.suspended.every(wellFormed)) {
    return at({ records: [], seq: floor, untrusted: `${SUSPENSIONS_FILE} is not a suspension record` });
  }
  const seq = f.seq as number;
  const sig = Buffer.from(f.signature, 'base64');
  const ok = sig.length === sodium.crypto_sign_BYTES
    && sodium.crypto_sign_verify_detached(sig, new TextEncoder().encode(canonicalJson({ version: 1, seq, suspended: f.suspended })), publicKey);
  if (!ok) return at({ records: [], seq: Math.max(seq, floor), untrusted: `${SUSPENSIONS_FILE}: the appliance signature does not verify (changed outside the registry)` });
  if (seq < floor) return at({ records: [], seq: floor, untrusted: `${SUSPENSIONS_FILE} is record ${seq}, older than record ${floor} written last (an old signed copy put back)` });
  return at({ records: f.suspended, seq, untrusted: null });
}

export async function readSuspensions(where: SuspensionFiles, publicKey: Uint8Array, models: number): Promise<Suspensions> {
  return (await readRecord(where, publicKey, models)).suspensions;
}

/**
 * The record at the registry's start. A fresh registry (no model yet) gets an empty signed record at once, so that a
 * record deleted later is told apart from one never written. A trusted record the anchor is behind (a registry from
 * before anchors, or a crash between the record and its anchor) is anchored now; an untrusted one is left for the
 * operator, whose unsuspend writes past both.
 */
export async function openSuspensions(where: SuspensionFiles, key: ApplianceKey, models: number): Promise<Suspensions> {
  const { suspensions: s, anchored } = await readRecord(where, key.publicKey, models);
  if (s.untrusted) return s;
  if (models === 0 && !existsSync(suspensionsPath(where.registryDir))) await writeSuspensions(where, key, [], s.seq);
  else if (anchored !== s.seq) await writeSuspensionsAnchor(where.anchor, key, s.seq);
  return s;
}

/** Signs and writes the record atomically, then anchors its `seq`, which grows with every write. */
export async function writeSuspensions(where: SuspensionFiles, key: ApplianceKey, records: SuspendedModel[], seq: number): Promise<void> {
  const sodium = await getSodium();
  const body = { version: 1 as const, seq, suspended: records };
  const signature = Buffer.from(sodium.crypto_sign_detached(new TextEncoder().encode(canonicalJson(body)), key.secretKey)).toString('base64');
  const file: SuspensionsFile = { ...body, signature, publicKey: Buffer.from(key.publicKey).toString('base64') };
  writeFileAtomic(suspensionsPath(where.registryDir), JSON.stringify(file, null, 2) + '\n', 0o644);
  await writeSuspensionsAnchor(where.anchor, key, seq);
}
