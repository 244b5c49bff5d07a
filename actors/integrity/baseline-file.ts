// The baseline on disk: integrity/baseline.json signed by the appliance key, and an anchor in keys/ that remembers its generation.
import { existsSync, readFileSync } from 'node:fs';
import { canonicalJson } from '../../common/canonical-json.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Sodium } from '../../common/sodium.js';
import type { ApplianceKey } from '../../common/appliance-key.js';
import type { Baseline, BaselineCheck, Entries, Opened } from '../../machines/integrity/integrity.machine.js';

interface BaselineFile { version: 1; generation: number; createdAt: number; updatedAt: number; entries: Entries; publicKey: string; signature: string }

export interface BaselineStore {
  open(): Opened;
  save(b: Baseline): void;
  /** The file as it is now, against what this process wrote last (`generation`, `entries`). */
  check(generation: number, entries: Entries): BaselineCheck;
}

export function baselineStore(o: { file: string; anchor: string; key: ApplianceKey; sodium: Sodium }): BaselineStore {
  const pub = Buffer.from(o.key.publicKey).toString('base64');
  const sign = (body: unknown) => Buffer.from(o.sodium.crypto_sign_detached(canonicalJson(body), o.key.secretKey)).toString('base64');
  const verify = (body: unknown, sig: string) => {
    try {
      return o.sodium.crypto_sign_verify_detached(Buffer.from(sig, 'base64'), canonicalJson(body), o.key.publicKey);
    } catch {
      return false; // lint-ok: a malformed signature is an invalid one
    }
  };
  /** The anchor's generation: the baseline must be at least this new (an older copy put back is a rollback). */
  const anchored = (): number | null => {
    if (!existsSync(o.anchor)) return null;
    try {
      const a = JSON.parse(readFileSync(o.anchor, 'utf8')) as { generation: number; signature: string };
      return verify({ generation: a.generation }, a.signature) ? a.generation : -1;
    } catch {
      return -1; // lint-ok: an unreadable anchor is reported as a forged one
    }
  };
  const read = (): { ok: true; file: BaselineFile } | { ok: false; reason: string } | null => {
    if (!existsSync(o.file)) return null;
    let f: BaselineFile;
    try {
      f = JSON.parse(readFileSync(o.file, 'utf8')) as BaselineFile;
    } catch (err) {
      return { ok: false, reason: `the baseline is not valid JSON (${(err as Error).message})` };
    }
    const { signature, ...body } = f;
    if (f?.version !== 1 || typeof signature !== 'string' || typeof f.entries !== 'object' || !Number.isInteger(f.generation)) return { ok: false, reason: 'the baseline has the wrong shape' };
    if (f.publicKey !== pub) return { ok: false, reason: 'the baseline names another signing key than the appliance key' };
    if (!verify(body, signature)) return { ok: false, reason: 'the baseline signature does not verify with the appliance key' };
    return { ok: true, file: f };
  };
  return {
    open() {
      const r = read();
      const anchor = anchored();
      if (anchor === -1) return { kind: 'forged', reason: 'the baseline anchor (keys/integrity.anchor) does not verify', at: Date.now() };
      if (!r) return anchor === null ? { kind: 'none' } : { kind: 'forged', reason: `the baseline is missing, but generation ${anchor} was written before`, at: Date.now() };
      if (!r.ok) return { kind: 'forged', reason: r.reason, at: Date.now() };
      if (anchor !== null && r.file.generation < anchor) return { kind: 'forged', reason: `the baseline is generation ${r.file.generation}, older than the ${anchor} written last (an old copy put back)`, at: Date.now() };
      return { kind: 'ok', baseline: { entries: r.file.entries, generation: r.file.generation, createdAt: r.file.createdAt, updatedAt: r.file.updatedAt } };
    },
    save(b) {
      const body = { version: 1 as const, generation: b.generation, createdAt: b.createdAt, updatedAt: b.updatedAt, entries: b.entries, publicKey: pub };
      writeFileAtomic(o.file, JSON.stringify({ ...body, signature: sign(body) }) + '\n', 0o600);
      writeFileAtomic(o.anchor, JSON.stringify({ generation: b.generation, signature: sign({ generation: b.generation }) }) + '\n', 0o600);
    },
    check(generation, entries) {
      const r = read();
      if (!r) return { ok: false, reason: 'the baseline file was removed' };
      if (!r.ok) return r;
      if (r.file.generation !== generation) return { ok: false, reason: `the baseline on disk is generation ${r.file.generation}, not the ${generation} this monitor wrote` };
      if (canonicalJson(r.file.entries) !== canonicalJson(entries)) return { ok: false, reason: 'the baseline on disk lists other files or digests than the one this monitor wrote (re-signed with the appliance key)' };
      return { ok: true };
    },
  };
}
