// The vault's records against an attacker who can write its files while the appliance is off or running: an older
// copy of a record, a deleted record put back, an older index, a missing anchor, and a version 1 vault.json put back
// to have the record files scanned again. The real vault actor on a real bus; the files are changed as an attacker
// with the disk would change them. Also: a vault from before the index is upgraded at its first unlock.
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineManifest } from '../../bus/manifest.js';
import type { BusClient } from '../../bus/client.js';
import { vaultManifest } from '../../actors/vault/manifest.js';
import { attestorManifest } from '../../actors/attestor/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { limitsFor, readVaultFile, sealRecord } from '../../actors/vault/vault-crypto.js';
import { getSodium } from '../../common/sodium.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const ops = ['vault.status', 'vault.setup', 'vault.unlock', 'vault.lock', 'vault.put', 'vault.get', 'vault.list', 'vault.delete', 'vault.commit', 'vault.change_passphrase'];
const P = 'the right passphrase';
const hex = (k: string) => Buffer.from(k, 'utf8').toString('hex');

const bus = await startTestBus([supervisorManifest, policyManifest, attestorManifest, registryManifest, vaultManifest,
  defineManifest({ name: 'alice', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: ops, subscribes: [] })], { streams: true });
const policy = fastPolicyDir();
const vaultDir = bus.paths.vault;
const records = join(vaultDir, 'records', 'alice');
const vaultJson = join(vaultDir, 'vault.json');

// A vault as the build before the record index left it: vault.json version 1 (its own wrap data) and a record file
// named by its key alone.
const sodium = await getSodium();
const dataKey = sodium.crypto_secretstream_xchacha20poly1305_keygen();
const limits = limitsFor(sodium, 'interactive');
const salt = sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES);
const kek = sodium.crypto_pwhash(sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES, P, salt, limits.opslimit, limits.memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
const legacyJson = JSON.stringify({
  version: 1,
  kdf: { alg: 'argon2id13', salt: Buffer.from(salt).toString('base64'), ...limits },
  wrap: { alg: 'xchacha20poly1305-ietf', nonce: Buffer.from(nonce).toString('base64'),
    ciphertext: Buffer.from(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(dataKey, 'secai-vault-v1/data-key', null, nonce, kek)).toString('base64') },
  createdAt: 1, changedAt: 1,
});
mkdirSync(records, { recursive: true });
writeFileSync(vaultJson, legacyJson);
writeFileSync(join(records, `${hex('note')}.rec`), await sealRecord(dataKey, 'secai-vault-v1/record\0alice\0note', Buffer.from('written before the index')));

let vault = await startActorProcess(bus, 'vault', policy);
t.teardown(async () => { await killHard(vault); await bus.stop(); cleanup(policy); });
const alice: BusClient = await bus.connect('alice');

async function put(key: string, value: string): Promise<void> {
  const { ticket } = await alice.request<{ ticket: string }>('vault', 'put', { key, value: Buffer.from(value) });
  await alice.request('vault', 'commit', { ticket });
}
async function del(key: string): Promise<void> {
  const { ticket } = await alice.request<{ ticket: string }>('vault', 'delete', { key });
  await alice.request('vault', 'commit', { ticket });
}
const get = async (key: string) => Buffer.from((await alice.request<{ value: Uint8Array }>('vault', 'get', { key })).value).toString();
const list = async () => (await alice.request<{ keys: string[] }>('vault', 'list', {})).keys;
const recFiles = () => readdirSync(records).filter((f) => f.endsWith('.rec'));
/** Puts a record and answers the one file the put added (names are random: the index alone holds the keys). */
async function putFile(key: string, value: string): Promise<string> {
  const before = new Set(recFiles());
  await put(key, value);
  const added = recFiles().filter((f) => !before.has(f));
  if (added.length !== 1) throw new Error(`a put added ${added.length} files`);
  return added[0]!;
}
const relock = async () => {
  await alice.request('vault', 'lock');
  await alice.request('vault', 'unlock', { passphrase: P }, 30_000);
};

t.test('a vault from before the index is upgraded at its first unlock; its record still reads', async (t) => {
  await alice.request('vault', 'unlock', { passphrase: P }, 30_000);
  t.equal(await get('note'), 'written before the index');
  t.equal(readVaultFile(vaultJson)!.version, 2, 'vault.json is version 2 now');
  t.ok(existsSync(join(vaultDir, 'records.index')) && existsSync(join(vaultDir, 'records.anchor')), 'with an index and its anchor');
  const file = await putFile('note', 'written after the upgrade');
  t.equal(await get('note'), 'written after the upgrade');
  t.same(recFiles(), [file], 'the record has one file: the old one is gone once the index names the new one');
  t.notOk(file.startsWith(hex('note')), 'and its name does not show its key');
});

t.test('a version 1 vault.json put back, to have the record files scanned again, is refused', async (t) => {
  const current = readFileSync(vaultJson);
  await alice.request('vault', 'lock');
  writeFileSync(vaultJson, legacyJson);
  await t.rejects(alice.request('vault', 'unlock', { passphrase: P }, 30_000), { code: 'SECAI_E_VAULT_CORRUPT', message: /older vault\.json was put back/ });
  t.equal((await alice.request<{ state: string }>('vault', 'status')).state, 'locked', 'still locked');
  // The version 2 file with its version edited down: the wrap's associated data names the version.
  const edited = JSON.parse(current.toString()) as { version: number };
  writeFileSync(vaultJson, JSON.stringify({ ...edited, version: 1 }));
  await t.rejects(alice.request('vault', 'unlock', { passphrase: P }, 30_000), { code: 'SECAI_E_WRONG_PASSPHRASE' }, 'a version edited down does not unwrap');
  writeFileSync(vaultJson, current);
  await alice.request('vault', 'unlock', { passphrase: P }, 30_000);
  t.equal(await get('note'), 'written after the upgrade');
});

t.test('an older copy of a record, put back under its own name or the current one, is not read', async (t) => {
  const oldName = await putFile('settings', 'the first settings');
  const oldBytes = readFileSync(join(records, oldName));
  const newName = await putFile('settings', 'the second settings');
  t.notOk(recFiles().includes(oldName), 'a put writes a new file and removes the old one');
  writeFileSync(join(records, oldName), oldBytes);
  t.equal(await get('settings'), 'the second settings', 'the old file under its old name is nobody\'s');
  const newBytes = readFileSync(join(records, newName));
  writeFileSync(join(records, newName), oldBytes);
  await t.rejects(get('settings'), { code: 'SECAI_E_VAULT_CORRUPT', message: /not the copy the vault wrote last/ }, 'the old bytes under the new name are refused');
  writeFileSync(join(records, newName), newBytes);
  t.equal(await get('settings'), 'the second settings');
});

t.test('a deleted record put back stays deleted', async (t) => {
  const name = await putFile('secret-draft', 'deleted on purpose');
  const bytes = readFileSync(join(records, name));
  await del('secret-draft');
  t.notOk(recFiles().includes(name), 'its file is gone');
  writeFileSync(join(records, name), bytes);
  t.notOk((await list()).includes('secret-draft'), 'not listed');
  await t.rejects(get('secret-draft'), { code: 'SECAI_E_UNKNOWN_OP' }, 'not read');
  // Nor does the index take it back at a restart.
  await killHard(vault);
  vault = await startActorProcess(bus, 'vault', policy);
  await alice.request('vault', 'unlock', { passphrase: P }, 30_000);
  await t.rejects(get('secret-draft'), { code: 'SECAI_E_UNKNOWN_OP' }, 'not after a restart either');
});

t.test('an older index put back is behind its anchor: every record call is refused until the newest returns', async (t) => {
  const index = join(vaultDir, 'records.index');
  const older = readFileSync(index);
  await put('later', 'written after the copy');
  const newest = readFileSync(index);
  writeFileSync(index, older);
  await t.rejects(get('note'), { code: 'SECAI_E_VAULT_CORRUPT', message: /older than the newest written/ });
  await t.rejects(list(), { code: 'SECAI_E_VAULT_CORRUPT' });
  await t.rejects(put('x', 'y'), { code: 'SECAI_E_VAULT_CORRUPT' }, 'and nothing is written on top of it');
  writeFileSync(index, newest);
  t.equal(await get('later'), 'written after the copy');
});

t.test('a missing anchor or index is refused, not taken for a new vault', async (t) => {
  for (const f of ['records.anchor', 'records.index']) {
    const path = join(vaultDir, f);
    const saved = join(vaultDir, `${f}.saved`);
    copyFileSync(path, saved);
    rmSync(path);
    await t.rejects(get('note'), { code: 'SECAI_E_VAULT_CORRUPT', message: /is missing/ }, `${f} removed`);
    await relock(); // the unlock itself does not read the index: the next record call shows the refusal
    await t.rejects(list(), { code: 'SECAI_E_VAULT_CORRUPT' }, `${f} removed, after an unlock`);
    copyFileSync(saved, path);
    rmSync(saved);
  }
  t.equal(await get('note'), 'written after the upgrade');
});

t.test('record keys that name object members are records like any other', async (t) => {
  await put('__proto__', 'not a prototype');
  await put('constructor', 'not a function');
  t.equal(await get('__proto__'), 'not a prototype');
  t.equal(await get('constructor'), 'not a function');
  await t.rejects(get('toString'), { code: 'SECAI_E_UNKNOWN_OP' });
  t.same((await list()).filter((k) => ['__proto__', 'constructor'].includes(k)), ['__proto__', 'constructor']);
});

t.test('a passphrase change keeps the index: every record reads under the new passphrase', async (t) => {
  await alice.request('vault', 'change_passphrase', { old: P, new: 'another passphrase' }, 60_000);
  await alice.request('vault', 'lock');
  await alice.request('vault', 'unlock', { passphrase: 'another passphrase' }, 30_000);
  t.same(await list(), ['__proto__', 'constructor', 'later', 'note', 'settings']);
  t.equal(await get('settings'), 'the second settings');
});
