// The incident actor's Ed25519 key pair: it signs each incident file and each exported forensic bundle.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { canonicalJson } from '../../common/canonical-json.js';

/** Under SECAI_HOME/keys: its own pair, not the registry's appliance key (one key, one job). */
export const KEY_FILE = 'incident.ed25519';
export const PUBLIC_KEY_FILE = 'incident.ed25519.pub';

export interface IncidentKey { privateKey: KeyObject; publicKeyPem: string; fingerprint: string }

/** SHA-256 of the public key's DER (SPKI): what `verify-bundle` prints and what an operator pins. */
export const fingerprintOf = (publicKeyPem: string) =>
  createHash('sha256').update(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex');

/** Loads the pair, creating it on first start (private key 0600, public key 0644). */
export function loadOrCreateKey(keysDir: string): IncidentKey {
  const priv = join(keysDir, KEY_FILE);
  const pub = join(keysDir, PUBLIC_KEY_FILE);
  if (!existsSync(priv)) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    writeFileAtomic(pub, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  }
  const privateKey = createPrivateKey(readFileSync(priv));
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  if (!existsSync(pub)) writeFileAtomic(pub, publicKeyPem, 0o644);
  return { privateKey, publicKeyPem, fingerprint: fingerprintOf(publicKeyPem) };
}

/** Ed25519 over the canonical JSON of `body`, base64. */
export const signBody = (key: KeyObject, body: unknown): string => sign(null, Buffer.from(canonicalJson(body)), key).toString('base64');

/** Whether `sig` is `publicKeyPem`'s signature over the canonical JSON of `body` (false on any malformed input). */
export function verifyBody(publicKeyPem: string, body: unknown, sig: string): boolean {
  try {
    return verify(null, Buffer.from(canonicalJson(body)), createPublicKey(publicKeyPem), Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
