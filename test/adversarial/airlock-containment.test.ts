// Incident containment of the airlock, with the real policy and airlock actors on a real bus: the incident identity
// disables it (persisted: a killed and restarted airlock is still disabled), every fetch and download is refused with
// SECAI_E_AIRLOCK_DISABLED naming the incident, and only a signed, fresh operator enable ends it. No other identity
// may ask for containment (the ACL compiler refuses the manifest; a stolen identity gets a permission violation).
import t from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { compileAcl } from '../../bus/acl.js';
import { signCommand } from '../../bus/envelope.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { airlockManifest } from '../../actors/airlock/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { supervisorManifest } from '../../runtime/catalog.js';
import { ErrorCode } from '../../common/errors.js';
import { startActor } from '../helpers/actor-process.js';
import { startTestBus } from '../helpers/bus.js';
import { ROOT } from '../helpers/appliance.js';
import { startModelServer } from '../helpers/download-server.js';
import { policyText } from '../policy/helpers.js';

// The incident actor's identity as its manifest will declare it (the real actor lands in its own branch).
const incident = defineManifest({
  name: 'incident', kind: 'client', description: 'test stand-in for the incident actor', serves: {}, commands: {}, publishes: {},
  requests: ['airlock.contain', 'airlock.status'], subscribes: [],
});
// securectl's identity, cut down to the airlock's commands (the real one needs every actor on the bus).
const operator = defineManifest({
  name: 'operator', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {}, requests: [], subscribes: [],
  sends: ['airlock.enable', 'airlock.status'],
});
const agent = defineManifest({
  name: 'testagent', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['airlock.fetch', 'airlock.status'], subscribes: ['airlock.*'],
});

const flipped = (sig: Uint8Array) => { const x = new Uint8Array(sig); x[0] = x[0]! ^ 1; return x; };

t.test('airlock containment — only the incident identity may ask: a manifest of any other identity does not compile', async (t) => {
  const rogue = defineManifest({ ...agent, name: 'rogue', requests: ['airlock.contain'] });
  t.throws(() => compileAcl([supervisorManifest, policyManifest, airlockManifest, rogue]), { code: ErrorCode.CONFIG_INVALID, message: /only incident may ask/ });
  const ok = compileAcl([supervisorManifest, policyManifest, airlockManifest, incident, agent]);
  const who = ok.filter((id) => id.permissions.publish.allow.includes('secai.airlock.contain')).map((id) => id.name);
  t.same(who, ['incident'], 'the compiled ACL lets the incident identity alone publish to secai.airlock.contain');
});

t.test('airlock containment — disabled by an incident, kept across a kill, refused to unsigned and replayed enables, ended by a signed one', async (t) => {
  const server = await startModelServer();
  t.teardown(() => server.stop());
  const bus = await startTestBus([supervisorManifest, policyManifest, airlockManifest, operator, incident, agent], { streams: true });
  t.teardown(() => bus.stop());
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  const destination = { id: 'models', host: 'models.test', schemes: ['http'], ports: [80], methods: ['GET', 'HEAD'], path_prefix: '/m/' };
  writeFileSync(join(config, 'policy.yaml'), policyText({ airlock: { enabled: true, allow_loopback_for_tests: true, destinations: [destination] } }));
  const key = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
  const env = { SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: `models.test=127.0.0.1:${server.port}` };
  await startActor(bus, 'policy', config, t);
  let airlock: ChildProcess = await startActor(bus, 'airlock', config, t, env);
  const inc = await bus.connect('incident');
  const ag = await bus.connect('testagent');
  const cli = await bus.connect('operator');
  const fetchBig = () => ag.request<{ status: number }>('airlock', 'fetch', { method: 'HEAD', url: 'http://models.test/m/big.gguf' }, 30_000);

  t.equal((await fetchBig()).status, 200, 'before: the airlock lets an allowed request out');
  const r = await inc.request('airlock', 'contain', { incidentId: 'inc-1', reason: 'forbidden publish by gateway' });
  t.same(r, { disabled: true, already: false });
  t.same(await inc.request('airlock', 'contain', { incidentId: 'inc-2', reason: 'again' }), { disabled: true, already: true }, 'a second containment: already');
  await t.rejects(fetchBig(), { code: ErrorCode.AIRLOCK_DISABLED, message: /incident inc-1: forbidden publish by gateway/ });
  const st = await ag.request<{ enabled: boolean; policyEnabled: boolean; disabledBy?: { incidentId: string; reason: string } }>('airlock', 'status');
  t.match(st, { enabled: false, policyEnabled: true, disabledBy: { incidentId: 'inc-1', reason: 'forbidden publish by gateway' } }, 'status names the incident that holds it');

  // A containment that a crash undoes is no containment.
  airlock.kill('SIGKILL');
  await new Promise((res) => airlock.once('exit', res));
  airlock = await startActor(bus, 'airlock', config, t, env);
  await t.rejects(fetchBig(), { code: ErrorCode.AIRLOCK_DISABLED, message: /inc-1/ }, 'still disabled after a kill -9 and a restart');

  // An unsigned enable, a forged one, and a replay of a signed one are all refused and change nothing.
  await t.rejects(cli.requestSubject('secai.cmd.airlock.enable', { op: 'enable' }, 5000), { code: ErrorCode.SCHEMA });
  const signed = await signCommand(key, 'secai.cmd.airlock.enable', {});
  await t.rejects(cli.requestSubject('secai.cmd.airlock.enable', { ...signed, sig: flipped(signed.sig) }, 5000), { code: ErrorCode.SIGNATURE_INVALID });
  await t.rejects(fetchBig(), { code: ErrorCode.AIRLOCK_DISABLED }, 'a refused enable changed nothing');
  const done = await cli.requestSubject<{ enabled: boolean; wasDisabledBy?: { incidentId: string } }>('secai.cmd.airlock.enable', signed, 5000);
  t.match(done, { enabled: true, wasDisabledBy: { incidentId: 'inc-1' } });
  t.equal((await fetchBig()).status, 200, 'after the signed enable: allowed requests go out again');
  await t.resolves(inc.request('airlock', 'contain', { incidentId: 'inc-3', reason: 'third' }));
  await t.rejects(cli.requestSubject('secai.cmd.airlock.enable', signed, 5000), { code: ErrorCode.REPLAYED });
  await t.rejects(fetchBig(), { code: ErrorCode.AIRLOCK_DISABLED, message: /inc-3/ }, 'a replayed enable does not end a later containment');

  // A stolen identity that may not ask: the bus refuses the request outright.
  await t.rejects(ag.request('airlock', 'contain', { incidentId: 'x', reason: 'y' }, 2000));
});
