// The gateway's observation API on a real appliance's bus, under the gateway's identity: machines, audit tail/verify, the SSE stream.
import t from 'tap';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { createLogger } from '../../common/log.js';
import { describableActors, observeRoutes } from '../../actors/gateway/routes/observe.js';
import { ACTOR_MANIFESTS } from '../../runtime/catalog.js';
import { gatewayManifest } from '../../actors/gateway/manifest.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { serveRoutes } from '../helpers/route-server.js';

const a = await startAppliance();
const paths = homePaths(a.home);
const bus = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'gateway'), reconnect: false });
// Admit every route: the session guard is the auth feature's; this tests what the routes do behind it.
const srv = await serveRoutes(observeRoutes({ bus, log: createLogger('gateway-test'), paths, configDir: 'policy' }), () => {});
t.teardown(async () => { await srv.close(); await bus.close(); await disposeAppliance(a); });

interface Graph { key: string; children: Graph[] }

t.test('gateway observe — the visualizer can see every actor process (add <actor>.describe and <actor>.snapshot to the gateway requests)', async (t) => {
  t.same(describableActors().sort(), ['supervisor', ...ACTOR_MANIFESTS.map((m) => m.name)].sort());
  const req = gatewayManifest.requests as readonly string[];
  for (const m of ACTOR_MANIFESTS) if (m.name !== 'gateway') t.ok(req.includes(`${m.name}.snapshot`), `${m.name}.snapshot requested`);
});

t.test('gateway observe — /api/machines describes every actor, with its state', async (t) => {
  const r = await (await fetch(`${srv.url}/api/machines`)).json() as { machines: { actor: string; graph?: Graph; snapshot?: { value: unknown } | null; error?: unknown }[] };
  const audit = r.machines.find((m) => m.actor === 'audit');
  t.ok(audit?.graph, 'audit described');
  t.same(audit!.graph!.children.map((c) => c.key).sort(), ['broken', 'following', 'verifying']);
  t.ok(audit!.snapshot && ['following', 'verifying'].includes(audit!.snapshot.value as string), 'audit has a current state');
  const gw = r.machines.find((m) => m.actor === 'gateway');
  t.same(gw?.graph?.children.map((c) => c.key).sort(), ['closed', 'closing', 'failed', 'opening', 'serving']);
  t.equal(r.machines.filter((m) => m.error).length, 0, 'every listed actor answered');
  // Supervision is drawn too: one region per actor slot, each with the slot machine's states, and the live value.
  const sup = r.machines.find((m) => m.actor === 'supervisor');
  t.same(sup?.graph?.children.map((c) => c.key).sort(), ACTOR_MANIFESTS.map((m) => m.name).sort(), 'one region per actor');
  t.same(sup!.graph!.children[0]!.children.map((c) => c.key).sort(), ['backoff', 'failed', 'ready', 'starting', 'stopped', 'unresponsive']);
  t.same(sup!.snapshot!.value, Object.fromEntries(ACTOR_MANIFESTS.map((m) => [m.name, 'ready'])), 'every slot ready');
});

t.test('gateway observe — audit tail validates its query', async (t) => {
  for (const q of ['n=0', 'n=1001', 'n=abc', 'n=-1', 'n=1e3', 'subject=a%20b', `subject=${'x'.repeat(300)}`]) {
    const r = await fetch(`${srv.url}/api/audit/tail?${q}`);
    t.equal(r.status, 400, `${q} refused`);
    t.equal((await r.json() as { error: { code: string } }).error.code, 'SECAI_E_USAGE');
  }
  const ok = await (await fetch(`${srv.url}/api/audit/tail?n=3&subject=secai.evt.`)).json() as { records: { subject: string }[] };
  t.ok(ok.records.length <= 3);
  t.ok(ok.records.every((r) => r.subject.startsWith('secai.evt.')));
});

t.test('gateway observe — the SSE stream carries the audit actor through verifying and the chain_verified record', async (t) => {
  const ctl = new AbortController();
  const res = await fetch(`${srv.url}/api/events`, { signal: ctl.signal });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  // The stream is open once its first comment arrives; then ask for a verification over HTTP (read-only op).
  while (!text.includes(': secai events')) text += (await reader.read()).value ?? '';
  const verdict = await (await fetch(`${srv.url}/api/audit/verify`, { method: 'POST' })).json() as { ok: boolean; records: number };
  t.equal(verdict.ok, true, 'chain intact');
  const deadline = Date.now() + 15_000;
  const events = () => text.split('\n\n').filter((b) => b.startsWith('event: ')).map((b) => ({ type: b.slice(7, b.indexOf('\n')), data: JSON.parse(b.slice(b.indexOf('data: ') + 6)) as Record<string, unknown> }));
  const seen = () => {
    const ev = events();
    return ev.some((e) => e.type === 'state' && e.data.actor === 'audit' && e.data.event === 'audit.verify' && e.data.value === 'verifying')
      && ev.some((e) => e.type === 'audit' && e.data.subject === 'secai.evt.audit.chain_verified');
  };
  while (!seen() && Date.now() < deadline) text += (await reader.read()).value ?? '';
  t.ok(seen(), 'state audit.verify → verifying, and the chain_verified record, both streamed');
  const seqs = events().filter((e) => e.type === 'audit').map((e) => e.data.seq as number);
  t.same(seqs, [...seqs].sort((x, y) => x - y), 'audit records in chain order');
  t.equal(new Set(seqs).size, seqs.length, 'no record twice');
  ctl.abort();
});

t.test('gateway observe — at most 16 event streams at once (4 per session: test/adversarial/gateway-sse-cap.test.ts)', async (t) => {
  const ctls = Array.from({ length: 16 }, () => new AbortController());
  const open = await Promise.all(ctls.map((c, i) => fetch(`${srv.url}/api/events`, { signal: c.signal, headers: { cookie: `secai_session=s${i % 4}` } })));
  t.ok(open.every((r) => r.status === 200));
  const extra = await fetch(`${srv.url}/api/events`, { headers: { cookie: 'secai_session=s9' } });
  t.equal(extra.status, 429, 'the 17th is refused');
  ctls.forEach((c) => c.abort());
  // Closed streams free their slots.
  let again = 0;
  for (let i = 0; i < 50 && again !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const c = new AbortController();
    const r = await fetch(`${srv.url}/api/events`, { signal: c.signal });
    again = r.status;
    c.abort();
  }
  t.equal(again, 200, 'slots are freed when streams close');
});
