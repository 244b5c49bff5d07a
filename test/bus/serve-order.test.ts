// Served requests of one op run one at a time, in arrival order, even when handlers are async; a failing
// handler does not stop the next request.
import { allowedCallers } from '../../bus/acl.js';
import t from 'tap';
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { serveManifest } from '../../bus/service.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';

const counter = defineManifest({
  name: 'counter', kind: 'actor', description: 'slow async handler', entry: 'x.js',
  serves: { add: { request: s.object({ i: s.integer({ minimum: 0, maximum: 1000 }) }), reply: s.any(), description: 'adds' } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const caller = defineManifest({
  name: 'caller', kind: 'client', description: 'asks', serves: {}, commands: {}, publishes: {}, requests: ['counter.add'], subscribes: [],
});

t.test('serve — async handlers never overlap and see requests in order; a throw does not stop the queue', async (t) => {
  const bus = await startTestBus([counter, caller]);
  t.teardown(() => bus.stop());
  const server = await bus.connect('counter');
  const client = await bus.connect('caller');
  let inFlight = 0;
  let maxInFlight = 0;
  const seen: number[] = [];
  serveManifest({
    bus: server, manifest: counter, log: createLogger('test', 'silent'), operators: { lookup: () => undefined }, callers: allowedCallers([counter, caller]),
    ops: {
      add: async (r: { i: number }) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        seen.push(r.i);
        await new Promise((res) => setTimeout(res, r.i % 3));
        inFlight--;
        if (r.i === 7) throw new Error('seven fails');
        return { i: r.i };
      },
      ping: () => ({}), describe: () => ({}), snapshot: () => ({}),
    },
    commands: { ping: () => ({}) },
  });
  await server.nc.flush();
  // Published back to back on one connection: the server receives them in this order.
  const replies = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.request('counter', 'add', { i })));
  t.same(seen, Array.from({ length: 20 }, (_, i) => i), 'handled in arrival order');
  t.equal(maxInFlight, 1, 'never two at once');
  t.equal(replies.filter((r) => r.status === 'rejected').length, 1, 'only the failing request failed');
  t.same(replies.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ i: number }>).value.i), Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== 7));
});

const gated = defineManifest({
  name: 'gated', kind: 'actor', description: 'a concurrent op', entry: 'x.js',
  serves: { wait: { request: s.object({ i: s.integer({ minimum: 0, maximum: 1 }) }), reply: s.any(), description: 'waits', concurrent: true } },
  commands: {}, publishes: {}, requests: [], subscribes: [],
});
const gatedCaller = defineManifest({
  name: 'gcaller', kind: 'client', description: 'asks', serves: {}, commands: {}, publishes: {}, requests: ['gated.wait'], subscribes: [],
});

t.test('serve — a concurrent op answers a later request while an earlier one still waits', async (t) => {
  const bus = await startTestBus([gated, gatedCaller]);
  t.teardown(() => bus.stop());
  const server = await bus.connect('gated');
  const client = await bus.connect('gcaller');
  let open!: () => void;
  const gate = new Promise<void>((r) => { open = r; });
  const answered: number[] = [];
  serveManifest({
    bus: server, manifest: gated, log: createLogger('test', 'silent'), operators: { lookup: () => undefined }, callers: allowedCallers([gated, gatedCaller]),
    ops: {
      // Request 0 waits until request 1 has run: handled one at a time, 0 would never be answered.
      wait: async (r: { i: number }) => {
        if (r.i === 0) await gate;
        else open();
        answered.push(r.i);
        return { i: r.i };
      },
      ping: () => ({}), describe: () => ({}), snapshot: () => ({}),
    },
    commands: { ping: () => ({}) },
  });
  await server.nc.flush();
  const replies = await Promise.all([0, 1].map((i) => client.request('gated', 'wait', { i }, 3000)));
  t.same(replies, [{ i: 0 }, { i: 1 }]);
  t.same(answered, [1, 0], 'the later request ran while the earlier waited');
});
