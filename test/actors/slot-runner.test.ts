// The slot runner's liveness against real processes: the kernel's view every beat (no wakeup of the actor), the
// event-loop ping only on due beats, and the two hangs each layer exists for: a stopped process and a loop that hangs
// while its process sleeps (which the kernel cannot tell from idle).
import t, { type Test } from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log.js';
import { SlotRunner, type SlotRunnerOptions } from '../../actors/supervisor/slot-runner.js';
import { isStopped, procView } from '../../actors/supervisor/proc-view.js';
import { until } from '../faults/helpers.js';

// A stand-in actor: the host's IPC protocol (ready, heartbeat answers), reporting how many pings reached it; on
// { type: 'hang' } it marks a file and blocks its event loop forever while the process sleeps (Atomics.wait).
const CHILD = `
let received = 0;
process.on('message', (m) => {
  if (m && m.type === 'heartbeat') { received++; process.send({ type: 'heartbeat', seq: m.seq, received }); }
  if (m && m.type === 'hang') { require('node:fs').writeFileSync(m.marker, '1'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); }
});
process.send({ type: 'ready', actor: 'stand-in', pid: process.pid });
`;

function harness(t: Test, bus?: SlotRunnerOptions['bus']) {
  const dir = mkdtempSync(join(tmpdir(), 'secai-slot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.cjs');
  writeFileSync(script, CHILD);
  const children: ChildProcess[] = [];
  const answers: number[] = [];
  const events: string[] = [];
  const runner = new SlotRunner({
    name: 'stand-in',
    fork: () => {
      const c = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      c.on('message', (m: { type?: string; received?: number }) => { if (m?.type === 'heartbeat') answers.push(m.received ?? -1); });
      children.push(c);
      return c;
    },
    policy: { baseMs: 60_000, maxMs: 60_000, stableMs: 60_000, giveUpAfter: 5 },
    readyTimeoutMs: 30_000, heartbeatMs: 1000, heartbeatMisses: 3, ...(bus && { bus }),
    log: createLogger('slot-runner-test', 'silent'),
    report: (event) => events.push(event),
    onChange: () => {},
  });
  t.teardown(() => runner.stop(1000));
  return { dir, runner, children, answers, events };
}

t.test('slot runner — with the bus answering, the due check is one bus ping and no IPC message', async (t) => {
  let asked = 0;
  const h = harness(t, { ping: async () => { asked++; return {}; }, healthy: () => true });
  await h.runner.start();
  for (let i = 0; i < 5; i++) h.runner.beat(false);
  t.equal(asked, 0, 'not due: not asked');
  h.runner.beat(true);
  t.equal(asked, 1);
  await until('the bus answer taken', () => h.runner.snapshot.context.missed === 0 || undefined);
  h.runner.beat(false);
  t.same(h.answers, [], 'no heartbeat reached the actor over IPC');
});

t.test('slot runner — beats between due pings send the actor nothing; with the bus down the due ping goes over IPC', async (t) => {
  const h = harness(t, { ping: () => Promise.reject(new Error('must not be asked while the bus is down')), healthy: () => false });
  await h.runner.start();
  for (let i = 0; i < 20; i++) h.runner.beat(false);
  h.runner.beat(true);
  const received = await until('the due ping answered', () => h.answers[0]);
  t.equal(received, 1, 'twenty beats, one due ping: the actor was woken once');
  t.equal(h.runner.snapshot.context.missed, 0, 'answered: nothing outstanding');
  t.equal(h.runner.state, 'ready');
});

t.test('slot runner — a SIGSTOPped actor is counted from the kernel view alone and killed on the fourth beat', async (t) => {
  const h = harness(t);
  await h.runner.start();
  const pid = h.runner.pid;
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(pid, 'SIGCONT'); } catch { /* lint-ok: already killed */ } });
  // The kernel tells the parent with SIGCHLD; until the runner has read /proc on it, a beat changes nothing.
  await until('the first stopped beat counted', () => { h.runner.beat(false); return h.runner.snapshot.context.missed === 1 || undefined; });
  t.ok(isStopped(procView(pid)), 'the kernel reports it stopped');
  for (let i = 1; i < 3; i++) {
    h.runner.beat(false);
    t.equal(h.runner.state, 'ready', `stopped beat ${i + 1}: counted, not yet killed`);
  }
  t.equal(h.runner.snapshot.context.missed, 3, 'no due ping was needed to count');
  h.runner.beat(false);
  t.equal(h.runner.state, 'unresponsive');
  t.match(h.runner.snapshot.context.lastReason, /unresponsive: 3 heartbeats unanswered/);
  const exit = await new Promise<string | null>((resolve) => {
    const c = h.children[0]!;
    if (c.exitCode !== null || c.signalCode !== null) resolve(c.signalCode);
    else c.once('exit', (_code, sig) => resolve(sig));
  });
  t.equal(exit, 'SIGKILL', 'killed: a stopped process does not read SIGTERM');
  t.ok(h.events.includes('actor_unresponsive'), 'reported');
});

t.test('slot runner — a loop hung while its process sleeps looks idle to the kernel; the due ping catches it', async (t) => {
  const h = harness(t);
  await h.runner.start();
  const pid = h.runner.pid;
  const marker = join(h.dir, 'hung');
  h.children[0]!.send({ type: 'hang', marker });
  await until('the loop is blocked', () => existsSync(marker) || undefined);
  for (let i = 0; i < 5; i++) h.runner.beat(false);
  t.notOk(isStopped(procView(pid)), 'not stopped: the kernel view alone cannot tell');
  t.equal(h.runner.snapshot.context.missed, 0, 'not counted between pings');
  h.runner.beat(true);
  for (let i = 0; i < 2; i++) h.runner.beat(false);
  t.equal(h.runner.state, 'ready', 'the ping is outstanding for three beats');
  h.runner.beat(false);
  t.equal(h.runner.state, 'unresponsive', 'the fourth beat after the due ping kills it');
  t.same(h.answers, [], 'it never answered');
});
