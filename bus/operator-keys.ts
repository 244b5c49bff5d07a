// Operator signing keys: securectl's own Ed25519 key (0600) and the list of keys the appliance trusts.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { getSodium } from '../common/sodium.js';
import { keyIdOf, type OperatorKey, type TrustedOperator } from './envelope.js';

/**
 * Loads securectl's operator key, creating it on first use and trusting it as admin. Whoever can
 * write SECAI_HOME/keys is the appliance's owner already; the key file is 0600 and its folder 0700.
 */
export async function ensureOperatorKey(keyPath: string, trustedDir: string, name = 'local-operator'): Promise<OperatorKey> {
  const sodium = await getSodium();
  if (!existsSync(keyPath)) {
    const kp = sodium.crypto_sign_keypair();
    writeFileAtomic(keyPath, kp.privateKey, 0o600);
  }
  const mode = statSync(keyPath).mode & 0o777;
  if (mode & 0o077) throw new SecaiError(ErrorCode.PERMISSION, `operator key ${keyPath} is readable by others (mode ${mode.toString(8)})`);
  const secretKey = new Uint8Array(readFileSync(keyPath));
  if (secretKey.length !== sodium.crypto_sign_SECRETKEYBYTES) throw new SecaiError(ErrorCode.CONFIG_INVALID, `operator key ${keyPath} is not an Ed25519 secret key`);
  const publicKey = sodium.crypto_sign_ed25519_sk_to_pk(secretKey);
  const keyId = keyIdOf(publicKey);
  const trustedPath = join(trustedDir, `${keyId}.json`);
  if (!existsSync(trustedPath)) trustOperator(trustedDir, { keyId, publicKey, roles: ['admin'], name });
  return { keyId, publicKey, secretKey };
}

export function trustOperator(trustedDir: string, op: TrustedOperator): void {
  mkdirSync(trustedDir, { recursive: true, mode: 0o700 });
  const record = { keyId: op.keyId, publicKey: Buffer.from(op.publicKey).toString('base64'), roles: op.roles, name: op.name };
  writeFileAtomic(join(trustedDir, `${op.keyId}.json`), JSON.stringify(record, null, 2) + '\n', 0o600);
}

/** The trusted operator list, re-read when the folder changes (a key added or removed takes effect at once). */
export class TrustedOperators {
  private cache = new Map<string, TrustedOperator>();
  private stamp = '';

  constructor(private readonly dir: string) {}

  lookup(keyId: string): TrustedOperator | undefined {
    this.refresh();
    return this.cache.get(keyId);
  }

  private refresh(): void {
    if (!existsSync(this.dir)) {
      this.cache.clear();
      return;
    }
    const files = readdirSync(this.dir).filter((f) => f.endsWith('.json')).sort();
    const stamp = files.map((f) => `${f}:${statSync(join(this.dir, f)).mtimeMs}`).join('|');
    if (stamp === this.stamp) return;
    const next = new Map<string, TrustedOperator>();
    for (const f of files) {
      try {
        const r = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as { keyId: string; publicKey: string; roles: string[]; name: string };
        const publicKey = new Uint8Array(Buffer.from(r.publicKey, 'base64'));
        // The file name, the recorded id and the key itself must agree, or the entry is ignored.
        if (publicKey.length === 32 && keyIdOf(publicKey) === r.keyId && f === `${r.keyId}.json` && Array.isArray(r.roles)) {
          next.set(r.keyId, { keyId: r.keyId, publicKey, roles: r.roles.map(String), name: String(r.name) });
        }
      } catch {
        // lint-ok: an unreadable entry trusts nobody
      }
    }
    this.cache = next;
    this.stamp = stamp;
  }
}
