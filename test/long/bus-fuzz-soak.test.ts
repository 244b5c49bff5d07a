// Long run (npm run test:long): random bytes and mutated messages at every served subject of a running
// appliance for a while; every actor must keep answering and none may restart.
import t from 'tap';
import fc from 'fast-check';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { encode } from '../../bus/codec.js';
import { loadIdentity } from '../../bus/identities.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const SECONDS = Number(process.env.SECAI_SOAK_SECONDS ?? 60);

t.test('soak — fuzzed messages for a minute: no crash, no restart, chain intact', { timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const a = await startAppliance();
  t.teardown(() => disposeAppliance(a));
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'gateway'), reconnect: false });
  const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'cli'), reconnect: false });
  t.teardown(async () => { await gw.close(); await cli.close(); });
  const targets: [BusClient, string][] = [
    [gw, 'secai.audit.status'], [gw, 'secai.audit.tail'], [gw, 'secai.supervisor.status'],
    [cli, 'secai.cmd.audit.verify'], [cli, 'secai.cmd.audit.tail'], [cli, 'secai.cmd.supervisor.status'], [cli, 'secai.cmd.gateway.ping'],
  ];
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 2048 }),
    fc.anything({ maxDepth: 4 }).map((v) => { try { return encode({ v }); } catch { return new Uint8Array([0x80]); } }),
    fc.record({ n: fc.anything(), subject: fc.string(), v: fc.integer(), sig: fc.uint8Array({ maxLength: 80 }), keyId: fc.string(), nonce: fc.string(), ts: fc.integer(), args: fc.object() }).map((v) => encode(v)),
  );
  const end = Date.now() + SECONDS * 1000;
  let sent = 0;
  let errors = 0;
  while (Date.now() < end) {
    const batch = fc.sample(fc.tuple(fc.integer({ min: 0, max: targets.length - 1 }), payload), 50);
    await Promise.all(batch.map(async ([i, bytes]) => {
      const [client, subject] = targets[i]!;
      try {
        const m = await client.nc.request(subject, bytes, { timeout: 5000 });
        if (m.data.length === 0) throw new Error('empty reply');
      } catch {
        errors++;
      }
      sent++;
    }));
  }
  t.equal(errors, 0, `every one of ${sent} fuzzed requests got a reply`);
  const st = a.ctl(['status', '--json']).json() as { actors: { name: string; restarts: number; ready: boolean }[] };
  for (const x of st.actors) t.ok(x.ready && x.restarts === 0, `${x.name} never restarted`);
  t.equal(a.ctl(['audit', 'verify', '--json']).code, 0, 'audit chain intact after the storm');
});
