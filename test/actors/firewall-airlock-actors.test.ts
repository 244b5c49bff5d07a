// The tool firewall and the airlock as processes on a real bus, asking the real policy actor.
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { toolFirewallManifest } from '../../actors/tool-firewall/manifest.js';
import { airlockManifest } from '../../actors/airlock/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { startActor } from '../helpers/actor-process.js';
import { startTestBus } from '../helpers/bus.js';
import { ROOT } from '../helpers/appliance.js';

const agent = defineManifest({
  name: 'testagent', kind: 'client', description: 'test', serves: {}, commands: {}, publishes: {},
  requests: ['tool-firewall.check', 'airlock.fetch', 'airlock.status'], subscribes: ['tool-firewall.*', 'airlock.*'],
});

t.test('tool firewall and airlock actors — checks and egress go through the policy actor', async (t) => {
  const bus = await startTestBus([supervisorManifest, policyManifest, toolFirewallManifest, airlockManifest, agent], { streams: true });
  t.teardown(() => bus.stop());
  const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
  const home = bus.paths.home;
  mkdirSync(join(home, 'workspace'), { recursive: true });
  writeFileSync(join(home, 'workspace', 'a.txt'), 'ok');

  await startActor(bus, 'policy', config, t);
  await Promise.all([startActor(bus, 'tool-firewall', config, t), startActor(bus, 'airlock', config, t)]);
  const c = await bus.connect('testagent');
  const events: { subject: string; data: any }[] = [];
  for (const subj of ['secai.evt.tool-firewall.*', 'secai.evt.airlock.*']) c.subscribe(subj, (m) => { events.push({ subject: m.subject, data: decode(m.data) }); });
  await c.nc.flush();

  const ok = await c.request<any>('tool-firewall', 'check', { tool: 'fs.read', args: { path: join(home, 'workspace', 'a.txt') } });
  t.match(ok, { decision: 'allow', rule: 'fs-read', paths: [{ arg: 'path', decision: 'allow', rule: 'workspace' }] });
  const keys = await c.request<any>('tool-firewall', 'check', { tool: 'fs.read', args: { path: join(home, 'keys', 'operator.ed25519') } });
  t.match(keys, { decision: 'deny', rule: 'no-keys' });
  const secret = 'ghp_1234567890abcdefghijABCDEFGHIJ123456';
  const smuggle = await c.request<any>('tool-firewall', 'check', { tool: 'web.search', args: { query: `leak ${secret}`, extra: 'x' } });
  t.match(smuggle, { decision: 'deny', rule: 'web-search' });

  // Secrets that only their key names give away, and a padded SSN: none may reach the audit chain.
  const named = await c.request<any>('tool-firewall', 'check', { tool: 'web.search', args: { query: 'ssn 078-05-1120 12 items', password: 'plainwords', db: 'postgres://admin:pw-4-db@db.internal/app' } });
  t.match(named, { decision: 'deny', rule: 'web-search' });

  const status = await c.request<any>('airlock', 'status');
  t.match(status, { enabled: false, loopbackForTests: false, requests: 0 });
  await t.rejects(c.request('airlock', 'fetch', { method: 'GET', url: 'https://huggingface.co/api/models' }), { code: 'SECAI_E_EGRESS_DENIED', message: /airlock\.disabled/ });

  for (let i = 0; i < 50 && events.filter((e) => e.subject.endsWith('.checked')).length < 3; i++) await new Promise((r) => setTimeout(r, 100));
  const checked = events.filter((e) => e.subject === 'secai.evt.tool-firewall.checked');
  t.ok(checked.some((e) => e.data.rule === 'no-keys'), 'the denied check is evented');
  const leak = checked.find((e) => e.data.tool === 'web.search');
  t.ok(leak, 'the smuggling attempt is evented');
  t.equal(leak?.data.args.query, 'leak [REDACTED:github_token]', 'with the secret redacted');
  t.notOk(JSON.stringify(events).includes(secret), 'no event carries the secret');
  const byName = checked.find((e) => e.data.args?.password !== undefined);
  t.same(byName?.data.args, { query: 'ssn [REDACTED:ssn] 12 items', password: '[REDACTED:named_credential]', db: 'postgres://[REDACTED:url_credential]@db.internal/app' }, 'redacted by key name, URL userinfo and padded content');
  for (const s of ['078-05-1120', 'plainwords', 'pw-4-db']) t.notOk(JSON.stringify(events).includes(s), `no event carries ${s}`);
  for (let i = 0; i < 50 && !events.some((e) => e.subject === 'secai.evt.airlock.egress'); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(events.find((e) => e.subject === 'secai.evt.airlock.egress')?.data, { decision: 'deny', rule: 'airlock.disabled', origin: 'https://huggingface.co' });
});
