import t from 'tap';
import { checkAttempt, delayMs, FRESH, nextAllowedAt, recordFailure, type LoginPolicy } from '../../actors/auth/rate-limit.js';
import { SessionStore } from '../../actors/auth/sessions.js';

const policy: LoginPolicy = { free_attempts: 3, base_delay_seconds: 1, max_delay_seconds: 300, lockout_after: 10, lockout_minutes: 15 };

t.test('login throttle — the delay schedule: 3 free, then 1 s doubling to the cap, then a 15 min lockout', async (t) => {
  const schedule = Array.from({ length: 12 }, (_, i) => delayMs(i, policy));
  t.same(schedule, [0, 0, 0, 0, 1000, 2000, 4000, 8000, 16000, 32000, 900_000, 900_000]);
  t.equal(delayMs(9, { ...policy, max_delay_seconds: 10 }), 10_000, 'capped');
});

t.test('login throttle — attempts are refused until the delay passes (injected clock)', async (t) => {
  let s = FRESH;
  let now = 1_000_000;
  for (let i = 0; i < 4; i++) {
    checkAttempt(s, policy, now);
    s = recordFailure(s, now);
  }
  t.equal(s.failures, 4);
  t.throws(() => checkAttempt(s, policy, now + 999), { code: 'SECAI_E_RATE_LIMITED' });
  t.doesNotThrow(() => checkAttempt(s, policy, now + 1000));
  now += 1000;
  s = recordFailure(s, now);
  t.throws(() => checkAttempt(s, policy, now + 1999), { code: 'SECAI_E_RATE_LIMITED' });
  t.doesNotThrow(() => checkAttempt(s, policy, now + 2000));
  // Straight to the lockout.
  const locked = { failures: 10, lastFailureAt: now };
  t.throws(() => checkAttempt(locked, policy, now + 14 * 60_000), { code: 'SECAI_E_RATE_LIMITED', message: /locked out/ });
  t.doesNotThrow(() => checkAttempt(locked, policy, now + 15 * 60_000));
  t.equal(nextAllowedAt(FRESH, policy), 0);
});

t.test('sessions — ids are 256-bit, new on every login, and stored only hashed', async (t) => {
  const store = new SessionStore({ lifetimeMs: 3_600_000, idleMs: 600_000 });
  const a = store.create();
  const b = store.create();
  t.equal(Buffer.from(a.sessionId, 'base64url').length, 32);
  t.not(a.sessionId, b.sessionId);
  t.not(a.csrf, b.csrf);
  const dump = JSON.stringify([...(store as unknown as { byHash: Map<string, unknown> }).byHash]);
  t.notOk(dump.includes(a.sessionId), 'the raw id is not kept');
  t.equal(store.validate(a.sessionId, a.csrf).handle, a.handle);
});

t.test('sessions — proof: missing or wrong token refused on every request, another session\'s token too', async (t) => {
  const store = new SessionStore({ lifetimeMs: 3_600_000, idleMs: 600_000 });
  const a = store.create();
  const b = store.create();
  t.throws(() => store.validate(a.sessionId, undefined), { code: 'SECAI_E_CSRF' });
  t.throws(() => store.validate(a.sessionId, 'x'.repeat(43)), { code: 'SECAI_E_CSRF' });
  t.throws(() => store.validate(a.sessionId, b.csrf), { code: 'SECAI_E_CSRF' });
  t.ok(store.validate(a.sessionId, a.csrf));
  t.throws(() => store.validate('made-up-session-id', a.csrf), { code: 'SECAI_E_UNAUTHORIZED' });
  t.throws(() => store.validate(undefined, undefined), { code: 'SECAI_E_UNAUTHORIZED' });
  t.notOk(store.proven(a.sessionId, undefined), 'status: the cookie alone is not signed in');
  t.notOk(store.proven(a.sessionId, b.csrf), 'status: another session\'s proof is not this one');
  t.ok(store.proven(a.sessionId, a.csrf));
});

t.test('sessions — expiry, idle timeout, logout and revocation (injected clock)', async (t) => {
  let now = 0;
  const store = new SessionStore({ lifetimeMs: 10_000, idleMs: 3_000 }, () => now);
  const a = store.create();
  now = 2_900;
  t.ok(store.validate(a.sessionId, a.csrf));
  now = 5_800;
  t.ok(store.validate(a.sessionId, a.csrf), 'activity keeps it alive');
  now = 8_800;
  t.throws(() => store.validate(a.sessionId, a.csrf), { code: 'SECAI_E_UNAUTHORIZED' }, 'idle for 3 s');
  const b = store.create();
  for (now = 9_000; now < 18_000; now += 2_000) store.validate(b.sessionId, b.csrf);
  now = 19_000;
  t.throws(() => store.validate(b.sessionId, b.csrf), { code: 'SECAI_E_UNAUTHORIZED' }, 'expired despite activity');
  const c = store.create();
  const d = store.create();
  t.equal(store.list().length, 2);
  t.ok(store.revoke(c.handle));
  t.throws(() => store.validate(c.sessionId, c.csrf), { code: 'SECAI_E_UNAUTHORIZED' });
  t.equal(store.revokeAll(d.handle), 0);
  t.ok(store.end(d.sessionId));
  t.equal(store.list().length, 0);
});
