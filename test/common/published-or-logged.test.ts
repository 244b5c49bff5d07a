// An event that cannot be published is logged and counted, never swallowed (common/published-or-logged.ts).
import { Writable } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { UnpublishedEvents } from '../../common/published-or-logged.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  return { log: pino({ level: 'info' }, stream), lines };
}

t.test('unpublished events — a failed publish resolves false, is counted, logged with the event and the error, and reported', async (t) => {
  const { log, lines } = capture();
  const reported: number[] = [];
  const u = new UnpublishedEvents(log, (n) => reported.push(n));
  t.equal(await u.settle('locked', Promise.resolve()), true, 'a published event resolves true');
  t.equal(u.count, 0, 'and is not counted');
  t.equal(await u.settle('locked', Promise.reject(new SecaiError(ErrorCode.NO_RESPONDER, 'no stream'))), false, 'a failed one resolves false (never rejects)');
  t.equal(u.count, 1, 'and is counted');
  t.same(reported, [1], 'the new total is reported');
  t.equal(lines.length, 1, 'one log line');
  t.match(lines[0], { level: 50, event: 'locked', err: `${ErrorCode.NO_RESPONDER}: no stream`, unpublishedEvents: 1, msg: 'event locked not published' });
});

t.test('unpublished events — a flood of failures is counted exactly but logged once per event per 10 s', async (t) => {
  const { log, lines } = capture();
  let now = 1_000_000;
  const u = new UnpublishedEvents(log, undefined, () => now);
  for (let i = 0; i < 50; i++) await u.settle('stage', Promise.reject(new Error('bus down')));
  await u.settle('refused', Promise.reject(new Error('bus down')));
  t.equal(u.count, 51, 'every failure counted');
  t.same(lines.map((l) => l['event']), ['stage', 'refused'], 'one line per event name');
  now += 10_000;
  await u.settle('stage', Promise.reject(new Error('bus down')));
  t.equal(lines.length, 3, 'a line again after 10 s');
  t.match(lines[2], { event: 'stage', unpublishedEvents: 52, suppressedSinceLastLine: 49 }, 'saying how many were not written');
});

t.test('unpublished events — a failing count reporter is logged, not thrown into the caller', async (t) => {
  const { log, lines } = capture();
  const u = new UnpublishedEvents(log, () => { throw new Error('ipc closed'); });
  t.equal(await u.settle('x', Promise.reject(new Error('bus down'))), false);
  t.equal(u.count, 1);
  t.match(lines[1], { level: 40, err: 'ipc closed' });
});
