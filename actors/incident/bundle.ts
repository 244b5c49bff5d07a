// Forensic bundles: an incident, its evidence and the related audit records, signed by the incident key; verified offline.
import { readFileSync } from 'node:fs';
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { auditManifest } from '../../runtime/catalog.js';
import { fingerprintOf, signBody, verifyBody, type IncidentKey } from './signing-key.js';

export const BUNDLE_FORMAT = 'secai-incident-bundle/1';
/** Audit records from this long before the first detection to this long after the last are related. */
const MARGIN_MS = 60_000;
/** Records asked of the audit actor per page, and the most record bytes a bundle carries (the bus reply is ≤ 1 MiB). */
const AUDIT_PAGE = 500;
const AUDIT_BYTES = 512 * 1024;

export interface Bundle { body: Record<string, unknown>; signature: string; publicKey: string; fingerprint: string }

interface IncidentRecord { incident: { id: string; firstSeen: number; lastSeen: number }; timeline: Record<string, unknown>[] }

/**
 * The bundle of one incident: its whole record and the audit chain records of its time span ([first seen − 60 s, last
 * change + 60 s], read from the whole chain with `audit.records`, page by page), signed over the canonical JSON of `body`.
 * The bundle travels in one bus reply: past AUDIT_BYTES of records it stops and says where (`truncatedAfter`), so an
 * auditor knows the rest is in the chain, from that sequence number on.
 */
export async function exportBundle(bus: BusClient, key: IncidentKey, record: IncidentRecord): Promise<Bundle> {
  const last = Math.max(record.incident.lastSeen, ...record.timeline.map((t) => Number(t['at']) || 0));
  const since = record.incident.firstSeen - MARGIN_MS;
  const until = last + MARGIN_MS;
  let audit: { records: Record<string, unknown>[]; truncatedAfter?: number; error?: string };
  const records: Record<string, unknown>[] = [];
  try {
    let after = -1;
    let bytes = 0;
    for (;;) {
      const page = await bus.call(serveOp(auditManifest, 'records'), { since, until, after, limit: AUDIT_PAGE }, 30_000);
      for (const r of page.records) {
        bytes += JSON.stringify(r).length;
        if (bytes > AUDIT_BYTES) break;
        records.push(r as Record<string, unknown>);
      }
      if (bytes > AUDIT_BYTES) { audit = { records, truncatedAfter: Number(records[records.length - 1]?.['seq'] ?? after) }; break; }
      if (page.next === null) { audit = { records }; break; }
      after = page.next;
    }
  } catch (err) {
    // The bundle still holds the incident and the records read so far; it says why the rest are missing.
    audit = { records, error: (err as Error).message };
  }
  const body = { format: BUNDLE_FORMAT, exportedAt: Date.now(), incident: record, audit: { since, until, ...audit } };
  return { body, signature: signBody(key.privateKey, body), publicKey: key.publicKeyPem, fingerprint: key.fingerprint };
}

export type BundleVerdict = { ok: true; fingerprint: string; incident: string } | { ok: false; reason: string };

/**
 * Checks a bundle file with nothing but the file (and, to pin the signer, its public key): the signature over the
 * canonical body, the fingerprint of the key it names, and the format. Throws only when the file cannot be read.
 */
export function verifyBundleFile(path: string, pinnedPublicKeyPem?: string): BundleVerdict {
  const text = readFileSync(path, 'utf8');
  let b: Partial<Bundle>;
  try {
    b = JSON.parse(text) as Partial<Bundle>;
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!b || typeof b.body !== 'object' || typeof b.signature !== 'string' || typeof b.publicKey !== 'string') return { ok: false, reason: 'not a bundle' };
  let fp: string;
  try {
    fp = fingerprintOf(b.publicKey);
  } catch {
    return { ok: false, reason: 'the public key is malformed' };
  }
  if (fp !== b.fingerprint) return { ok: false, reason: 'the fingerprint does not match the public key' };
  if (pinnedPublicKeyPem !== undefined && fingerprintOf(pinnedPublicKeyPem) !== fp) return { ok: false, reason: `signed by key ${fp}, not the pinned key ${fingerprintOf(pinnedPublicKeyPem)}` };
  if (!verifyBody(b.publicKey, b.body, b.signature)) return { ok: false, reason: 'the signature does not verify: the bundle was changed' };
  const body = b.body as { format?: unknown; incident?: { incident?: { id?: unknown } } };
  if (body.format !== BUNDLE_FORMAT) return { ok: false, reason: `unknown format ${String(body.format)}` };
  return { ok: true, fingerprint: fp, incident: String(body.incident?.incident?.id ?? '') };
}
