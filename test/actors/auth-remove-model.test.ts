// Removal from the web UI on a real bus with the real vault, auth and registry actors: a live session and the
// passphrase again (throttled like login; the vault may be locked), then registry.remove; the audited `removed`
// event names the session.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { MANIFESTS } from '../../runtime/catalog.js';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { startTestBus } from '../helpers/bus.js';
import { issueSetupCode } from '../../common/setup-code.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from '../helpers/vault-actor.js';

const P = 'the owner passphrase';
const watcher = defineManifest({
  name: 'watcher', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['registry.list'], subscribes: ['registry.*', 'auth.*'],
});

interface Ev { subject: string; data: any }
interface Issued { sessionId: string; csrf: string; handle: string }

// A 60 s first delay: after 4 failures the 5th try is refused however fast this machine is.
const policy = fastPolicyDir((y) => y.replace(/base_delay_seconds: 1$/m, 'base_delay_seconds: 60'));
const bus = await startTestBus([...MANIFESTS, watcher], { streams: true });
const children: ChildProcess[] = [];
t.teardown(async () => { for (const c of children) await killHard(c); await bus.stop(); cleanup(policy); });
for (const name of ['vault', 'auth', 'registry']) children.push(await startActorProcess(bus, name, policy));

const gateway = await bus.connect('gateway');
const quarantine = await bus.connect('quarantine');
const w = await bus.connect('watcher');
const events: Ev[] = [];
for (const subj of ['secai.evt.registry.*', 'secai.evt.auth.*']) w.subscribe(subj, (m) => { events.push({ subject: m.subject, data: decode(m.data) }); });
await w.nc.flush();

async function until<T>(f: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${what}`);
}

/** Promotes a small file through the quarantine identity (the only one allowed to). */
async function promote(name: string) {
  const dir = join(bus.paths.quarantineWork, `job-${name}`);
  mkdirSync(dir, { recursive: true });
  const body = `GGUF test model ${name}`;
  writeFileSync(join(dir, `${name}.gguf`), body);
  return quarantine.request<{ sha256: string; path: string }>('registry', 'promote', {
    jobId: `job-${name}`, name, path: join(dir, `${name}.gguf`), kind: 'file', sha256: createHash('sha256').update(body).digest('hex'),
    format: 'gguf', merkleRoot: null, stages: [{ stage: 'format', verdict: 'pass', reason: 'test' }],
  }, 30_000);
}
const names = async () => (await w.request<{ models: { name: string }[] }>('registry', 'list')).models.map((m) => m.name).sort();

const alpha = await promote('alpha');
await promote('beta');
await promote('gamma');
// The one-time setup code, from the 0600 file as an operator of a headless appliance reads it.
const me = await gateway.request<Issued>('auth', 'setup', { passphrase: P, setupCode: issueSetupCode(bus.paths.run, false)! }, 30_000);
const remove = (o: { sessionId?: string; name: string; passphrase: string }) =>
  gateway.request<{ name: string; sha256: string }>('auth', 'remove_model', { sessionId: o.sessionId ?? me.sessionId, name: o.name, passphrase: o.passphrase }, 60_000);

t.test('auth remove_model — an invalid or missing session is refused before any passphrase check', async (t) => {
  await t.rejects(remove({ sessionId: 'A'.repeat(43), name: 'alpha', passphrase: P }), { code: 'SECAI_E_UNAUTHORIZED' });
  await t.rejects(remove({ sessionId: '', name: 'alpha', passphrase: P }), { code: 'SECAI_E_UNAUTHORIZED' });
  t.same(await names(), ['alpha', 'beta', 'gamma'], 'nothing removed');
  t.notOk(events.some((e) => e.subject === 'secai.evt.auth.login_failed'), 'not counted as a passphrase failure');
});

t.test('auth remove_model — the right passphrase removes the model; the audited event says who (a session handle, no secret)', async (t) => {
  const r = await remove({ name: 'alpha', passphrase: P });
  t.match(r, { name: 'alpha', sha256: alpha.sha256 });
  t.same(await names(), ['beta', 'gamma']);
  t.notOk(existsSync(join(bus.paths.registry, alpha.sha256)), 'the stored copy is gone');
  const ev = await until(() => events.find((e) => e.subject === 'secai.evt.registry.removed'), 'removed event');
  t.same(ev.data, { name: 'alpha', sha256: alpha.sha256, by: 'web session', session: me.handle });
  const raw = JSON.stringify(events);
  t.notOk(raw.includes(P), 'no passphrase in any event');
  t.notOk(raw.includes(me.sessionId), 'no session id in any event');
});

t.test('auth remove_model — an unknown model with the right passphrase is MODEL_NOT_FOUND, and the refusal is audited', async (t) => {
  await t.rejects(remove({ name: 'alpha', passphrase: P }), { code: 'SECAI_E_MODEL_NOT_FOUND' });
  const ev = await until(() => events.find((e) => e.subject === 'secai.evt.auth.model_removal_refused' && e.data.code === 'SECAI_E_MODEL_NOT_FOUND'), 'refusal event');
  t.match(ev.data, { handle: me.handle, name: 'alpha' });
  await t.rejects(remove({ name: 'no good/name', passphrase: P }), { code: 'SECAI_E_SCHEMA' }, 'a name outside the registry\'s pattern fails the schema');
});

t.test('auth remove_model — works while the vault is locked, and leaves it locked (the check unwraps and forgets the key)', async (t) => {
  await gateway.request('vault', 'lock');
  t.equal((await gateway.request<{ state: string }>('vault', 'status')).state, 'locked');
  t.match(await remove({ name: 'gamma', passphrase: P }), { name: 'gamma' });
  t.equal((await gateway.request<{ state: string }>('vault', 'status')).state, 'locked', 'still locked');
  t.same(await names(), ['beta']);
});

t.test('auth remove_model — wrong passphrases are refused and throttled like login; nothing is removed', async (t) => {
  for (let i = 1; i <= 4; i++) {
    await t.rejects(remove({ name: 'beta', passphrase: `wrong guess ${i}` }), { code: 'SECAI_E_WRONG_PASSPHRASE' }, `wrong passphrase ${i}`);
    const failed = await until(() => events.find((e) => e.subject === 'secai.evt.auth.login_failed' && e.data.failures === i), `login_failed ${i}`);
    t.equal(failed.data.code, 'SECAI_E_WRONG_PASSPHRASE');
  }
  await t.rejects(remove({ name: 'beta', passphrase: P }), { code: 'SECAI_E_RATE_LIMITED', message: /4 failed attempts: try again in \d+ s/ }, 'even the right passphrase waits for the delay');
  t.same(await names(), ['beta'], 'beta is still there');
  const refused = events.filter((e) => e.subject === 'secai.evt.auth.model_removal_refused' && e.data.name === 'beta').map((e) => e.data.code);
  t.same(refused, [...Array(4).fill('SECAI_E_WRONG_PASSPHRASE'), 'SECAI_E_RATE_LIMITED'], 'every refusal is audited with its code');
  t.notOk(events.some((e) => e.subject === 'secai.evt.registry.removed' && e.data.name === 'beta'));
  // Per client (issue #12 item 6): a session's ladder is its own; another client's login is not held up by it.
  await t.resolves(gateway.request('auth', 'login', { passphrase: P }, 30_000), 'a login from another client is not throttled by this session\'s guesses');
});
