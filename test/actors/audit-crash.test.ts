// No false alarm: the audit actor killed with -9 again and again while events flow leaves an intact, fresh chain.
import t from 'tap';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { AUDIT_CONSUMER, AUDIT_STREAMS } from '../../bus/subjects.js';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';

interface ActorRow { name: string; pid: number; ready: boolean; state: unknown }

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // lint-ok: not yet (polled until the deadline)
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const audit = (a: Appliance): ActorRow | undefined =>
  (a.ctl(['status', '--json']).json() as { actors: ActorRow[] }).actors.find((x) => x.name === 'audit');

t.test('audit crash — kill -9 of the audit actor mid-stream, three times, raises no alarm', async (t) => {
  const a = await startAppliance();
  t.teardown(() => disposeAppliance(a));
  const ids = join(a.home, 'keys', 'bus');
  const gw = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(ids, 'gateway') });
  const admin = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(ids, 'supervisor') });
  t.teardown(async () => { await gw.close(); await admin.close(); });
  const jsm = await jetstreamManager(admin.nc);

  let flowing = true;
  let sent = 0;
  let refused = 0; // a publish may time out on a loaded machine; that is the publisher's loss, not the chain's
  const flow = (async () => {
    while (flowing) {
      await gw.publishEvent('gateway', 'listening', { port: 50_000 + (sent % 10_000), url: `flow-${sent++}` }).catch(() => { refused++; });
      await new Promise((r) => setTimeout(r, 2)); // a steady flow, not a flood on a shared 2-core machine
    }
  })();

  for (let round = 0; round < 3; round++) {
    const before = await until('audit ready', () => { const s = audit(a); return s?.ready ? s : undefined; });
    const floor = (await jsm.consumers.info(AUDIT_STREAMS.events.name, AUDIT_CONSUMER)).ack_floor.stream_seq;
    // Killed while it is appending: records keep arriving, so a batch is in flight most of the time.
    await until('records appended since the last restart', async () => ((await jsm.consumers.info(AUDIT_STREAMS.events.name, AUDIT_CONSUMER)).ack_floor.stream_seq > floor + 20 ? true : undefined));
    process.kill(before.pid, 'SIGKILL');
    await until('audit restarted', () => { const s = audit(a); return s?.ready && s.pid !== before.pid ? s : undefined; });
  }
  flowing = false;
  await flow;
  await until('every tapped event acknowledged', async () => {
    const [si, ci] = await Promise.all([jsm.streams.info(AUDIT_STREAMS.events.name), jsm.consumers.info(AUDIT_STREAMS.events.name, AUDIT_CONSUMER)]);
    return ci.ack_floor.stream_seq >= si.state.last_seq ? true : undefined;
  });
  t.ok(sent - refused > 60, `events flowed through the crashes (${sent} sent, ${refused} not acked by JetStream)`);
  t.equal(await until('audit following', () => (audit(a)?.state === 'following' ? 'following' : undefined)), 'following', 'no broken state');
  const v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 0, `audit verify exits 0: ${v.stdout}${v.stderr}`);
  const alarm = await jsm.streams.getMessage(AUDIT_STREAMS.events.name, { last_by_subj: 'secai.evt.audit.chain_broken' });
  t.equal(alarm, null, 'no chain_broken event was ever published');
});
