// Only the quarantine actor may ask the registry to promote, and only the auth actor may ask it to remove (after
// re-authenticating a web session): checked in the compiled ACL and by a real nats-server.
import t from 'tap';
import { MANIFESTS } from '../../runtime/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveSubject } from '../../bus/subjects.js';
import { startTestBus } from '../helpers/bus.js';
import { covers } from '../helpers/subject-covers.js';

const PROMOTE = serveSubject('registry', 'promote');
/** The ops only one identity may request: removal from the browser goes gateway → auth → (vault, registry). */
const SOLE: readonly { actor: string; op: string; only: string }[] = [
  { actor: 'registry', op: 'promote', only: 'quarantine' },
  { actor: 'registry', op: 'remove', only: 'auth' },
  { actor: 'vault', op: 'verify_passphrase', only: 'auth' },
  { actor: 'auth', op: 'remove_model', only: 'gateway' },
];


t.test('registry acl — only quarantine may publish secai.registry.promote (compiled ACL)', async (t) => {
  const acl = compileAcl(MANIFESTS);
  const allowed = acl.filter((id) => covers(id.permissions.publish.allow, PROMOTE)).map((id) => id.name);
  t.same(allowed, ['quarantine']);
  t.ok(acl.find((id) => id.name === 'registry')!.permissions.subscribe.allow.includes(PROMOTE), 'the registry serves it');
});

t.test('registry acl — removal: only auth may publish registry.remove and vault.verify_passphrase, only the gateway auth.remove_model (compiled ACL)', async (t) => {
  const acl = compileAcl(MANIFESTS);
  for (const { actor, op, only } of SOLE) {
    const subject = serveSubject(actor, op);
    t.same(acl.filter((id) => covers(id.permissions.publish.allow, subject)).map((id) => id.name), [only], `${subject}: ${only} only`);
    t.same(acl.filter((id) => covers(id.permissions.subscribe.allow, subject)).map((id) => id.name), [actor], `${subject}: served by ${actor} only`);
  }
});

t.test('registry acl — a manifest cannot claim promotion without it being declared (cross-references are checked)', async (t) => {
  const rogue = defineManifest({ name: 'rogue', kind: 'actor', description: 'x', serves: {}, commands: {}, publishes: {}, requests: ['registry.promote_all'], subscribes: [] });
  t.throws(() => compileAcl([...MANIFESTS, rogue]), /promote_all/);
});

for (const { actor, op, only } of SOLE) {
  const subject = serveSubject(actor, op);
  t.test(`registry acl — real nats-server: every identity but ${only} is refused ${subject}, ${only} gets through`, async (t) => {
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
