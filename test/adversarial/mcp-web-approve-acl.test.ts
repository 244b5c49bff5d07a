// Approving an MCP tool from the web UI goes gateway → auth (session and passphrase again) → mcp-firewall.approve_web:
// only auth may ask the firewall to pin for a web session, and only the gateway may ask auth. Checked in the compiled
// ACL, by the ACL compiler against a manifest that claims it, and by a real nats-server against every identity.
import t from 'tap';
import { MANIFESTS } from '../../runtime/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { serveSubject } from '../../bus/subjects.js';
import { startTestBus } from '../helpers/bus.js';
import { covers } from '../helpers/subject-covers.js';

const SOLE: readonly { actor: string; op: string; only: string }[] = [
  { actor: 'mcp-firewall', op: 'approve_web', only: 'auth' },
  { actor: 'auth', op: 'mcp_approve', only: 'gateway' },
];


t.test('mcp web approve acl — compiled ACL: only auth may publish mcp-firewall.approve_web, only the gateway auth.mcp_approve', async (t) => {
  const acl = compileAcl(MANIFESTS);
  for (const { actor, op, only } of SOLE) {
    const subject = serveSubject(actor, op);
    t.same(acl.filter((id) => covers(id.permissions.publish.allow, subject)).map((id) => id.name), [only], `${subject}: ${only} only`);
    t.same(acl.filter((id) => covers(id.permissions.subscribe.allow, subject)).map((id) => id.name), [actor], `${subject}: served by ${actor} only`);
  }
});

t.test('mcp web approve acl — the compiler refuses the gateway (or the agent) requesting approve_web itself', async (t) => {
  for (const name of ['gateway', 'agent']) {
    const m = MANIFESTS.find((x) => x.name === name);
    if (!m) continue;
    const greedy = { ...m, requests: [...m.requests, 'mcp-firewall.approve_web'] };
    t.throws(() => compileAcl(MANIFESTS.map((x) => (x.name === name ? greedy : x))), new RegExp(`${name} requests 'mcp-firewall\\.approve_web', which only auth may ask`));
  }
});

for (const { actor, op, only } of SOLE) {
  const subject = serveSubject(actor, op);
  t.test(`mcp web approve acl — real nats-server: every identity but ${only} is refused ${subject}`, async (t) => {
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
