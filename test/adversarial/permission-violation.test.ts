// A stolen actor identity on the real appliance: what the bus refuses it becomes a supervisor permission_violation
// event in the audit chain, with the identity (from its nkey) and the subject; a flood of them stays a few records.
import t from 'tap';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';

const a = await startAppliance();
t.teardown(() => disposeAppliance(a));
const paths = homePaths(a.home);

interface Violation { payload: { identity: string; subject: string; kind: string; at: number; count: number } }
const violations = (): Violation[] =>
  a.ctl(['audit', 'tail', '-n', '1000', '--subject', 'secai.evt.supervisor.permission_violation', '--json']).json().records;

async function waitFor(pred: (v: Violation[]) => boolean, what: string): Promise<Violation[]> {
  const end = Date.now() + 20_000;
  for (;;) {
    const v = violations();
    if (pred(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}\n${a.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test('permission violation — a stolen gateway identity publishing vault.unlocked is reported with its identity and subject', async (t) => {
  // The credentials as an attacker who read the state directory has them.
  const stolen = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
  t.teardown(() => stolen.close().catch(() => {})); // lint-ok: teardown
  stolen.nc.publish('secai.evt.vault.unlocked', new Uint8Array([0x80]));
  stolen.nc.subscribe('secai.vault.unlock');
  const got = await waitFor((v) => v.some((r) => r.payload.subject === 'secai.vault.unlock'), 'both violations');
  const pub = got.find((r) => r.payload.subject === 'secai.evt.vault.unlocked');
  t.ok(pub, 'the publish violation is in the audit chain');
  t.equal(pub?.payload.identity, 'gateway');
  t.equal(pub?.payload.kind, 'publish');
  t.equal(pub?.payload.count, 1);
  t.ok(Math.abs(Date.now() - (pub?.payload.at ?? 0)) < 60_000, 'at is a timestamp of now');
  t.equal(got.find((r) => r.payload.subject === 'secai.vault.unlock')?.payload.kind, 'subscribe');
});

t.test('permission violation — a flood of 5,000 forbidden publishes is a handful of records whose counts add up', async (t) => {
  const stolen = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'inference'), reconnect: false });
  t.teardown(() => stolen.close().catch(() => {})); // lint-ok: teardown
  // nats-server closes nothing for a violation: all 5,000 reach it and are logged.
  for (let i = 0; i < 5000; i++) stolen.nc.publish('secai.evt.audit.chain_verified', new Uint8Array([0x80]));
  await stolen.nc.flush();
  // The first is reported at once; the rest arrive as one counted report when the 10 s window ends.
  const got = await waitFor((v) => v.filter((r) => r.payload.identity === 'inference').reduce((n, r) => n + r.payload.count, 0) >= 5000, 'the counted summary');
  const mine = got.filter((r) => r.payload.identity === 'inference');
  t.ok(mine.length <= 3, `${mine.length} records for 5,000 violations`);
  t.equal(mine.reduce((n, r) => n + r.payload.count, 0), 5000, 'every violation counted once');
  t.ok(mine.every((r) => r.payload.subject === 'secai.evt.audit.chain_verified'));
});
