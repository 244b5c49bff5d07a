// Device tokens: a browser that once proved the passphrase gets its own throttle ladder, so anonymous guessing cannot lock it out.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../common/fs-atomic.js';

/**
 * On loopback every process has the same address, so the only thing that tells a client apart is
 * something only it holds. A device token is issued after a successful setup or login (never
 * before), so a local guesser without the passphrase never has one: its guesses all land on the
 * shared anonymous ladder. The token is `<id>.<HMAC(key, id)>`; the key (0600, SECAI_HOME/auth)
 * survives restarts so the owner's browser keeps its own ladder after a reboot.
 */
export class DeviceTokens {
  private readonly key: Buffer;

  constructor(keyFile: string) {
    if (!existsSync(keyFile)) writeFileAtomic(keyFile, randomBytes(32), 0o600);
    this.key = readFileSync(keyFile);
  }

  private mac(id: string): string {
    return createHmac('sha256', this.key).update(id, 'utf8').digest('base64url');
  }

  issue(): { token: string; id: string } {
    const id = randomBytes(12).toString('base64url');
    return { token: `${id}.${this.mac(id)}`, id };
  }

  /** The public id of a genuine token, or undefined (absent, malformed or forged: treated as anonymous). */
  idOf(token: string | undefined): string | undefined {
    const m = /^([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/.exec(token ?? '');
    if (!m) return undefined;
    const want = Buffer.from(this.mac(m[1]!), 'utf8');
    const got = Buffer.from(m[2]!, 'utf8');
    return want.length === got.length && timingSafeEqual(want, got) ? m[1] : undefined;
  }
}
