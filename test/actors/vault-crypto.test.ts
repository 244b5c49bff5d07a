import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createVault, decryptFile, encryptFile, openRecord, readVaultFile, rewrapDataKey, sealRecord, unwrapDataKey, writeVaultFile,
} from '../../actors/vault/vault-crypto.js';
import { RecordStore } from '../../actors/vault/record-store.js';
import { wipeAll, wipeKeys } from '../../actors/vault/wipe.js';
import { homePaths } from '../../common/paths.js';

const P = 'correct horse battery';
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'secai-vault-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('vault crypto — a wrong passphrase does not unwrap; the right one gives the same key', async (t) => {
  const { file, dataKey } = await createVault(P, 'interactive');
  t.same(await unwrapDataKey(file, P), dataKey);
  await t.rejects(unwrapDataKey(file, 'correct horse battery!'), { code: 'SECAI_E_WRONG_PASSPHRASE' });
  await t.rejects(unwrapDataKey(file, ''), { code: 'SECAI_E_WRONG_PASSPHRASE' });
  t.equal(file.kdf.alg, 'argon2id13');
  t.ok(file.kdf.opslimit >= 2 && file.kdf.memlimit >= 64 * 1024 * 1024, 'parameters are stored with the vault');
  await t.rejects(createVault('short', 'interactive'), { code: 'SECAI_E_USAGE' });
});

t.test('vault crypto — a tampered vault.json fails closed', async (t) => {
  const { file } = await createVault(P, 'interactive');
  const ct = Buffer.from(file.wrap.ciphertext, 'base64');
  ct[3]! ^= 1;
  await t.rejects(unwrapDataKey({ ...file, wrap: { ...file.wrap, ciphertext: ct.toString('base64') } }, P), { code: 'SECAI_E_WRONG_PASSPHRASE' });
  await t.rejects(unwrapDataKey({ ...file, kdf: { ...file.kdf, memlimit: 2 ** 40 } }, P), { code: 'SECAI_E_VAULT_CORRUPT' }, 'planted huge parameters are refused');
  const d = dir();
  writeFileSync(join(d, 'vault.json'), '{"version":2}');
  t.throws(() => readVaultFile(join(d, 'vault.json')), { code: 'SECAI_E_VAULT_CORRUPT' });
});

t.test('vault crypto — records are bound to their namespace and key', async (t) => {
  const { dataKey } = await createVault(P, 'interactive');
  const sealed = await sealRecord(dataKey, 'ns\0a', Buffer.from('secret settings'));
  t.equal(Buffer.from(await openRecord(dataKey, 'ns\0a', sealed)).toString(), 'secret settings');
  await t.rejects(openRecord(dataKey, 'ns\0b', sealed), { code: 'SECAI_E_VAULT_CORRUPT' }, 'moved to another key');
  const other = (await createVault(P, 'interactive')).dataKey;
  await t.rejects(openRecord(other, 'ns\0a', sealed), { code: 'SECAI_E_VAULT_CORRUPT' }, 'another vault');
  const bad = new Uint8Array(sealed);
  bad[bad.length - 1]! ^= 1;
  await t.rejects(openRecord(dataKey, 'ns\0a', bad), { code: 'SECAI_E_VAULT_CORRUPT' }, 'tampered');
  await t.rejects(openRecord(dataKey, 'ns\0a', sealed.subarray(0, 30)), { code: 'SECAI_E_VAULT_CORRUPT' }, 'truncated');
});

t.test('vault crypto — files round-trip; truncation, tampering and appended data fail', async (t) => {
  const d = dir();
  const { dataKey } = await createVault(P, 'interactive');
  const plain = randomBytes(3 * 4096 + 123);
  writeFileSync(join(d, 'p'), plain);
  await encryptFile(dataKey, join(d, 'p'), join(d, 'c'), 4096);
  const enc = readFileSync(join(d, 'c'));
  t.notOk(enc.includes(plain.subarray(0, 64)), 'no plaintext in the ciphertext');
  await decryptFile(dataKey, join(d, 'c'), join(d, 'out'));
  t.same(readFileSync(join(d, 'out')), plain);
  const C = 4096 + 16; // a chunk on disk: ciphertext + Poly1305 tag
  const H = 8 + 4 + 24; // magic, chunk size, nonce
  t.equal(enc.length, H + 3 * C + 123 + 16, 'layout: header, three full chunks, the short last one');
  writeFileSync(join(d, 'trunc'), enc.subarray(0, enc.length - (C + 123 + 16) + 5));
  await t.rejects(decryptFile(dataKey, join(d, 'trunc'), join(d, 'o2')), { code: 'SECAI_E_VAULT_CORRUPT' });
  // Cutting exactly at a chunk boundary: every chunk authenticates, but no final tag came.
  writeFileSync(join(d, 'cut'), enc.subarray(0, H + C * 2));
  await t.rejects(decryptFile(dataKey, join(d, 'cut'), join(d, 'o3')), { code: 'SECAI_E_VAULT_CORRUPT' });
  // Swapping two chunks: each is authentic, but bound to its position.
  const swapped = Buffer.concat([enc.subarray(0, H), enc.subarray(H + C, H + 2 * C), enc.subarray(H, H + C), enc.subarray(H + 2 * C)]);
  writeFileSync(join(d, 'swap'), swapped);
  await t.rejects(decryptFile(dataKey, join(d, 'swap'), join(d, 'o6')), { code: 'SECAI_E_VAULT_CORRUPT' });
  // Splicing in a chunk of another file under the same data key: its subkey differs.
  await encryptFile(dataKey, join(d, 'p'), join(d, 'c2'), 4096);
  const other = readFileSync(join(d, 'c2'));
  writeFileSync(join(d, 'splice'), Buffer.concat([enc.subarray(0, H + C), other.subarray(H + C, H + 2 * C), enc.subarray(H + 2 * C)]));
  await t.rejects(decryptFile(dataKey, join(d, 'splice'), join(d, 'o7')), { code: 'SECAI_E_VAULT_CORRUPT' });
  t.not(other.subarray(H).toString('hex').slice(0, 64), enc.subarray(H).toString('hex').slice(0, 64), 'a fresh nonce per file');
  // A wrong data key fails on the first chunk.
  await t.rejects(decryptFile(new Uint8Array(32).fill(1), join(d, 'c'), join(d, 'o8')), { code: 'SECAI_E_VAULT_CORRUPT' });
  writeFileSync(join(d, 'extra'), Buffer.concat([enc, Buffer.from('x')]));
  await t.rejects(decryptFile(dataKey, join(d, 'extra'), join(d, 'o4')), { code: 'SECAI_E_VAULT_CORRUPT' });
  const flip = Buffer.from(enc);
  flip[100]! ^= 1;
  writeFileSync(join(d, 'flip'), flip);
  await t.rejects(decryptFile(dataKey, join(d, 'flip'), join(d, 'o5')), { code: 'SECAI_E_VAULT_CORRUPT' });
  t.same(readdirSync(d).filter((f) => /^o\d/.test(f)), [], 'no partial output is left behind');
  // Empty file
  writeFileSync(join(d, 'e'), '');
  await encryptFile(dataKey, join(d, 'e'), join(d, 'ec'), 4096);
  await decryptFile(dataKey, join(d, 'ec'), join(d, 'eo'));
  t.equal(readFileSync(join(d, 'eo')).length, 0);
});

t.test('vault crypto — a crash during a passphrase change loses nothing', async (t) => {
  const d = dir();
  const f = join(d, 'vault.json');
  const { file, dataKey } = await createVault(P, 'interactive');
  writeVaultFile(f, file);
  const store = new RecordStore(d);
  await store.create(dataKey);
  await store.put(dataKey, 'chat', 'history', Buffer.from('before the crash'));
  const child = join(import.meta.dirname, 'vault-change-child.ts');
  const crashed = spawnSync(process.execPath, ['--import=tsx', child, f, P, 'a brand new passphrase'], { env: { ...process.env, SECAI_VAULT_CRASH_AFTER: 'temp' }, encoding: 'utf8' });
  t.equal(crashed.status, 70, 'the child died between the temp write and the rename');
  t.notOk(crashed.stdout.includes('changed'));
  const k = await unwrapDataKey(readVaultFile(f)!, P);
  t.equal(Buffer.from(await store.get(k, 'chat', 'history')).toString(), 'before the crash', 'the old passphrase still opens everything');
  await t.rejects(unwrapDataKey(readVaultFile(f)!, 'a brand new passphrase'), { code: 'SECAI_E_WRONG_PASSPHRASE' });
  const done = spawnSync(process.execPath, ['--import=tsx', child, f, P, 'a brand new passphrase'], { encoding: 'utf8' });
  t.equal(done.status, 0, done.stderr);
  const k2 = await unwrapDataKey(readVaultFile(f)!, 'a brand new passphrase');
  t.equal(Buffer.from(await store.get(k2, 'chat', 'history')).toString(), 'before the crash', 'same data key, re-wrapped');
  await t.rejects(unwrapDataKey(readVaultFile(f)!, P), { code: 'SECAI_E_WRONG_PASSPHRASE' }, 'the old passphrase is gone');
  const again = await rewrapDataKey(readVaultFile(f)!, k2, 'third passphrase!', 'interactive');
  t.not(again.kdf.salt, readVaultFile(f)!.kdf.salt, 'a new salt each time');
});

t.test('vault crypto — panic 2 destroys the wrapped key: the right passphrase opens nothing; panic 3 removes the rest', async (t) => {
  const home = dir();
  const p = homePaths(home);
  mkdirSync(p.vault, { recursive: true });
  const { file, dataKey } = await createVault(P, 'interactive');
  writeVaultFile(join(p.vault, 'vault.json'), file);
  const store = new RecordStore(p.vault);
  await store.create(dataKey);
  await store.put(dataKey, 'chat', 'k', Buffer.from('PLAINTEXT-MARKER-123'));
  t.same(wipeKeys(p), ['vault/vault.json']);
  t.equal(readVaultFile(join(p.vault, 'vault.json')), undefined);
  t.equal(readdirSync(p.vault).filter((f) => f.includes('vault.json')).length, 0, 'no temp copy of the key file is left');
  mkdirSync(p.registry, { recursive: true });
  writeFileSync(join(p.registry, 'model.gguf'), 'PLAINTEXT-MARKER-123');
  mkdirSync(p.keys, { recursive: true });
  writeFileSync(p.operatorKey, 'seed');
  writeFileSync(join(p.keys, 'audit.hmac'), 'k');
  const removed = wipeAll(p);
  t.same(removed.sort(), ['keys/operator.ed25519', 'registry', 'vault'].sort());
  t.same(readdirSync(p.keys), ['audit.hmac'], 'the audit key stays: the record of the wipe must remain verifiable');
});

t.test('vault records — an upgrade that stopped before vault.json was rewritten is taken up again; after a write, it is a rollback', async (t) => {
  const d = dir();
  const { dataKey } = await createVault(P, 'interactive');
  mkdirSync(join(d, 'records', 'chat'), { recursive: true });
  writeFileSync(join(d, 'records', 'chat', `${Buffer.from('k').toString('hex')}.rec`), await sealRecord(dataKey, 'secai-vault-v1/record\0chat\0k', Buffer.from('legacy')));
  const store = new RecordStore(d);
  t.equal(await store.adopt(dataKey), 1, 'the one record file is indexed');
  t.equal(await new RecordStore(d).adopt(dataKey), 1, 'again, after a stop before vault.json: the same index, not a new scan');
  t.equal(Buffer.from(await store.get(dataKey, 'chat', 'k')).toString(), 'legacy');
  await store.put(dataKey, 'chat', 'k', Buffer.from('newer'));
  await t.rejects(new RecordStore(d).adopt(dataKey), { code: 'SECAI_E_VAULT_CORRUPT', message: /older vault\.json was put back/ });
  const other = (await createVault(P, 'interactive')).dataKey;
  await t.rejects(store.get(other, 'chat', 'k'), { code: 'SECAI_E_VAULT_CORRUPT' }, 'another vault\'s key opens no index');
  await new RecordStore(d).create(other);
  t.same(await store.list(other, 'chat'), [], 'a new vault starts from an empty index');
});

t.test('vault records — reads while records are written see the index and anchor of one moment: no false rollback', async (t) => {
  const d = dir();
  const { dataKey } = await createVault(P, 'interactive');
  const store = new RecordStore(d);
  await store.create(dataKey);
  await store.put(dataKey, 'chat', 'k', Buffer.from('0'));
  // Requests reach the vault at once (the bus does not wait for one before the next): readers run while it writes.
  let writing = true;
  const failed: string[] = [];
  const reader = async (delay: number) => {
    for (let i = 0; writing; i++) {
      for (let j = 0; j < (i + delay) % 5; j++) await null; // start each read at another point of a write
      await Promise.all([store.get(dataKey, 'chat', 'k'), store.list(dataKey, 'chat')]).catch((e: unknown) => failed.push(String(e)));
    }
  };
  const readers = [0, 1, 2, 3].map(reader);
  for (let i = 1; i <= 40; i++) await store.put(dataKey, 'chat', 'k', Buffer.from(String(i)));
  writing = false;
  await Promise.all(readers);
  t.same(failed, [], 'no read failed');
  t.equal(Buffer.from(await store.get(dataKey, 'chat', 'k')).toString(), '40', 'the last write stands');
});
