// Signed command envelopes: Ed25519 over a canonical body that binds subject, key id, nonce, time and args.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { getSodium } from '../common/sodium.js';
import { check, s } from './schema.js';

export const ENVELOPE_VERSION = 1;
const DOMAIN = 'secai-cmd-v1\n';

export interface CommandEnvelope {
  v: number;
  subject: string;
  keyId: string;
  nonce: string;
  ts: number;
  args: Record<string, unknown>;
  sig: Uint8Array;
}

export const envelopeSchema = s.object({
  v: s.integer({ minimum: 1, maximum: 1 }),
  subject: s.string({ maxLength: 256 }),
  keyId: s.string({ maxLength: 64, pattern: '^op-[0-9a-f]{16}$' }),
  nonce: s.string({ maxLength: 64, minLength: 16, pattern: '^[A-Za-z0-9_-]+$' }),
  ts: s.integer({ minimum: 0 }),
  args: s.record(),
  sig: s.bytes(64, 64),
});

export interface OperatorKey {
  keyId: string;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export interface TrustedOperator {
  keyId: string;
  publicKey: Uint8Array;
  roles: readonly string[];
  name: string;
}

export function keyIdOf(publicKey: Uint8Array): string {
  return 'op-' + createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

function signedBytes(e: Omit<CommandEnvelope, 'sig'>): Uint8Array {
  return Buffer.from(DOMAIN + canonicalJson({ v: e.v, subject: e.subject, keyId: e.keyId, nonce: e.nonce, ts: e.ts, args: e.args }));
}

export async function signCommand(key: OperatorKey, subject: string, args: Record<string, unknown>, now = Date.now()): Promise<CommandEnvelope> {
  const sodium = await getSodium();
  const body = { v: ENVELOPE_VERSION, subject, keyId: key.keyId, nonce: sodium.to_base64(sodium.randombytes_buf(18)), ts: now, args };
  const sig = sodium.crypto_sign_detached(signedBytes(body), key.secretKey);
  return { ...body, sig };
}

/** Remembers nonces for the replay window; entries older than the window are pruned as it goes. */
export class NonceCache {
  private seen = new Map<string, number>();
  constructor(private readonly windowMs: number) {}

  /** Records the nonce; false when it was seen within the window. */
  remember(nonce: string, now: number): boolean {
    for (const [n, at] of this.seen) {
      if (now - at <= this.windowMs) break; // insertion order is time order
      this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

export interface VerifyOptions {
  subject: string;
  op: string;
  roles: readonly string[];
  lookup: (keyId: string) => TrustedOperator | undefined;
  nonces: NonceCache;
  now: number;
  windowMs: number;
  /** Envelopes signed before this instant are refused (the nonce cache does not survive a restart). */
  notBefore: number;
}

/**
 * Verifies an envelope and returns who sent it. Order matters: shape, subject binding, time, key,
 * signature, authorization, and only then the nonce, so a forged envelope cannot burn a real nonce.
 */
export async function verifyCommand(raw: unknown, o: VerifyOptions): Promise<{ operator: TrustedOperator; args: Record<string, unknown> }> {
  const e = check<CommandEnvelope>(envelopeSchema, raw, 'command envelope');
  if (e.subject !== o.subject) throw new SecaiError(ErrorCode.ENVELOPE_INVALID, `envelope signed for ${e.subject}, received on ${o.subject}`);
  if (e.ts > o.now + 5_000) throw new SecaiError(ErrorCode.EXPIRED, 'envelope timestamp is in the future');
  if (o.now - e.ts > o.windowMs) throw new SecaiError(ErrorCode.EXPIRED, `envelope is ${o.now - e.ts} ms old (window ${o.windowMs} ms)`);
  if (e.ts < o.notBefore) throw new SecaiError(ErrorCode.EXPIRED, 'envelope predates this actor start');
  const operator = o.lookup(e.keyId);
  if (!operator) throw new SecaiError(ErrorCode.KEY_UNKNOWN, `operator key ${e.keyId} is not trusted`);
  const sodium = await getSodium();
  const { sig, ...body } = e;
  if (!sodium.crypto_sign_verify_detached(sig, signedBytes(body), operator.publicKey)) {
    throw new SecaiError(ErrorCode.SIGNATURE_INVALID, 'envelope signature does not verify');
  }
  const allowed = operator.roles.includes('admin') || o.roles.some((r) => operator.roles.includes(r));
  if (!allowed) throw new SecaiError(ErrorCode.UNAUTHORIZED, `operator ${operator.name} (${operator.roles.join(',')}) may not run ${o.op}`);
  // A replayed nonce is rejected even if the signature is valid: the signature proves who, not when.
  if (!o.nonces.remember(e.nonce, o.now)) throw new SecaiError(ErrorCode.REPLAYED, `nonce ${e.nonce} was already used`);
  return { operator, args: e.args };
}
