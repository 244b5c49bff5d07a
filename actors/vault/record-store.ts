// Encrypted records on disk, each sealed with the data key and bound to its place, and a sealed, numbered index of
// them: vault/records/<namespace>/<random>.rec, vault/records.index, vault/records.anchor. A file's name says nothing
// of its key (the index, sealed, holds the keys); a vault from before the index named them <hex key>.rec.
//
// The seal alone proves a record was written by this vault for this namespace and key, not that it is the newest one:
// an older copy, or a deleted record, put back under its own name would open. The index names the one file and its
// SHA-256 that each record is now, and its number grows with every write; the anchor, sealed apart, holds the newest
// number written. So a record file put back is not the file the index names (or not in the index at all), and an
// older index put back is behind the anchor: both are refused as VAULT_CORRUPT. A record is never rewritten in place:
// a put writes a new file, then the index, then the anchor, then removes the old file, so a crash leaves the index
// naming a whole file either way. What this cannot catch: the whole vault folder put back from one copy.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic, fsyncDir } from '../../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { openRecord, sealRecord } from './vault-crypto.js';

const NS = /^[a-z][a-z0-9_-]{0,47}$/;
const INDEX_AD = 'secai-vault-v1/records-index';
const ANCHOR_AD = 'secai-vault-v1/records-anchor';
/** The number of a first index, made by create() or adopt(). */
const ADOPTED = 1;

interface Entry { file: string; sha256: string }
/** Maps, not objects: a record key may be any name its pattern allows, '__proto__' and 'constructor' among them. */
interface Index { seq: number; records: Map<string, Map<string, Entry>> }

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const corrupt = (message: string) => new SecaiError(ErrorCode.VAULT_CORRUPT, message);

export class RecordStore {
  private readonly dir: string;
  private readonly indexFile: string;
  private readonly anchorFile: string;
  /**
   * Every call in its turn, reads too: a read between a write's index and its anchor would see an index behind the
   * anchor, and one between the index and the old file's removal a file gone (both would be false alarms).
   */
  private queue: Promise<unknown> = Promise.resolve();

  /** `vault` is the vault folder (HomePaths.vault). */
  constructor(vault: string) {
    this.dir = join(vault, 'records');
    this.indexFile = join(vault, 'records.index');
    this.anchorFile = join(vault, 'records.anchor');
  }

  private nsDir(ns: string): string {
    if (!NS.test(ns)) throw new SecaiError(ErrorCode.PERMISSION, `invalid namespace '${ns}'`);
    return join(this.dir, ns);
  }

  /** The associated data: a record copied to another namespace or key does not decrypt there. */
  private static ad(ns: string, key: string): string {
    return `secai-vault-v1/record\0${ns}\0${key}`;
  }

  private turn<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined); // lint-ok: the caller of f gets its error; the queue only orders
    return next;
  }

  /** The index as written last, checked against the anchor; VAULT_CORRUPT when either is missing, forged or behind. */
  private async load(dataKey: Uint8Array): Promise<Index> {
    if (!existsSync(this.indexFile)) throw corrupt('the vault\'s record index is missing: records cannot be told from older copies');
    if (!existsSync(this.anchorFile)) throw corrupt('the vault\'s record anchor is missing: an older index cannot be told from the newest');
    const index = parseIndex(await openRecord(dataKey, INDEX_AD, new Uint8Array(readFileSync(this.indexFile))));
    const anchored = parseSeq(await openRecord(dataKey, ANCHOR_AD, new Uint8Array(readFileSync(this.anchorFile))));
    if (index.seq < anchored) {
      throw corrupt(`the vault's record index is number ${index.seq}, older than the newest written (${anchored}): it was put back from an older copy`);
    }
    return index;
  }

  /** The index first, then the anchor (a crash between leaves the index ahead of the anchor, which is fine). */
  private async save(dataKey: Uint8Array, index: Index): Promise<void> {
    await this.saveIndex(dataKey, index);
    await this.saveAnchor(dataKey, index.seq);
  }

  private async saveIndex(dataKey: Uint8Array, index: Index): Promise<void> {
    const records = [...index.records].map(([ns, r]) => [ns, [...r]]);
    writeFileAtomic(this.indexFile, await sealRecord(dataKey, INDEX_AD, Buffer.from(JSON.stringify({ seq: index.seq, records }))), 0o600);
  }

  private async saveAnchor(dataKey: Uint8Array, seq: number): Promise<void> {
    writeFileAtomic(this.anchorFile, await sealRecord(dataKey, ANCHOR_AD, Buffer.from(JSON.stringify({ seq }))), 0o600);
  }

  /** A new vault's empty index, replacing what an earlier vault (another data key) left here. */
  async create(dataKey: Uint8Array): Promise<void> {
    await this.turn(() => this.save(dataKey, { seq: ADOPTED, records: new Map() }));
  }

  /**
   * A vault from before the index: the record files there now become its first index, trusted once, as they are.
   * Refused when this key has anchored a written-to index here already (a version 1 vault.json put back).
   */
  async adopt(dataKey: Uint8Array): Promise<number> {
    return this.turn(async () => {
      const anchored = existsSync(this.anchorFile)
        && await openRecord(dataKey, ANCHOR_AD, new Uint8Array(readFileSync(this.anchorFile))).then(() => true, () => false);
      if (anchored) {
        // This key has anchored an index here. Still number 1: an upgrade stopped before vault.json was rewritten, and
        // that index stands as it is (no new scan). Past it: the vault was upgraded and written to, and a version 1
        // vault.json was put back to have its record files scanned again.
        const index = await this.load(dataKey);
        if (index.seq !== ADOPTED) throw corrupt('vault.json is from before the record index, yet this vault has written one: an older vault.json was put back');
        return [...index.records.values()].reduce((n, r) => n + r.size, 0);
      }
      const records: Index['records'] = new Map();
      let count = 0;
      for (const ns of existsSync(this.dir) ? readdirSync(this.dir) : []) {
        if (!NS.test(ns)) continue;
        for (const file of readdirSync(join(this.dir, ns))) {
          const m = /^((?:[0-9a-f]{2})+)\.rec$/.exec(file);
          if (!m) continue;
          const key = Buffer.from(m[1]!, 'hex').toString('utf8');
          inNs(records, ns).set(key, { file, sha256: sha256(readFileSync(join(this.dir, ns, file))) });
          count++;
        }
      }
      await this.save(dataKey, { seq: ADOPTED, records });
      return count;
    });
  }

  async put(dataKey: Uint8Array, ns: string, key: string, value: Uint8Array): Promise<void> {
    const dir = this.nsDir(ns);
    const sealed = await sealRecord(dataKey, RecordStore.ad(ns, key), value);
    await this.turn(async () => {
      const index = await this.load(dataKey);
      const seq = index.seq + 1;
      const file = `${randomBytes(16).toString('hex')}.rec`;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(join(dir, file), sealed, 0o600);
      const old = index.records.get(ns)?.get(key);
      inNs(index.records, ns).set(key, { file, sha256: sha256(sealed) });
      try {
        await this.saveIndex(dataKey, { seq, records: index.records });
      } catch (err) {
        // The index was not replaced (a full disk): the new file is nobody's, and the record stays what it was.
        this.remove(dir, file);
        throw err;
      }
      // Should this fail, the index names the new file already: the record is written, the anchor one number behind.
      await this.saveAnchor(dataKey, seq);
      if (old) this.remove(dir, old.file);
    });
  }

  async get(dataKey: Uint8Array, ns: string, key: string): Promise<Uint8Array> {
    const dir = this.nsDir(ns);
    const sealed = await this.turn(async () => {
      const entry = (await this.load(dataKey)).records.get(ns)?.get(key);
      if (!entry) throw new SecaiError(ErrorCode.UNKNOWN_OP, `no record '${key}'`);
      const f = join(dir, entry.file);
      if (!existsSync(f)) throw corrupt(`record '${key}' is in the vault's index but its file is gone`);
      const bytes = new Uint8Array(readFileSync(f));
      if (sha256(bytes) !== entry.sha256) throw corrupt(`record '${key}' is not the copy the vault wrote last (an older or altered file)`);
      return bytes;
    });
    return openRecord(dataKey, RecordStore.ad(ns, key), sealed);
  }

  async delete(dataKey: Uint8Array, ns: string, key: string): Promise<boolean> {
    const dir = this.nsDir(ns);
    return this.turn(async () => {
      const index = await this.load(dataKey);
      const entry = index.records.get(ns)?.get(key);
      if (!entry) return false;
      index.records.get(ns)!.delete(key);
      await this.save(dataKey, { seq: index.seq + 1, records: index.records });
      this.remove(dir, entry.file);
      return true;
    });
  }

  async list(dataKey: Uint8Array, ns: string, prefix = ''): Promise<string[]> {
    this.nsDir(ns);
    const keys = await this.turn(async () => [...(await this.load(dataKey)).records.get(ns)?.keys() ?? []]);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  private remove(dir: string, file: string): void {
    rmSync(join(dir, file), { force: true });
    fsyncDir(dir);
  }
}

function parseSeq(b: Uint8Array): number {
  const bad = () => corrupt('the vault\'s record anchor is not one this build writes');
  let v: { seq?: unknown };
  try {
    v = JSON.parse(Buffer.from(b).toString('utf8')) as typeof v;
  } catch {
    throw bad(); // lint-ok: sealed by this key, so only a build that writes another format gets here
  }
  if (!Number.isSafeInteger(v?.seq) || (v.seq as number) < 1) throw bad();
  return v.seq as number;
}

function inNs(records: Index['records'], ns: string): Map<string, Entry> {
  let r = records.get(ns);
  if (!r) records.set(ns, (r = new Map()));
  return r;
}

/** A record file's name: random hex, or a vault before the index's hex key (a key has 1 to 200 characters). */
const FILE = /^(?:[0-9a-f]{2}){1,200}\.rec$/;

/** The index as save() writes it: [[namespace, [[key, { file, sha256 }], …]], …] under its number. */
function parseIndex(b: Uint8Array): Index {
  const bad = () => corrupt('the vault\'s record index is not one this build writes');
  let v: { seq?: unknown; records?: unknown };
  try {
    v = JSON.parse(Buffer.from(b).toString('utf8')) as typeof v;
  } catch {
    throw bad(); // lint-ok: sealed by this key, so only a build that writes another format gets here
  }
  if (!Number.isSafeInteger(v?.seq) || (v.seq as number) < 1 || !Array.isArray(v.records)) throw bad();
  const records: Index['records'] = new Map();
  for (const pair of v.records as unknown[]) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || !NS.test(pair[0]) || !Array.isArray(pair[1])) throw bad();
    const r = inNs(records, pair[0]);
    for (const item of pair[1] as unknown[]) {
      const [key, e] = Array.isArray(item) ? item as [unknown, Partial<Entry> | undefined] : [];
      if (typeof key !== 'string' || typeof e?.file !== 'string' || !FILE.test(e.file) || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad();
      r.set(key, { file: e.file, sha256: e.sha256 });
    }
  }
  return { seq: v.seq as number, records };
}
