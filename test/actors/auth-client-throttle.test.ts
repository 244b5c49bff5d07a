// The per-client login throttle as pure functions: ladders apart, the global ceiling, bursts, the persisted shapes.
import t from 'tap';
import { checkClient, EMPTY, parseThrottle, recordClientFailure, recordClientSuccess, type ThrottlePolicy, type ThrottleState } from '../../actors/auth/client-throttle.js';

const p: ThrottlePolicy = { free_attempts: 3, base_delay_seconds: 1, max_delay_seconds: 300, lockout_after: 10, lockout_minutes: 15, global_max_failures: 25, global_window_minutes: 60 };
const T0 = 1_700_000_000_000;

function fail(s: ThrottleState, client: string, n: number, at = T0) {
  let r = { state: s, failures: 0, total: 0 } as ReturnType<typeof recordClientFailure>;
  for (let i = 0; i < n; i++) r = recordClientFailure(r.state, client, p, at);
  return r;
}

t.test('client throttle — one client\'s lockout leaves another client\'s ladder untouched', async (t) => {
  const r = fail(EMPTY, 'anonymous', 10);
  t.throws(() => checkClient(r.state, 'anonymous', p, T0 + 1000), { code: 'SECAI_E_RATE_LIMITED', message: /locked out after 10 failed attempts/ });
  t.doesNotThrow(() => checkClient(r.state, 'device:abc', p, T0 + 1000), 'a device with no failures is not held up');
  t.doesNotThrow(() => checkClient(r.state, 'anonymous', p, T0 + 15 * 60_000), 'the lockout ends');
});

t.test('client throttle — the global ceiling holds every client once all together reach it', async (t) => {
  let r = fail(EMPTY, 'a', 3);
  for (let i = 0; i < 7; i++) r = fail(r.state, `c${i}`, 3);
  t.equal(r.total, 24);
  t.doesNotThrow(() => checkClient(r.state, 'fresh', p, T0 + 1));
  r = recordClientFailure(r.state, 'z', p, T0);
  t.equal(r.burst, 'global', 'reaching the ceiling is a burst');
  t.throws(() => checkClient(r.state, 'fresh', p, T0 + 1), { code: 'SECAI_E_RATE_LIMITED', message: /25 failed attempts from all clients/ });
  t.doesNotThrow(() => checkClient(r.state, 'fresh', p, T0 + 60 * 60_000 + 1), 'the window moves on');
  t.equal(recordClientSuccess(r.state, 'a').recent.length, 25, 'a success clears its own ladder only, not the global count');
});

t.test('client throttle — bursts: the lockout of a ladder, and every failure after a lockout ends', async (t) => {
  const nine = fail(EMPTY, 'anonymous', 9);
  t.equal(nine.burst, undefined);
  const ten = recordClientFailure(nine.state, 'anonymous', p, T0);
  t.match(ten, { burst: 'client', failures: 10, total: 10 });
  t.equal(recordClientFailure(ten.state, 'anonymous', p, T0 + 15 * 60_000).burst, 'client');
});

t.test('client throttle — the state stays bounded however many clients a guesser mints', async (t) => {
  let s = EMPTY;
  for (let i = 0; i < 400; i++) s = recordClientFailure(s, `mint-${i}`, { ...p, global_max_failures: 10_000 }, T0 + i).state;
  t.equal(Object.keys(s.clients).length, 256);
  t.ok(s.clients['mint-399'], 'the newest stays');
  t.notOk(s.clients['mint-0'], 'the stalest went');
});

t.test('client throttle — the persisted file: the old single-ladder shape becomes the anonymous ladder; junk is refused', async (t) => {
  t.same(parseThrottle(JSON.stringify({ failures: 4, lastFailureAt: T0 }), 'anonymous'), { clients: { anonymous: { failures: 4, lastFailureAt: T0 } }, recent: [] });
  const s = fail(EMPTY, 'x', 2).state;
  t.same(parseThrottle(JSON.stringify(s), 'anonymous'), s);
  for (const bad of ['{}', '[]', 'null', '{"clients":{"a":{"failures":-1,"lastFailureAt":0}},"recent":[]}', '{"clients":{},"recent":["x"]}']) {
    t.equal(parseThrottle(bad, 'anonymous'), undefined, bad);
  }
});
