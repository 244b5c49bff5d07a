import t from 'tap';
import { DEFAULT_BACKOFF, nextDelay } from '../../actors/supervisor/backoff.js';

t.test('backoff — doubles on quick crashes, caps, and forgives a stable run', async (t) => {
  let streak = 0;
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    const b = nextDelay(DEFAULT_BACKOFF, streak, 50);
    delays.push(b.delayMs);
    streak = b.streak;
  }
  t.same(delays.slice(0, 5), [100, 200, 400, 800, 1600]);
  t.equal(Math.max(...delays), DEFAULT_BACKOFF.maxMs);
  t.same(nextDelay(DEFAULT_BACKOFF, streak, DEFAULT_BACKOFF.stableMs), { delayMs: 100, streak: 0 });
});
