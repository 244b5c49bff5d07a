// Only the quarantine actor may ask the registry to promote: checked in the compiled ACL and by a real nats-server.
import t from 'tap';
import { MANIFESTS } from '../../actors/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveSubject } from '../../bus/subjects.js';
import { startTestBus } from '../helpers/bus.js';

const PROMOTE = serveSubject('registry', 'promote');

/** Does a NATS subject pattern list cover `subject`? (`*` one token, `>` the rest) */
function covers(patterns: readonly string[], subject: string): boolean {
  const s = subject.split('.');
  return patterns.some((p) => {
    const q = p.split('.');
    for (let i = 0; i < q.length; i++) {
      if (q[i] === '>') return i < s.length;
      if (i >= s.length || (q[i] !== '*' && q[i] !== s[i])) return false;
    }
    return q.length === s.length;
  });
}

t.test('registry acl — only quarantine may publish secai.registry.promote (compiled ACL)', async (t) => {
  const acl = compileAcl(MANIFESTS);
  const allowed = acl.filter((id) => covers(id.permissions.publish.allow, PROMOTE)).map((id) => id.name);
  t.same(allowed, ['quarantine']);
  t.ok(acl.find((id) => id.name === 'registry')!.permissions.subscribe.allow.includes(PROMOTE), 'the registry serves it');
});

t.test('registry acl — a manifest cannot claim promotion without it being declared (cross-references are checked)', async (t) => {
  const rogue = defineManifest({ name: 'rogue', kind: 'actor', description: 'x', serves: {}, commands: {}, publishes: {}, requests: ['registry.promote_all'], subscribes: [] });
  t.throws(() => compileAcl([...MANIFESTS, rogue]), /promote_all/);
});

t.test('registry acl — real nats-server: every identity but quarantine is refused, quarantine gets through', async (t) => {
  const bus = await startTestBus(MANIFESTS);
  t.teardown(() => bus.stop());
  const reg = await bus.connect('registry');
  let served = 0;
  reg.subscribe(PROMOTE, (m) => { served++; m.respond(new Uint8Array([0xc0])); });
  await reg.nc.flush();
  for (const m of MANIFESTS) {
    if (m.name === 'registry') continue;
    const c = await bus.connect(m.name);
    try {
      await c.nc.request(PROMOTE, new Uint8Array([0x80]), { timeout: 1500 });
      t.equal(m.name, 'quarantine', `${m.name} reached registry.promote`);
    } catch (err) {
      t.not(m.name, 'quarantine', `${m.name} refused: ${(err as Error).message.slice(0, 80)}`);
    }
    await c.close();
  }
  t.equal(served, 1, 'exactly one promotion request arrived: the quarantine\'s');
  await reg.close();
});
