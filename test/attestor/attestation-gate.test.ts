// The gate is fail-closed: a vault whose attestor does not answer refuses setup and unlock with SECAI_E_NOT_ATTESTED.
import t from 'tap';
import { attestorManifest } from '../../actors/attestor/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { vaultManifest } from '../../actors/vault/manifest.js';
import { defineManifest } from '../../bus/manifest.js';
import { startTestBus } from '../helpers/bus.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const asker = defineManifest({ name: 'asker', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: ['vault.setup', 'vault.status'], subscribes: [] });

t.test('attestation gate — no attestor answering: vault setup refused with SECAI_E_NOT_ATTESTED, and nothing is created', async (t) => {
  // The attestor's identity exists (the ACL lets the vault ask it) but no attestor process runs: no answer = refuse.
  const bus = await startTestBus([supervisorManifest, policyManifest, vaultManifest, asker, attestorManifest, registryManifest], { streams: true });
  const policy = fastPolicyDir();
  // Started without the helper's attestor: the helper starts one only when asked for a gated actor, so start the policy first, then fork the vault with the attestor absent.
  const ids = bus.ids;
  const saved = ids.get('attestor')!;
  ids.delete('attestor');
  const vault = await startActorProcess(bus, 'vault', policy);
  ids.set('attestor', saved);
  t.teardown(async () => { await killHard(vault); await bus.stop(); cleanup(policy); });
  const auth = await bus.connect('asker');
  await t.rejects(auth.request('vault', 'setup', { passphrase: 'a passphrase of some length' }, 30_000), { code: 'SECAI_E_NOT_ATTESTED' });
  t.equal((await auth.request<{ state: string }>('vault', 'status')).state, 'uninitialized', 'no vault was created');
});
