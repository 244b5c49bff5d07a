// One real cause per incident class on one real appliance (with a real swtpm): each opens its incident with evidence,
// and its containment shows on the other actors' own state (the vault locked, the airlock contained by that incident).
// The policy (test/helpers/incident-stand.ts) adds lock_vault and disable_airlock to every class's list; every step is
// done or skipped and each incident contained. Stage 6 (a model through the whole quarantine) is in
// test/actors/incident-stage6.test.ts.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { incidentStand, PASSPHRASE, startSwtpm } from '../helpers/incident-stand.js';

const tcti = await startSwtpm(t);
const s = await incidentStand(t, {
  env: { SECAI_TPM_TCTI: tcti, SECAI_ATTEST_INTERVAL_MS: '2000' },
  edit: (doc) => {
    // Ten wrong guesses at once, then the lockout (the burst); a policy edit without reload is a finding after 3 s.
    doc['vault'] = { ...doc['vault'], login: { ...(doc['vault']!['login'] as object), free_attempts: 10, lockout_after: 10 } };
    doc['integrity'] = { ...doc['integrity'], scan_interval_seconds: 10, pending_grace_seconds: 3, escalate_after: 100 };
  },
});
const { a, cli, key, config, ready, contained, post, ctlIn } = s;
const paths = homePaths(a.home);
t.equal(a.ctl(['attest', 'status', '--json']).json().mode, 'tpm', 'the attestor quotes with the swtpm');

t.test('incident classes — a forbidden publish with a stolen identity: policy_bypass_attempt, vault locked, airlock contained', async (t) => {
  await ready();
  const stolen = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
  t.teardown(() => stolen.close().catch(() => {})); // lint-ok: teardown
  stolen.nc.publish('secai.evt.vault.unlocked', new Uint8Array([0x80]));
  await stolen.nc.flush();
  const { incident, evidence } = await contained(t, (x) => x.class === 'policy_bypass_attempt' && x.key === 'identity:gateway', 'the bypass incident');
  t.equal(incident.severity, 'high');
  t.match(evidence, { identity: 'gateway', subject: 'secai.evt.vault.unlocked', kind: 'publish' });
});

t.test('incident classes — a canary read: unauthorized_access (critical), vault locked, airlock contained', async (t) => {
  await ready();
  const canary = join(paths.vault, 'recovery-key.txt');
  readFileSync(canary);
  const { incident, evidence } = await contained(t, (x) => x.class === 'unauthorized_access' && x.target['path'] === canary, 'the canary incident');
  t.equal(incident.severity, 'critical');
  t.match(evidence, { kind: 'canary', path: canary });
});

t.test('incident classes — wrong passphrases trip the login throttle: unauthorized_access from auth.guess_burst', async (t) => {
  await ready();
  for (let i = 0; i < 10; i++) t.equal(await post('/api/auth/login', { passphrase: `wrong guess ${i}` }), 401, `guess ${i + 1} refused`);
  const { incident, evidence } = await contained(t, (x) => x.class === 'unauthorized_access' && x.key.startsWith('login:'), 'the guess-burst incident');
  t.equal(incident.severity, 'high');
  t.match(evidence, { scope: /client|global/, failures: 10 });
});

t.test('incident classes — a refused airlock request: forbidden_airlock_request, airlock contained, vault locked', async (t) => {
  await ready();
  // The shipped policy keeps the airlock off: a URL import's download is refused at the airlock (nothing leaves).
  const r = a.ctl(['models', 'import', 'https://huggingface.co/evil/model/resolve/main/m.gguf', '--json'], { timeoutMs: 60_000 });
  t.not(r.code, 0, 'the import does not go through');
  const { incident, evidence } = await contained(t, (x) => x.class === 'forbidden_airlock_request' && x.key === 'origin:https://huggingface.co', 'the airlock incident');
  t.equal(incident.severity, 'medium');
  t.match(evidence, { decision: 'deny', origin: 'https://huggingface.co', method: 'GET' });
});

t.test('incident classes — a burst of refused tool calls: tool_call_burst, vault locked, airlock contained', async (t) => {
  await ready();
  for (let i = 0; i < 10; i++) {
    const r = await cli.command<{ decision: string }>(key, 'tool-firewall', 'check', { tool: 'fs.read', args: { path: join(paths.keys, 'operator.ed25519') } });
    t.equal(r.decision, 'deny', `call ${i + 1} refused`);
  }
  const { incident } = await contained(t, (x) => x.class === 'tool_call_burst', 'the burst incident');
  t.equal(incident.severity, 'medium');
  t.ok(incident.count >= 1);
});

t.test('incident classes — policy.yaml changed outside a signed reload: integrity_violation (critical), vault and airlock contained', async (t) => {
  await ready();
  const file = join(config, 'policy.yaml');
  appendFileSync(file, '\n# changed behind the appliance\n');
  const { incident, evidence } = await contained(t, (x) => x.class === 'integrity_violation' && x.target['path'] === file, 'the policy-file incident');
  t.equal(incident.severity, 'critical');
  t.match(evidence, { path: file, level: 'recovery_required' });
});

// Last: a failed attestation refuses every later unlock.
t.test('incident classes — a failed swtpm quote (the PCR extended behind the attestor): attestation_failure, vault and airlock contained', async (t) => {
  await ready();
  execFileSync('tpm2_pcrextend', [`23:sha256=${'ab'.repeat(32)}`], { env: { ...process.env, TPM2TOOLS_TCTI: tcti } });
  const { incident, evidence } = await contained(t, (x) => x.class === 'attestation_failure', 'the attestation incident');
  t.equal(incident.severity, 'critical');
  t.match(evidence, { code: 'pcr_mismatch' });
  const unlock = ctlIn(['vault', 'unlock', '--passphrase-stdin'], `${PASSPHRASE}\n`);
  t.not(unlock.code, 0, 'and the vault stays locked: unlock is refused in a failed runtime');
  t.match(unlock.out, /SECAI_E_NOT_ATTESTED|not attested/i);
});
