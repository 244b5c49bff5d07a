// The incident actor in a real appliance: real causes open incidents with evidence, containment runs (vault locked,
// sessions ended, airlock disabled; test/actors/incident-contain.test.ts drives the model suspension), a kill -9 loses nothing, operators ack/resolve with signed commands only,
// an export verifies offline and a flipped byte is refused, forged incident events are refused by the bus.
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { signCommand } from '../../bus/envelope.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { ErrorCode } from '../../common/errors.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const a = await startAppliance({ timeoutMs: 60_000 });
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);
const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
t.teardown(() => cli.close());

interface Summary { id: string; class: string; key: string; state: string; count: number; severity: string; steps: { action: string; status: string; detail: string }[]; escalation: string | null }
const list = (): Summary[] => {
  const r = a.ctl(['incidents', 'list', '--json']);
  if (r.code !== 0) throw new Error(`incidents list failed: ${r.stdout}${r.stderr}`);
  return r.json().incidents;
};
/** Polls (bounded) until an incident matching `pred` is listed. */
async function waitFor(pred: (i: Summary) => boolean, what: string, ms = 30_000): Promise<Summary> {
  const end = Date.now() + ms;
  for (;;) {
    const hit = list().find(pred);
    if (hit) return hit;
    if (Date.now() > end) throw new Error(`no incident ${what}: ${JSON.stringify(list())}\n${a.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('incident — a replayed signed command opens unauthorized_access; every web session ends and it is contained', async (t) => {
  const env = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', env, 5000);
  await t.rejects(cli.requestSubject('secai.cmd.registry.list', env, 5000), { code: ErrorCode.REPLAYED });
  const i = await waitFor((x) => x.class === 'unauthorized_access' && x.key === `command:${key.keyId}` && x.state !== 'open', 'for the replay');
  t.equal(i.severity, 'high');
  t.equal(i.state, 'contained');
  t.match(i.steps, [{ action: 'end_sessions', status: 'done', detail: /web session\(s\) ended/ }]);
  t.equal(i.escalation, null);
  const shown = a.ctl(['incidents', 'show', i.id, '--json']).json();
  t.match(shown.evidence[0].evidence, { actor: 'registry', code: ErrorCode.REPLAYED, nonce: env.nonce });
});

t.test('incident — a storm of one cause is one incident with a count', async (t) => {
  const env = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', env, 5000);
  const before = (await waitFor((x) => x.key === `command:${key.keyId}`, 'for the key')).count;
  for (let i = 0; i < 50; i++) await t.rejects(cli.requestSubject('secai.cmd.registry.list', env, 5000), { code: ErrorCode.REPLAYED });
  const i = await waitFor((x) => x.key === `command:${key.keyId}` && x.count >= before + 50, 'with the count');
  t.equal(i.count, before + 50);
  t.equal(list().filter((x) => x.key === `command:${key.keyId}`).length, 1, 'one incident');
});

t.test('incident — kill -9 of the incident actor mid-incident loses nothing: same state, count and evidence after the restart', async (t) => {
  const i = await waitFor((x) => x.key === `command:${key.keyId}`, 'to restart with');
  const before = a.ctl(['incidents', 'show', i.id, '--json']).json();
  const pid = a.ctl(['ping', 'incident', '--json']).json().pid as number;
  process.kill(pid, 'SIGKILL');
  let after: { pid: number } | undefined;
  for (let k = 0; k < 150 && !(after && after.pid !== pid); k++) {
    await new Promise((r) => setTimeout(r, 200));
    const p = a.ctl(['ping', 'incident', '--json']);
    after = p.code === 0 ? p.json() : undefined;
  }
  t.not(after?.pid, pid, 'the supervisor restarted it');
  const again = a.ctl(['incidents', 'show', i.id, '--json']).json();
  t.same(again, before, 'state, count, evidence, steps and timeline as before');
  // And it still deduplicates the cause after the restart: one more replay joins the same incident.
  const env = await signCommand(key, 'secai.cmd.registry.list', {});
  await cli.requestSubject('secai.cmd.registry.list', env, 5000);
  await t.rejects(cli.requestSubject('secai.cmd.registry.list', env, 5000));
  const next = await waitFor((x) => x.id === i.id && x.count === before.incident.count + 1, 'counted after the restart');
  t.equal(next.state, before.incident.state);
});

t.test('incident — ack and resolve: only signed, not replayed, resolve only after ack, the key id recorded', async (t) => {
  const i = await waitFor((x) => x.key === `command:${key.keyId}`, 'to ack');
  const early = a.ctl(['incidents', 'resolve', i.id, '--json']);
  t.equal(early.code, 2);
  t.match(early.json().error, { code: ErrorCode.INVALID_STATE, message: /needs an acknowledgement/ });
  // An unsigned ack is refused at the envelope check.
  await t.rejects(cli.requestSubject('secai.cmd.incident.ack', { id: i.id }, 5000), { code: ErrorCode.SCHEMA });
  const env = await signCommand(key, 'secai.cmd.incident.ack', { id: i.id, note: 'on it' });
  const r = await cli.requestSubject<Summary>('secai.cmd.incident.ack', env, 5000);
  t.equal(r.state, 'acknowledged');
  await t.rejects(cli.requestSubject('secai.cmd.incident.ack', env, 5000), { code: ErrorCode.REPLAYED }, 'a replayed ack is refused');
  const res = a.ctl(['incidents', 'resolve', i.id, '--note', 'key rotated', '--json']);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.json().state, 'resolved');
  const shown = a.ctl(['incidents', 'show', i.id, '--json']).json();
  t.match(shown.timeline.slice(-2), [{ state: 'acknowledged', by: key.keyId, note: 'on it' }, { state: 'resolved', by: key.keyId, note: 'key rotated' }]);
  // The audit tap commits on its own schedule: poll (bounded) until the resolve has reached the chain.
  let events: string[] = [];
  for (const end = Date.now() + 30_000; !events.includes('secai.evt.incident.resolved') && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    events = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.incident.', '--json']).json().records.map((x: { subject: string }) => x.subject);
  }
  for (const e of ['opened', 'contained', 'acknowledged', 'resolved']) t.ok(events.includes(`secai.evt.incident.${e}`), `${e} is in the audit chain`);
});

t.test('incident — a forged secai.evt.incident.* from another identity is refused by the bus', async (t) => {
  const gateway = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
  t.teardown(() => gateway.close());
  await t.rejects(gateway.publishEvent('incident', 'resolved', { incident: { id: 'forged-0000' }, reason: 'forged' }), 'publishing as the incident actor is refused');
  const recs = a.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.incident.resolved', '--json']).json().records;
  t.notOk(recs.some((r: { payload: { reason?: string } }) => r.payload.reason === 'forged'), 'nothing forged reached the chain');
});

t.test('incident — a flipped byte in the audit chain + audit verify: integrity_violation, the vault locked, sessions ended, the airlock disabled: contained', async (t) => {
  const file = join(paths.audit, 'chain.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[2] = lines[2]!.replace('"subject":"', '"subject":"X');
  writeFileSync(file, lines.join('\n'));
  t.equal(a.ctl(['audit', 'verify']).code, 1);
  const i = await waitFor((x) => x.class === 'integrity_violation' && x.key === 'audit-chain' && x.state !== 'open', 'for the chain');
  t.equal(i.severity, 'critical');
  t.match(i.steps, [{ action: 'lock_vault', status: 'done' }, { action: 'end_sessions', status: 'done' }, { action: 'disable_airlock', status: 'done' }]);
  t.equal(i.state, 'contained');
  const vault = await cli.command<{ state: string }>(key, 'vault', 'status');
  t.not(vault.state, 'unlocked', `the vault is ${vault.state}`);
  const airlock = a.ctl(['airlock', 'status', '--json']);
  t.match(airlock.json(), { enabled: false, disabledBy: { incidentId: i.id } }, 'the airlock is contained by this incident');
});

t.test('incident — export: a signed bundle that verifies offline; one flipped byte is refused (exit 1)', async (t) => {
  const i = await waitFor((x) => x.class === 'integrity_violation', 'to export');
  const out = join(a.home, 'bundle.json');
  const ex = a.ctl(['incidents', 'export', i.id, '--out', out, '--json']);
  t.equal(ex.code, 0, ex.stderr);
  t.ok(ex.json().auditRecords > 0, 'related audit records are in it');
  const ok = a.ctl(['incidents', 'verify-bundle', out, '--key', join(paths.keys, 'incident.ed25519.pub'), '--json']);
  t.equal(ok.code, 0, ok.stdout);
  const text = readFileSync(out, 'utf8');
  const at = text.indexOf('"summary": "') + 13;
  writeFileSync(out, text.slice(0, at) + (text[at] === 'a' ? 'b' : 'a') + text.slice(at + 1));
  const bad = a.ctl(['incidents', 'verify-bundle', out, '--json']);
  t.equal(bad.code, 1, bad.stdout);
  t.match(bad.json(), { ok: false, reason: /signature does not verify/ });
  t.equal(a.ctl(['incidents', 'verify-bundle', join(a.home, 'missing.json')]).code, 2);
});

t.test('incident — a tampered incident file is reported, kept aside and opened as an integrity_violation', async (t) => {
  const dir = join(a.home, 'incidents');
  const f = readdirSync(dir).find((x) => x.endsWith('.json'))!;
  const text = readFileSync(join(dir, f), 'utf8');
  writeFileSync(join(dir, f), text.replace('"count":', '"count":1'));
  const i = await waitFor((x) => x.class === 'integrity_violation' && x.key.startsWith('incident-file:'), 'for the file');
  t.match(i.key, f);
  t.ok(readdirSync(join(dir, 'rejected')).some((x) => x.startsWith(f)), 'the file is kept aside');
});
