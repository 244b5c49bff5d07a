// A hung actor (SIGSTOP) is detected by its missed heartbeats, killed and restarted, and answers again; health says so meanwhile.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { parseStateMessage } from '../../bus/state-message.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { health, resume, slot, status, until } from './helpers.js';

t.test('faults — a SIGSTOPped actor is found unresponsive, killed, restarted and answers; /api/health is 503 meanwhile', async (t) => {
  const a = await startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '300' } });
  t.teardown(() => disposeAppliance(a));
  t.equal((await health(a)).status, 200, 'healthy at start');
  t.equal(status(a).health.ok, true);

  // The Machines page's view: the supervisor's chart state on secai.state.supervisor (the gateway may watch states).
  const watcher = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway'), reconnect: false });
  t.teardown(() => watcher.close());
  const seen: string[] = [];
  watcher.subscribe('secai.state.supervisor', (m) => {
    const v = parseStateMessage(m.subject, m.data).value as Record<string, string>;
    if (seen[seen.length - 1] !== v.registry) seen.push(v.registry!);
  });
  await watcher.nc.flush();

  const before = slot(a, 'registry');
  t.equal(before.slot, 'ready');
  process.kill(before.pid, 'SIGSTOP');
  t.teardown(() => resume(before.pid));

  // Observed while it happens: health turns 503 and names the actor (it stays so until the new process is ready).
  const bad = await until('health 503 naming registry', async () => {
    const h = await health(a);
    return h.status === 503 && h.body.reasons.some((r) => r.includes('registry')) ? h : undefined;
  }, 30_000, 25);
  t.equal(bad.body.ok, false);
  t.equal(bad.body.state, 'degraded');

  const after = await until('registry restarted', () => {
    const s = slot(a, 'registry');
    return s.slot === 'ready' && s.pid !== before.pid ? s : undefined;
  });
  t.equal(after.restarts, before.restarts + 1, 'counted as one restart');
  t.match(after.reason, /unresponsive: 3 heartbeats unanswered/, 'status says why');
  t.throws(() => process.kill(before.pid, 0), 'the hung process was killed');

  await until('the chart shows registry ready again', () => (seen.length >= 4 ? true : undefined));
  t.same(seen.slice(0, 4), ['unresponsive', 'backoff', 'starting', 'ready'], 'the supervision chart moved through the slot states');

  const ping = a.ctl(['ping', 'registry', '--json']);
  t.equal(ping.code, 0, `the new registry answers: ${ping.stderr}`);
  t.equal(ping.json().pid, after.pid);
  await until('health 200 again', async () => ((await health(a)).status === 200 ? true : undefined));

  // The fact is in the audit chain (the supervisor's lifecycle events go there).
  await until('actor_unresponsive recorded', () => {
    const text = readFileSync(join(a.home, 'audit', 'chain.jsonl'), 'utf8');
    return text.includes('secai.evt.supervisor.actor_unresponsive') && text.includes('"name":"registry"') ? true : undefined;
  });
  const v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, 'the chain verifies');
});
