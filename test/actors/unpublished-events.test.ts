// A real appliance that cannot publish events (its audit stream is gone): each loss is logged and counted in ping and status.
import t from 'tap';
import { jetstreamManager } from '@nats-io/jetstream';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { AUDIT_STREAMS } from '../../bus/subjects.js';
import { startAppliance } from '../helpers/appliance.js';

interface ActorStatus { name: string; unpublishedEvents: number }
interface Status { appliance: { unpublishedEvents: number }; actors: ActorStatus[] }

t.test('unpublished events — with no audit stream, signed commands still answer, and the lost events show in ping, status and the log', async (t) => {
  const a = await startAppliance();
  t.teardown(() => a.stop());

  const before = a.ctl(['ping', 'policy', '--json']);
  t.equal(before.code, 0, before.stderr);
  t.equal(before.json().unpublishedEvents, 0, 'ping reports the count: nothing lost yet');
  const statusBefore = a.ctl(['status', '--json']);
  t.equal(statusBefore.code, 0, statusBefore.stderr);
  t.equal((statusBefore.json() as Status).actors.find((x) => x.name === 'policy')?.unpublishedEvents, 0, 'status reports it per actor');

  // The supervisor's identity administers JetStream: without the stream, an acked publish of any secai.evt.> fails.
  const admin = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'supervisor') });
  try {
    await (await jetstreamManager(admin.nc)).streams.delete(AUDIT_STREAMS.events.name);
  } finally {
    await admin.close();
  }

  // Each signed command publishes command_accepted before it runs: that event is now lost, and the command still answers.
  const first = a.ctl(['ping', 'policy', '--json']);
  t.equal(first.code, 0, `the command answers although its audit event was lost: ${first.stderr}`);
  // The publish fails when JetStream answers (or its publish times out): wait for the count, bounded.
  let second = a.ctl(['ping', 'policy', '--json']);
  for (const end = Date.now() + 30_000; Date.now() < end && second.code === 0 && (second.json() as { unpublishedEvents: number }).unpublishedEvents < 1;) {
    await new Promise((r) => setTimeout(r, 200));
    second = a.ctl(['ping', 'policy', '--json']);
  }
  t.equal(second.code, 0, second.stderr);
  t.ok((second.json() as { unpublishedEvents: number }).unpublishedEvents >= 1, `ping counts the lost event: ${second.stdout}`);
  t.match(a.ctl(['ping', 'policy']).stdout, /events NOT published/, 'and the human form says so');

  // The actor tells the supervisor over IPC (which works when the bus does not): wait for it to arrive.
  let status: Status | undefined;
  for (const end = Date.now() + 30_000; Date.now() < end;) {
    const s = a.ctl(['status', '--json']);
    t.equal(s.code, 0, s.stderr);
    status = s.json() as Status;
    if ((status.actors.find((x) => x.name === 'policy')?.unpublishedEvents ?? 0) >= 2 && status.appliance.unpublishedEvents >= 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok((status?.actors.find((x) => x.name === 'policy')?.unpublishedEvents ?? 0) >= 2, 'status shows the policy actor lost its events');
  t.ok((status?.appliance.unpublishedEvents ?? 0) >= 1, "status shows the supervisor's own lost events (its status command's command_accepted)");
  t.match(a.ctl(['status']).stdout, /events NOT published \(see the actors' logs\): .*policy \d+/, 'securectl status names the actor');
  // The appliance's output is read between ticks (the securectl calls above block this process): wait for the line.
  const logged = /"event":"command_accepted".*"msg":"event command_accepted not published"/;
  for (const end = Date.now() + 30_000; !logged.test(a.output()) && Date.now() < end;) await new Promise((r) => setTimeout(r, 100));
  t.match(a.output(), logged, 'the loss is in the log, with the event name');
});
