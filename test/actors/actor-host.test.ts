// The actor host publishes every transition on secai.state.<actor>, tagged with the event that caused it.
import t from 'tap';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { decode } from '../../bus/codec.js';
import { loadIdentity } from '../../bus/identities.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

t.test('actor host — a signed command drives a machine, and each transition is published with its event', async (t) => {
  const a = await startAppliance();
  t.teardown(() => disposeAppliance(a));
  // The supervisor identity watches every state subject (the gateway does the same for the UI).
  const watcher = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'supervisor'), reconnect: false });
  t.teardown(() => watcher.close());
  const seen: { value: unknown; event: string; seq: number; actor: string }[] = [];
  watcher.subscribe('secai.state.audit', (m) => { seen.push(decode(m.data) as (typeof seen)[number]); });
  await watcher.nc.flush();

  const r = a.ctl(['audit', 'verify', '--json']);
  t.equal(r.code, 0, r.stderr);
  for (let i = 0; i < 50 && !seen.some((s) => s.value === 'following'); i++) await new Promise((res) => setTimeout(res, 50));

  const verifying = seen.find((s) => s.value === 'verifying');
  const following = seen.find((s) => s.value === 'following' && s.seq > (verifying?.seq ?? -1));
  t.ok(verifying, 'saw the audit actor enter verifying');
  t.equal(verifying?.event, 'audit.verify', 'caused by the audit.verify event of the signed command');
  t.ok(following, 'and come back to following');
  t.equal(following?.event, 'xstate.done.actor.verifyChain');
  t.ok(seen.every((s) => s.actor === 'audit'));
  const seqs = seen.map((s) => s.seq);
  t.same(seqs, [...seqs].sort((x, y) => x - y), 'sequence numbers increase');
});
