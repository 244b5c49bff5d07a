import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineManifest } from '../../bus/manifest.js';
import { encode } from '../../bus/codec.js';
import { serveSubject } from '../../bus/subjects.js';
import { vaultManifest } from '../../actors/vault/manifest.js';
import { attestorManifest } from '../../actors/attestor/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import type { BusClient } from '../../bus/client.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const ops = ['vault.status', 'vault.setup', 'vault.unlock', 'vault.lock', 'vault.panic', 'vault.put', 'vault.get', 'vault.list', 'vault.delete', 'vault.commit'];
const client = (name: string) => defineManifest({ name, kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: ops, subscribes: [] });
const P = 'the right passphrase';
const MARKER = 'PLAINTEXT-MARKER-5f3a9c';

async function put(c: BusClient, key: string, value: string) {
  const { ticket } = await c.request<{ ticket: string }>('vault', 'put', { key, value: Buffer.from(value) });
  await c.request('vault', 'commit', { ticket });
}
const get = async (c: BusClient, key: string) => Buffer.from((await c.request<{ value: Uint8Array }>('vault', 'get', { key })).value).toString();

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

t.test('vault actor — namespaces, locked refusals, kill -9 durability, panic 2 and 3', async (t) => {
  const bus = await startTestBus([supervisorManifest, policyManifest, attestorManifest, registryManifest, vaultManifest, client('alice'), client('bob')], { streams: true });
  const policy = fastPolicyDir();
  let vault = await startActorProcess(bus, 'vault', policy);
  t.teardown(async () => { await killHard(vault); await bus.stop(); cleanup(policy); });
  const alice = await bus.connect('alice');
  const bob = await bus.connect('bob');

  t.equal((await alice.request<{ state: string }>('vault', 'status')).state, 'uninitialized');
  for (const [op, req] of [['put', { key: 'a', value: Buffer.from('x') }], ['get', { key: 'a' }], ['list', {}], ['delete', { key: 'a' }]] as const) {
    await t.rejects(alice.request('vault', op, req), { code: 'SECAI_E_VAULT_UNINITIALIZED' }, `${op} before setup`);
  }
  await t.rejects(alice.request('vault', 'unlock', { passphrase: P }), { code: 'SECAI_E_VAULT_UNINITIALIZED' });

  await alice.request('vault', 'setup', { passphrase: P }, 30_000);
  await t.rejects(alice.request('vault', 'setup', { passphrase: 'another one!' }), { code: 'SECAI_E_INVALID_STATE' }, 'setup only once');
  await put(alice, 'settings', `alice ${MARKER}`);
  t.equal(await get(alice, 'settings'), `alice ${MARKER}`);

  t.test('another identity cannot read or list a namespace not its own', async (t) => {
    await t.rejects(bob.request('vault', 'get', { key: 'settings' }), { code: 'SECAI_E_UNKNOWN_OP' });
    t.same((await bob.request<{ keys: string[] }>('vault', 'list', {})).keys, []);
    await put(bob, 'settings', 'bob');
    t.equal(await get(alice, 'settings'), `alice ${MARKER}`, 'same key, separate namespaces');
    t.same((await alice.request<{ keys: string[] }>('vault', 'list', {})).keys, ['settings']);
  });

  t.test('a forged reply inbox cannot write into another namespace', async (t) => {
    // bob names alice's inbox as reply: the vault binds the write to alice, and sends the ticket there, where bob cannot read it.
    bob.nc.publish(serveSubject('vault', 'put'), encode({ key: 'settings', value: Buffer.from('forged by bob') }), { reply: '_INBOX.alice.forged' });
    bob.nc.publish(serveSubject('vault', 'delete'), encode({ key: 'settings' }), { reply: '_INBOX.alice.forged2' });
    await bob.nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    await t.rejects(bob.request('vault', 'commit', { ticket: '0'.repeat(32) }), { code: 'SECAI_E_PERMISSION' });
    t.equal(await get(alice, 'settings'), `alice ${MARKER}`);
    // A ticket of alice's does not work for bob either.
    const { ticket } = await alice.request<{ ticket: string }>('vault', 'put', { key: 'settings', value: Buffer.from('staged by alice') });
    await t.rejects(bob.request('vault', 'commit', { ticket }), { code: 'SECAI_E_PERMISSION' });
    t.equal(await get(alice, 'settings'), `alice ${MARKER}`, 'a ticket is single-use and bound to its namespace');
    await t.rejects(alice.request('vault', 'get', { key: '../bob/settings' }), { code: 'SECAI_E_UNKNOWN_OP' }, 'a key is looked up in the index, never used as a path: no path climbing');
    await t.rejects(alice.request('vault', 'get', { key: 'a\u0000b' }), { code: 'SECAI_E_SCHEMA' });
  });

  t.test('nothing on disk holds the plaintext; record files are 0600', async (t) => {
    for (const f of filesUnder(join(bus.paths.home, 'vault'))) {
      t.notOk(readFileSync(f).includes(MARKER), `${f} has no plaintext`);
      t.equal(statSync(f).mode & 0o777, 0o600);
    }
  });

  t.test('data written before a kill -9 is readable after a restart', async (t) => {
    await put(alice, 'chat', 'written just before the kill');
    await killHard(vault);
    vault = await startActorProcess(bus, 'vault', policy);
    t.equal((await alice.request<{ state: string }>('vault', 'status')).state, 'locked', 'a restarted vault is locked');
    await t.rejects(alice.request('vault', 'get', { key: 'chat' }), { code: 'SECAI_E_VAULT_LOCKED' });
    await t.rejects(alice.request('vault', 'unlock', { passphrase: 'a wrong passphrase' }, 30_000), { code: 'SECAI_E_WRONG_PASSPHRASE' });
    await alice.request('vault', 'unlock', { passphrase: P }, 30_000);
    t.equal(await get(alice, 'chat'), 'written just before the kill');
  });

  t.test('every record call while locked is refused', async (t) => {
    const { ticket } = await alice.request<{ ticket: string }>('vault', 'put', { key: 'late', value: Buffer.from('x') });
    await alice.request('vault', 'lock');
    for (const [op, req] of [['put', { key: 'a', value: Buffer.from('x') }], ['get', { key: 'chat' }], ['list', {}], ['delete', { key: 'chat' }], ['commit', { ticket }]] as const) {
      await t.rejects(alice.request('vault', op, req), { code: 'SECAI_E_VAULT_LOCKED' }, `${op} while locked`);
    }
  });

  t.test('panic 2: refused without confirm or with a wrong passphrase; then nothing decrypts with the right one', async (t) => {
    await t.rejects(alice.request('vault', 'panic', { level: 2, passphrase: P }), { code: 'SECAI_E_USAGE' });
    await t.rejects(alice.request('vault', 'panic', { level: 2, confirm: true }), { code: 'SECAI_E_USAGE' });
    await t.rejects(alice.request('vault', 'panic', { level: 2, confirm: true, passphrase: 'not the passphrase' }, 30_000), { code: 'SECAI_E_WRONG_PASSPHRASE' });
    t.ok(existsSync(join(bus.paths.vault, 'vault.json')), 'a refused panic changes nothing');
    const r = await alice.request<{ removed: string[] }>('vault', 'panic', { level: 2, confirm: true, passphrase: P }, 60_000);
    t.same(r.removed, ['vault/vault.json']);
    await t.rejects(alice.request('vault', 'unlock', { passphrase: P }, 30_000), { code: 'SECAI_E_VAULT_UNINITIALIZED' });
    t.ok(filesUnder(join(bus.paths.vault, 'records')).length > 0, 'the ciphertext is still there, and useless');
    await killHard(vault);
    vault = await startActorProcess(bus, 'vault', policy);
    await t.rejects(alice.request('vault', 'unlock', { passphrase: P }, 30_000), { code: 'SECAI_E_VAULT_UNINITIALIZED' }, 'also after a restart');
  });

  t.test('panic 3 leaves no plaintext and no key files', async (t) => {
    await alice.request('vault', 'setup', { passphrase: P }, 30_000);
    await put(alice, 'notes', MARKER);
    mkdirSync(join(bus.paths.registry, 'models'), { recursive: true });
    writeFileSync(join(bus.paths.registry, 'models', 'm.gguf'), `weights ${MARKER}`);
    mkdirSync(bus.paths.incoming, { recursive: true });
    writeFileSync(join(bus.paths.incoming, 'upload.bin'), MARKER);
    writeFileSync(bus.paths.operatorKey, 'operator seed');
    const r = await alice.request<{ removed: string[] }>('vault', 'panic', { level: 3, confirm: true, passphrase: P }, 60_000);
    t.ok(r.removed.includes('vault') && r.removed.includes('registry') && r.removed.includes('quarantine') && r.removed.includes('keys/operator.ed25519'), JSON.stringify(r.removed));
    for (const f of filesUnder(bus.paths.home)) t.notOk(readFileSync(f).includes(MARKER), `no plaintext in ${f}`);
    t.notOk(existsSync(bus.paths.vault));
    t.notOk(existsSync(bus.paths.operatorKey));
    t.equal((await alice.request<{ state: string }>('vault', 'status')).state, 'uninitialized');
  });
});
