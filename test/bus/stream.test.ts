import t from 'tap';
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { serveManifest } from '../../bus/service.js';
import { encode } from '../../bus/codec.js';
import { allowedCallers, compileAcl } from '../../bus/acl.js';
import { serveSubject } from '../../bus/subjects.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';

const streamer = defineManifest({
  name: 'streamer', kind: 'actor', description: 'streams', entry: 'x.js',
  serves: { gen: { request: s.object({ n: s.integer({ minimum: 0, maximum: 100 }) }), reply: s.any(), description: 'n chunks', stream: true, timeoutMs: 2000 } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const plain = defineManifest({
  name: 'plain', kind: 'actor', description: 'answers once', entry: 'y.js',
  serves: { once: { request: s.empty(), reply: s.any(), description: 'one reply' } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const caller = defineManifest({
  name: 'caller', kind: 'client', description: 'asks', serves: {}, commands: {}, publishes: {},
  requests: ['streamer.gen', 'plain.once'], subscribes: [],
});

t.test('bus stream — responders answer into the inbox of the identity that asks them, and nowhere else', async (t) => {
  const acl = compileAcl([streamer, plain, caller]);
  for (const name of ['streamer', 'plain']) {
    t.same(acl.find((a) => a.name === name)?.permissions.publish.allow.filter((x) => x.startsWith('_INBOX.')), ['_INBOX.caller.>']);
  }
});

t.test('bus stream — chunks arrive in order, then the final reply; extra answers of a non-streaming actor are not read', async (t) => {
  const bus = await startTestBus([streamer, plain, caller]);
  t.teardown(() => bus.stop());
  const sb = await bus.connect('streamer');
  const pb = await bus.connect('plain');
  const cb = await bus.connect('caller');
  const log = createLogger('test');
  serveManifest({
    bus: sb, manifest: streamer, log, commands: { ping: () => ({}) }, operators: { lookup: () => undefined }, callers: allowedCallers([streamer, plain, caller]),
    ops: {
      gen: async (req: { n: number }, call) => {
        for (let i = 0; i < req.n; i++) call.chunk?.({ i });
        return { total: req.n };
      },
      ping: () => ({}), describe: () => ({}), snapshot: () => ({}),
    },
  });
  // The plain actor misbehaves on purpose: it answers every request three times.
  pb.nc.subscribe(serveSubject('plain', 'once'), {
    callback: (_e, m) => { for (let i = 0; i < 3; i++) m.respond(encode({ ok: true, data: i })); },
  });
  await sb.nc.flush();
  await pb.nc.flush();

  const got: unknown[] = [];
  const it = cb.requestStream<{ i: number }, { total: number }>('streamer', 'gen', { n: 5 }, 2000);
  let r = await it.next();
  while (!r.done) { got.push(r.value); r = await it.next(); }
  t.same(got, [0, 1, 2, 3, 4].map((i) => ({ i })));
  t.same(r.value, { total: 5 });

  // Two concurrent streams do not mix.
  const collect = async (n: number) => { const a: unknown[] = []; for await (const c of cb.requestStream('streamer', 'gen', { n }, 2000)) a.push(c); return a.length; };
  t.same(await Promise.all([collect(7), collect(3)]), [7, 3]);

  // A schema error comes back as the final reply, as a coded error.
  await t.rejects(collect(1000), { code: 'SECAI_E_SCHEMA' });

  // A request takes the first answer; the two extra ones fall on a request already settled.
  t.equal(await cb.request('plain', 'once', {}), 0, 'the first answer is the reply');
  t.equal(await cb.request('plain', 'once', {}), 0, 'the next request is not answered by a leftover of the last one');
});

t.test('bus stream — no responder is a clean NO_RESPONDER error, not a hang', async (t) => {
  const bus = await startTestBus([streamer, plain, caller]);
  t.teardown(() => bus.stop());
  const cb = await bus.connect('caller');
  const it = cb.requestStream('streamer', 'gen', { n: 1 }, 300);
  await t.rejects(it.next(), { code: 'SECAI_E_NO_RESPONDER' });
});
