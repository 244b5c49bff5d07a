// The suspension record: registry/suspended.json beside the manifest, signed by the same appliance key. A model an
// incident suspended stays refused across restarts until a signed operator unsuspend; a record that does not verify
// suspends every model (fail closed).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../common/canonical-json.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { getSodium } from '../../common/sodium.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import type { SuspendedModel, Suspensions } from '../../machines/registry/registry.machine.js';

export const SUSPENSIONS_FILE = 'suspended.json';
export const suspensionsPath = (registryDir: string): string => join(registryDir, SUSPENSIONS_FILE);

interface SuspensionsFile { version: 1; seq: number; suspended: SuspendedModel[]; signature: string; publicKey: string }

const SHA = /^[0-9a-f]{64}$/;
const wellFormed = (m: unknown): m is SuspendedModel => {
  const x = m as Partial<SuspendedModel> | null;
  return !!x && typeof x.sha256 === 'string' && SHA.test(x.sha256) && Array.isArray(x.names) && x.names.every((n) => typeof n === 'string')
    && typeof x.by === 'string' && typeof x.reason === 'string' && typeof x.at === 'number';
};

/**
 * The record as the registry trusts it. Absent: nothing suspended only while the registry holds no model (a fresh
 * registry writes an empty record at open); absent beside promoted models it was deleted, which is as untrusted as
 * an edit. Untrusted: `untrusted` says why, and every model counts as suspended until an operator clears each.
 */
export async function readSuspensions(registryDir: string, publicKey: Uint8Array, models: number): Promise<Suspensions> {
  const file = suspensionsPath(registryDir);
  if (!existsSync(file)) {
    return models === 0 ? { records: [], seq: 0, untrusted: null } : { records: [], seq: 0, untrusted: `${SUSPENSIONS_FILE} is missing beside a registry of ${models} model(s)` };
  }
  const sodium = await getSodium();
  let f: Partial<SuspensionsFile>;
  try { f = JSON.parse(readFileSync(file, 'utf8')) as Partial<SuspensionsFile>; } catch (err) {
    return { records: [], seq: 0, untrusted: `${SUSPENSIONS_FILE} does not parse: ${(err as Error).message}`.slice(0, 512) };
  }
  if (!f || f.version !== 1 || typeof f.seq !== 'number' || !Array.isArray(f.suspended) || typeof f.signature !== 'string' || !f.suspended.every(wellFormed)) {
    return { records: [], seq: 0, untrusted: `${SUSPENSIONS_FILE} is not a suspension record` };
  }
  const sig = Buffer.from(f.signature, 'base64');
  const ok = sig.length === sodium.crypto_sign_BYTES
    && sodium.crypto_sign_verify_detached(sig, new TextEncoder().encode(canonicalJson({ version: 1, seq: f.seq, suspended: f.suspended })), publicKey);
  if (!ok) return { records: [], seq: f.seq, untrusted: `${SUSPENSIONS_FILE}: the appliance signature does not verify (changed outside the registry)` };
  return { records: f.suspended, seq: f.seq, untrusted: null };
}

/** Signs and writes the record atomically; `seq` grows with every write. */
export async function writeSuspensions(registryDir: string, key: ApplianceKey, records: SuspendedModel[], seq: number): Promise<void> {
  const sodium = await getSodium();
  const body = { version: 1 as const, seq, suspended: records };
  const signature = Buffer.from(sodium.crypto_sign_detached(new TextEncoder().encode(canonicalJson(body)), key.secretKey)).toString('base64');
  const file: SuspensionsFile = { ...body, signature, publicKey: Buffer.from(key.publicKey).toString('base64') };
  writeFileAtomic(suspensionsPath(registryDir), JSON.stringify(file, null, 2) + '\n', 0o644);
}

