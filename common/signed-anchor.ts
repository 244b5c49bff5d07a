// A signed sequence anchor in keys/: it remembers the newest record a file elsewhere was written as, so an older
// signed copy of that file put back (from before a suspension, before a pin was replaced) is a rollback, not a
// trusted record. The anchor is signed with the appliance key and names what it anchors.
import { existsSync, readFileSync } from 'node:fs';
import { canonicalJson } from './canonical-json.js';
import type { ApplianceKey } from './appliance-key.js';
import { writeFileAtomic } from './fs-atomic.js';
import { getSodium } from './sodium.js';

/** The anchored sequence number; null when none was written yet, 'forged' when it does not verify or parse. */
export type Anchored = number | null | 'forged';

const body = (name: string, seq: number) => new TextEncoder().encode(canonicalJson({ anchor: name, seq }));

export async function readAnchor(path: string, name: string, publicKey: Uint8Array): Promise<Anchored> {
  if (!existsSync(path)) return null;
  const sodium = await getSodium();
  try {
    const a = JSON.parse(readFileSync(path, 'utf8')) as { seq?: unknown; signature?: unknown };
    if (!Number.isSafeInteger(a.seq) || (a.seq as number) < 0 || typeof a.signature !== 'string') return 'forged';
    const sig = Buffer.from(a.signature, 'base64');
    const ok = sig.length === sodium.crypto_sign_BYTES && sodium.crypto_sign_verify_detached(sig, body(name, a.seq as number), publicKey);
    return ok ? (a.seq as number) : 'forged';
  } catch {
    return 'forged'; // lint-ok: an unreadable anchor is reported like a forged one
  }
}

/** Records `seq` as the newest record written (after the record itself: a crash between leaves the record newer, which is fine). */
export async function writeAnchor(path: string, name: string, key: ApplianceKey, seq: number): Promise<void> {
  const sodium = await getSodium();
  const signature = Buffer.from(sodium.crypto_sign_detached(body(name, seq), key.secretKey)).toString('base64');
  writeFileAtomic(path, JSON.stringify({ seq, signature }) + '\n', 0o600);
}
