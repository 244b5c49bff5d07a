// A hung nats-server (SIGSTOP) is found by the supervisor's pings, killed and restarted; actors reconnect; nothing acked is lost.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { resume, status, until } from './helpers.js';

t.test('faults (slow) — a SIGSTOPped nats-server is restarted within a bound; actors reconnect; acked events survive', async (t) => {
  const a = await startAppliance({ headless: true, env: { SECAI_HEARTBEAT_MS: '500' } });
  t.teardown(() => disposeAppliance(a));
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway') });
  t.teardown(() => gw.close());
  for (let i = 0; i < 10; i++) await gw.publishEvent('gateway', 'listening', { port: 60_000 + i, url: `hung-bus-before-${i}` });

  const before = status(a).appliance.bus;
  const t0 = Date.now();
  process.kill(before.pid, 'SIGSTOP');
  t.teardown(() => resume(before.pid));
  const after = await until('nats-server replaced', () => {
    const s = status(a);
    return s.appliance.bus.pid !== before.pid && s.actors.every((x) => x.ready) ? s : undefined;
  }, 60_000, 200);
  const ms = Date.now() - t0;
  t.ok(ms < 20_000, `detected and restarted in ${ms} ms`);
  t.equal(after.appliance.bus.restarts, before.restarts + 1);
  t.throws(() => process.kill(before.pid, 0), 'the hung server was killed');

  await until('the old client reconnected', async () => { await gw.publishEvent('gateway', 'listening', { port: 61_000, url: 'hung-bus-after' }); return true; });
  t.equal(a.ctl(['vault', 'lock', '--json']).code, 0, 'lock works after');
  await until('every witness in the chain', () => {
    const text = readFileSync(join(a.home, 'audit', 'chain.jsonl'), 'utf8');
    return [...Array.from({ length: 10 }, (_, i) => `hung-bus-before-${i}`), 'hung-bus-after'].every((w) => text.includes(`"${w}"`)) && text.includes('"name":"nats-server"') ? true : undefined;
  }, 30_000, 200);
  t.equal(a.ctl(['audit', 'verify', '--json']).code, 0, 'the chain verifies');
});
