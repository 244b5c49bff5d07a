// Encrypted records on disk: vault/records/<namespace>/<hex key>.rec, each sealed with the data key and bound to its place.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, fsyncDir } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { openRecord, sealRecord } from './vault-crypto.js';

const NS = /^[a-z][a-z0-9_-]{0,47}$/;

export class RecordStore {
  constructor(private readonly dir: string) {}

  private nsDir(ns: string): string {
    if (!NS.test(ns)) throw new SecaiError(ErrorCode.PERMISSION, `invalid namespace '${ns}'`);
    return join(this.dir, ns);
  }

  private file(ns: string, key: string): string {
    return join(this.nsDir(ns), `${Buffer.from(key, 'utf8').toString('hex')}.rec`);
  }

  /** The associated data: a record copied to another namespace or key does not decrypt there. */
  private static ad(ns: string, key: string): string {
    return `secai-vault-v1/record\0${ns}\0${key}`;
  }

  async put(dataKey: Uint8Array, ns: string, key: string, value: Uint8Array): Promise<void> {
    const sealed = await sealRecord(dataKey, RecordStore.ad(ns, key), value);
    mkdirSync(this.nsDir(ns), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(ns, key), sealed, 0o600);
  }

  async get(dataKey: Uint8Array, ns: string, key: string): Promise<Uint8Array> {
    const f = this.file(ns, key);
    if (!existsSync(f)) throw new SecaiError(ErrorCode.UNKNOWN_OP, `no record '${key}'`);
    return openRecord(dataKey, RecordStore.ad(ns, key), new Uint8Array(readFileSync(f)));
  }

  delete(ns: string, key: string): boolean {
    const f = this.file(ns, key);
    if (!existsSync(f)) return false;
    rmSync(f);
    fsyncDir(this.nsDir(ns));
    return true;
  }

  list(ns: string, prefix = ''): string[] {
    const d = this.nsDir(ns);
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter((f) => f.endsWith('.rec'))
      .map((f) => Buffer.from(f.slice(0, -4), 'hex').toString('utf8'))
      .filter((k) => k.startsWith(prefix))
      .sort();
  }
}
