import t from 'tap';
import { createInbox } from '@nats-io/nats-core';
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { serveManifest } from '../../bus/service.js';
import { encode } from '../../bus/codec.js';
import { compileAcl, STREAM_MAX_RESPONSES } from '../../bus/acl.js';
import { inboxPrefix, serveSubject } from '../../bus/subjects.js';
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

t.test('bus stream — only identities with a streaming op may answer a request many times', async (t) => {
  const acl = compileAcl([streamer, plain, caller]);
  t.equal(acl.find((a) => a.name === 'streamer')?.permissions.allow_responses?.max, STREAM_MAX_RESPONSES);
  t.equal(acl.find((a) => a.name === 'plain')?.permissions.allow_responses?.max, 1);
});

t.test('bus stream — chunks arrive in order, then the final reply; a non-streaming actor still cannot answer twice', async (t) => {
  const bus = await startTestBus([streamer, plain, caller]);
  t.teardown(() => bus.stop());
  const sb = await bus.connect('streamer');
  const pb = await bus.connect('plain');
  const cb = await bus.connect('caller');
  const log = createLogger('test');
  serveManifest({
    bus: sb, manifest: streamer, log, commands: { ping: () => ({}) }, operators: { lookup: () => undefined },
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

  const inbox = createInbox(inboxPrefix('caller'));
  let received = 0;
  const sub = cb.nc.subscribe(inbox, { callback: () => { received++; } });
  cb.nc.publish(serveSubject('plain', 'once'), encode({}), { reply: inbox });
  await new Promise((res) => setTimeout(res, 400));
  sub.unsubscribe();
  t.equal(received, 1, 'the server dropped the second and third answers of a non-streaming identity');
});

t.test('bus stream — no responder is a clean NO_RESPONDER error, not a hang', async (t) => {
  const bus = await startTestBus([streamer, plain, caller]);
  t.teardown(() => bus.stop());
  const cb = await bus.connect('caller');
  const it = cb.requestStream('streamer', 'gen', { n: 1 }, 300);
  await t.rejects(it.next(), { code: 'SECAI_E_NO_RESPONDER' });
});
