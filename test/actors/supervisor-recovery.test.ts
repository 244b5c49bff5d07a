// kill -9 of an actor and of nats-server: the supervisor brings both back, and no acknowledged event is lost.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';

interface Status { appliance: { bus: { pid: number; restarts: number } }; actors: { name: string; pid: number; ready: boolean; restarts: number; state: unknown }[] }

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch {
      // lint-ok: not yet (polled until the deadline)
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function status(a: Appliance): Status {
  const r = a.ctl(['status', '--json']);
  if (r.code !== 0) throw new Error(r.stderr || r.stdout);
  return r.json() as Status;
}

t.test('supervisor — restarts a kill -9ed actor and a kill -9ed nats-server; acked events survive', async (t) => {
  const a = await startAppliance();
  t.teardown(() => disposeAppliance(a));

  const before = status(a);
  const audit = before.actors.find((x) => x.name === 'audit')!;
  t.ok(audit.ready, 'audit is ready');

  // Events published and acknowledged by JetStream before the crashes. The gateway identity may
  // publish its own `listening` event; we use it as a witness with a marker port number.
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway') });
  for (let i = 0; i < 20; i++) await gw.publishEvent('gateway', 'listening', { port: 60_000 + i, url: `witness-before-${i}` });

  process.kill(audit.pid, 'SIGKILL');
  const afterActor = await until('audit restarted', () => {
    const s = status(a).actors.find((x) => x.name === 'audit');
    return s && s.ready && s.pid !== audit.pid ? s : undefined;
  });
  t.equal(afterActor.restarts, 1, 'restart counted');

  // Published while the audit actor was down or just back: still durable in the stream.
  for (let i = 0; i < 5; i++) await gw.publishEvent('gateway', 'listening', { port: 61_000 + i, url: `witness-between-${i}` });

  const natsPid = before.appliance.bus.pid;
  process.kill(natsPid, 'SIGKILL');
  const afterBus = await until('nats-server restarted', () => {
    const s = status(a);
    return s.appliance.bus.pid !== natsPid && s.appliance.bus.restarts === 1 ? s : undefined;
  });
  t.ok(afterBus.actors.every((x) => x.ready), 'every actor is ready again');

  // Clients reconnect by themselves after the bus comes back.
  await until('gateway client reconnected', async () => { await gw.publishEvent('gateway', 'listening', { port: 62_000, url: 'witness-after' }); return true; });

  const chainFile = join(a.home, 'audit', 'chain.jsonl');
  await until('every witness in the chain', () => {
    const text = readFileSync(chainFile, 'utf8');
    const want = [...Array.from({ length: 20 }, (_, i) => `witness-before-${i}`), ...Array.from({ length: 5 }, (_, i) => `witness-between-${i}`), 'witness-after'];
    return want.every((w) => text.includes(`"${w}"`)) ? true : undefined;
  }, 30_000);
  t.pass('all 26 acknowledged witness events are in the audit chain');

  const v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, `audit verify exits 0: ${v.stdout}${v.stderr}`);
  t.equal(v.json().ok, true);
  await gw.close();
});
