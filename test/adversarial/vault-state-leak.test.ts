// Attacker's view of the Machines page: the vault machine holds the data key, tickets and the sealing pair in its context;
// nothing of them may ever leave on secai.state.vault, the snapshot op or describe (what /api/machines serves).
import t from 'tap';
import { join } from 'node:path';
import { defineManifest } from '../../bus/manifest.js';
import { decode } from '../../bus/codec.js';
import { stateSubject } from '../../bus/subjects.js';
import { vaultManifest } from '../../actors/vault/manifest.js';
import { attestorManifest } from '../../actors/attestor/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { readVaultFile, unwrapDataKey } from '../../actors/vault/vault-crypto.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const ops = ['vault.status', 'vault.setup', 'vault.unlock', 'vault.lock', 'vault.panic', 'vault.put', 'vault.get', 'vault.commit', 'vault.describe', 'vault.snapshot'];
const watcher = defineManifest({ name: 'watcher', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: ops, subscribes: [], watchesState: true });
const P = 'the right passphrase 4c1e';
const MARKER = 'RECORD-PLAINTEXT-9b2d71';
const PUBLIC_CONTEXT = ['idleMs', 'initialized', 'lockReason'];

t.test('vault state leak — no key, ticket, passphrase or record byte on state messages, snapshot or describe', async (t) => {
  const bus = await startTestBus([supervisorManifest, policyManifest, attestorManifest, registryManifest, vaultManifest, watcher], { streams: true });
  const policy = fastPolicyDir();
  const vault = await startActorProcess(bus, 'vault', policy);
  t.teardown(async () => { await killHard(vault); await bus.stop(); cleanup(policy); });
  const c = await bus.connect('watcher');

  const seen: { what: string; raw: Uint8Array }[] = [];
  const states: { value: unknown; context?: Record<string, unknown> }[] = [];
  c.subscribe(stateSubject('vault'), (m) => {
    seen.push({ what: 'state message', raw: m.data });
    states.push(decode(m.data) as { value: unknown; context?: Record<string, unknown> });
  });
  await c.nc.flush();
  const look = async (label: string) => {
    for (const op of ['snapshot', 'describe'] as const) {
      const raw = await c.nc.request(`secai.vault.${op}`, new Uint8Array([0x80]), { timeout: 5000 });
      seen.push({ what: `${op} (${label})`, raw: raw.data });
    }
  };

  await c.request('vault', 'setup', { passphrase: P }, 30_000);
  await look('after setup');
  const tickets: string[] = [];
  const put = async (key: string) => {
    const { ticket } = await c.request<{ ticket: string }>('vault', 'put', { key, value: Buffer.from(MARKER) });
    tickets.push(ticket);
    return ticket;
  };
  await c.request('vault', 'commit', { ticket: await put('a') });
  await put('staged-never-committed');
  await look('unlocked with a staged write');
  await c.request('vault', 'lock');
  await t.rejects(c.request('vault', 'unlock', { passphrase: 'a wrong passphrase' }, 30_000), { code: 'SECAI_E_WRONG_PASSPHRASE' });
  await c.request('vault', 'unlock', { passphrase: P }, 30_000);
  await c.request('vault', 'panic', { level: 1 });
  await c.request('vault', 'unlock', { passphrase: P }, 30_000);
  await look('unlocked again');
  // The data key as the vault holds it, derived here from vault.json and the passphrase.
  const dataKey = await unwrapDataKey(readVaultFile(join(bus.paths.vault, 'vault.json'))!, P);
  await c.request('vault', 'panic', { level: 3, confirm: true, passphrase: P }, 30_000);
  await look('after the wipe');
  // The last state message (uninitialized) is published before the reply: wait for it, not for a time.
  for (let i = 0; i < 100 && !states.some((s) => s.value === 'uninitialized' && s.context?.['lockReason'] === 'panic'); i++) await c.nc.flush();

  t.ok(states.length >= 10, `state messages watched (${states.length})`);
  t.ok(states.some((s) => s.value === 'unlocked') && states.some((s) => s.value === 'panicking') && states.some((s) => s.value === 'wiping'), 'the key lifecycle is visible');
  for (const s of states) t.same(Object.keys(s.context ?? {}).sort(), PUBLIC_CONTEXT, `only public context on ${String(s.value)}`);

  const secrets: [string, Uint8Array][] = [
    ['the data key', dataKey],
    ['the data key (hex)', Buffer.from(Buffer.from(dataKey).toString('hex'))],
    ['the data key (base64)', Buffer.from(Buffer.from(dataKey).toString('base64'))],
    ['the passphrase', Buffer.from(P)],
    ['the record plaintext', Buffer.from(MARKER)],
    ...tickets.map((x, i): [string, Uint8Array] => [`ticket ${i}`, Buffer.from(x)]),
  ];
  let looked = 0;
  for (const m of seen) {
    for (const [name, bytes] of secrets) {
      looked++;
      if (Buffer.from(m.raw).indexOf(Buffer.from(bytes)) !== -1) t.fail(`${name} appears in ${m.what}`);
    }
  }
  t.ok(looked > 0 && seen.length > 10, `${seen.length} messages searched for ${secrets.length} secrets`);
});
