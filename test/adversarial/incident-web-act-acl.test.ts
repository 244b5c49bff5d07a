// Acknowledge/resolve from the web UI goes gateway → auth (session and passphrase again) → incident: only auth may ask
// the incident actor to act for a web session, and only the gateway may ask auth. Checked in the compiled ACL, by the
// ACL compiler against a manifest that claims it, and by a real nats-server against every identity.
import t from 'tap';
import { MANIFESTS } from '../../runtime/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveSubject } from '../../bus/subjects.js';
import { startTestBus } from '../helpers/bus.js';
import { covers } from '../helpers/subject-covers.js';

const SOLE: readonly { actor: string; op: string; only: string }[] = [
  { actor: 'incident', op: 'act_for_session', only: 'auth' },
  { actor: 'auth', op: 'incident_act', only: 'gateway' },
];


t.test('incident web acl — compiled ACL: only auth may publish incident.act_for_session, only the gateway auth.incident_act', async (t) => {
  const acl = compileAcl(MANIFESTS);
  for (const { actor, op, only } of SOLE) {
    const subject = serveSubject(actor, op);
    t.same(acl.filter((id) => covers(id.permissions.publish.allow, subject)).map((id) => id.name), [only], `${subject}: ${only} only`);
    t.same(acl.filter((id) => covers(id.permissions.subscribe.allow, subject)).map((id) => id.name), [actor], `${subject}: served by ${actor} only`);
  }
});

t.test('incident web acl — the compiler refuses any other manifest that requests incident.act_for_session (per-op callers)', async (t) => {
  const gateway = MANIFESTS.find((m) => m.name === 'gateway')!;
  const greedy = { ...gateway, requests: [...gateway.requests, 'incident.act_for_session'] };
  t.throws(() => compileAcl(MANIFESTS.map((m) => (m.name === 'gateway' ? greedy : m))), /gateway requests 'incident\.act_for_session', which only auth may ask/);
  const rogue = defineManifest({ name: 'rogue', kind: 'actor', entry: 'x.js', description: 'x', serves: {}, commands: {}, publishes: {}, requests: ['incident.act_for_session'], subscribes: [] });
  t.throws(() => compileAcl([...MANIFESTS, rogue]), /only auth may ask/);
});

for (const { actor, op, only } of SOLE) {
  const subject = serveSubject(actor, op);
  t.test(`incident web acl — real nats-server: every identity but ${only} is refused ${subject}, ${only} gets through`, async (t) => {
    const bus = await startTestBus(MANIFESTS);
    t.teardown(() => bus.stop());
    const server = await bus.connect(actor);
    let served = 0;
    server.subscribe(subject, (m) => { served++; m.respond(new Uint8Array([0xc0])); });
    await server.nc.flush();
    for (const m of MANIFESTS) {
      if (m.name === actor) continue;
      const c = await bus.connect(m.name);
      try {
        await c.nc.request(subject, new Uint8Array([0x80]), { timeout: 1500 });
        t.equal(m.name, only, `${m.name} reached ${subject}`);
      } catch (err) {
        t.not(m.name, only, `${m.name} refused: ${(err as Error).message.slice(0, 80)}`);
      }
      await c.close();
    }
    t.equal(served, 1, `exactly one request arrived: ${only}'s`);
    await server.close();
  });
}
