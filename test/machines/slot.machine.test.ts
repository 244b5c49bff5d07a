import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { slotMachine, supervisionChart } from '../../machines/supervisor/slot.machine.js';
import { describeMachine } from '../../runtime/describe-machine.js';

type Snap = ReturnType<typeof initialTransition<typeof slotMachine>>[0];
const names = (actions: readonly unknown[]) => actions.map((a) => (a as { type: string }).type);
const input = { name: 'audit', policy: { baseMs: 100, maxMs: 1000, stableMs: 30_000, giveUpAfter: 3 }, missedLimit: 3 };
const start = () => initialTransition(slotMachine, input);
const send = (s: Snap, e: Parameters<typeof transition<typeof slotMachine>>[2]) => transition(slotMachine, s, e);
/** A beat: by default the process runs, used no CPU, and no ping is due. */
const beat = (o: { stopped?: boolean; computing?: boolean; pingDue?: boolean } = {}) =>
  ({ type: 'slot.beat_due', stopped: false, computing: false, pingDue: false, ...o }) as const;
const ready = (): Snap => {
  const [s0] = start();
  const [s1] = send(s0, { type: 'slot.spawned', pid: 10, at: 1000 });
  return send(s1, { type: 'slot.ready', pid: 10, at: 1200 })[0];
};

t.test('slot machine — spawns on start and reports ready', async (t) => {
  const [s0, a0] = start();
  t.equal(s0.value, 'starting');
  t.ok(names(a0).includes('spawn'), 'spawns the process');
  const [s1, a1] = send(s0, { type: 'slot.ready', pid: 10, at: 1200 });
  t.equal(s1.value, 'ready');
  t.equal(s1.context.pid, 10);
  t.ok(names(a1).includes('reportStarted'));
});

t.test('slot machine — between pings a beat wakes nobody; a due ping goes out', async (t) => {
  const s = ready();
  const [quiet, qa] = send(s, beat());
  t.equal(quiet.context.missed, 0);
  t.notOk(names(qa).includes('sendHeartbeat'), 'no ping on a beat that is not due: the actor sleeps');
  const [pinged, pa] = send(s, beat({ pingDue: true }));
  t.same(names(pa).filter((x) => x === 'ping' || x === 'sendHeartbeat'), ['ping'], 'the due check goes over the bus');
  t.equal(pinged.context.missed, 1, 'outstanding until answered');
  t.equal(send(pinged, { type: 'slot.bus_answered' })[0].context.missed, 0, 'an answer over the bus proves the loop too');
  t.equal(send(pinged, { type: 'slot.heartbeat' })[0].context.missed, 0, 'so does one over IPC');
  const [reping, ra] = send(pinged, beat());
  t.same(names(ra).filter((x) => x === 'ping' || x === 'sendHeartbeat'), ['sendHeartbeat'], 'unanswered at the next beat: asked again over IPC, whatever the bus does');
  t.equal(reping.context.missed, 2);
});

t.test('slot machine — three unanswered heartbeats make it unresponsive: reported and killed', async (t) => {
  let s = ready();
  for (let i = 0; i < 3; i++) {
    // The first ping is due; after it, every beat re-pings while it goes unanswered, due or not.
    const [n, a] = send(s, beat({ pingDue: i === 0 }));
    t.equal(n.value, 'ready', `still ready after ${i + 1} unanswered`);
    t.ok(names(a).includes(i === 0 ? 'ping' : 'sendHeartbeat'));
    s = n;
  }
  const [u, a] = send(s, beat());
  t.equal(u.value, 'unresponsive');
  t.same(names(a).filter((x) => x === 'reportUnresponsive' || x === 'kill'), ['reportUnresponsive', 'kill']);
  t.match(u.context.lastReason, /unresponsive: 3 heartbeats/);
  const [b, ab] = send(u, { type: 'slot.exited', code: null, signal: 'SIGKILL', at: 90_000 });
  t.equal(b.value, 'backoff', 'the restart goes through backoff');
  t.ok(names(ab).includes('reportExited'));
  t.match(b.context.lastReason, /unresponsive/, 'the reason is the hang, not the kill');
  t.equal(b.context.delayMs, 100, 'a long run before the hang restarts at the base delay');
});

t.test('slot machine — an answered heartbeat resets the count', async (t) => {
  let s = ready();
  for (let i = 0; i < 10; i++) {
    s = send(s, beat({ pingDue: true }))[0];
    s = send(s, beat())[0];
    s = send(s, { type: 'slot.heartbeat' })[0];
  }
  t.equal(s.value, 'ready');
  t.equal(s.context.missed, 0);
});

t.test('slot machine — backoff ends in a new start, counted as a restart', async (t) => {
  const s = ready();
  const [b] = send(s, { type: 'slot.exited', code: 1, signal: null, at: 1300 });
  t.equal(b.value, 'backoff');
  t.equal(b.context.lastReason, 'exit 1');
  const [r, a] = send(b, { type: 'xstate.after.backoffDelay.slot.backoff' } as never);
  t.equal(r.value, 'starting');
  t.equal(r.context.restarts, 1);
  t.ok(names(a).includes('spawn'));
});

t.test('slot machine — quick deaths back off exponentially, then the slot gives up (failed)', async (t) => {
  let [s] = start();
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [n, a] = send(s, { type: 'slot.exited', code: 1, signal: null, at: 10 });
    if (n.value === 'failed') {
      t.ok(names(a).includes('reportFailed'));
      s = n;
      break;
    }
    delays.push(n.context.delayMs);
    s = send(n, { type: 'xstate.after.backoffDelay.slot.backoff' } as never)[0];
  }
  t.same(delays, [100, 200]);
  t.equal(s.value, 'failed', 'the third quick death in a row gives up');
  t.equal(send(s, beat({ pingDue: true }))[0].value, 'failed', 'nothing restarts a failed slot');
});

t.test('slot machine — an actor that never reports ready is killed as unresponsive', async (t) => {
  const [s0] = start();
  const [u, a] = send(s0, { type: 'xstate.after.readyTimeout.slot.starting' } as never);
  t.equal(u.value, 'unresponsive');
  t.ok(names(a).includes('kill'));
  t.equal(u.context.lastReason, 'not ready in time');
});

t.test('slot machine — stop from any state ends it; nothing restarts', async (t) => {
  const s = ready();
  const [st] = send(s, { type: 'slot.stop' });
  t.equal(st.value, 'stopped');
  t.equal(st.status, 'done');
  const [b] = send(s, { type: 'slot.exited', code: 1, signal: null, at: 1300 });
  t.equal(send(b, { type: 'slot.stop' })[0].value, 'stopped');
});

t.test('slot machine — the supervision chart has one region per actor with the slot states', async (t) => {
  const d = await describeMachine(supervisionChart(['audit', 'vault']));
  const regions = d.graph.children.map((c) => c.key);
  t.same(regions, ['audit', 'vault']);
  t.same(d.graph.children[0]!.children.map((c) => c.key), ['starting', 'ready', 'unresponsive', 'backoff', 'failed', 'stopped']);
});

t.test('slot machine — a stopped process counts at once, without a due ping; continued, its answer clears it', async (t) => {
  let s = ready();
  for (let i = 0; i < 2; i++) {
    const [n, a] = send(s, beat({ stopped: true }));
    t.equal(n.context.missed, i + 1, `stopped beat ${i + 1} counts`);
    t.ok(names(a).includes('sendHeartbeat'), 'a ping waits in its pipe for a SIGCONT');
    s = n;
  }
  t.equal(send(s, { type: 'slot.heartbeat' })[0].context.missed, 0, 'continued and answered: alive');
  s = send(s, { type: 'slot.heartbeat' })[0];
  for (let i = 0; i < 3; i++) s = send(s, beat({ stopped: true }))[0];
  t.equal(s.value, 'ready');
  const [u] = send(s, beat({ stopped: true }));
  t.equal(u.value, 'unresponsive', 'three stopped beats, then the fourth kills: as fast as when it was pinged every beat');
  t.match(u.context.lastReason, /unresponsive: 3 heartbeats unanswered/);
});

t.test('slot machine — CPU use without an outstanding ping is just work, not a sign', async (t) => {
  let s = ready();
  for (let i = 0; i < 50; i++) s = send(s, beat({ computing: true }))[0];
  t.equal(s.value, 'ready');
  t.same([s.context.missed, s.context.busy], [0, 0]);
});

t.test('slot machine — a process that computes without answering (busy) gets longer, but not forever', async (t) => {
  let s = send(ready(), beat({ pingDue: true }))[0];
  // Twenty beats of CPU work without an answer (an Argon2id derivation on a loaded machine): still ready.
  for (let i = 0; i < 20; i++) s = send(s, beat({ computing: true }))[0];
  t.equal(s.value, 'ready', 'busy is not hung');
  t.equal(s.context.busy, 20);
  t.equal(s.context.missed, 1, 'busy beats do not count as missed');
  s = send(s, { type: 'slot.heartbeat' })[0];
  t.equal(s.context.busy, 0, 'an answer resets it');
  const long = initialTransition(slotMachine, { ...input, busyLimit: 5 })[0];
  let b = send(send(long, { type: 'slot.ready', pid: 1, at: 1 })[0], beat({ pingDue: true }))[0];
  for (let i = 0; i < 4; i++) b = send(b, beat({ computing: true }))[0];
  t.equal(b.value, 'ready');
  const [u] = send(b, beat({ computing: true }));
  t.equal(u.value, 'unresponsive', 'a busy loop that never answers is killed too');
  t.match(u.context.lastReason, /busy without answering for 5 heartbeats/);
});

t.test('slot machine — a loop that answers IPC but not the bus (dead connection) is restarted after the bus-miss limit', async (t) => {
  let s = ready();
  let a: ReturnType<typeof send>[1];
  for (let i = 0; i < 2; i++) {
    s = send(s, beat({ pingDue: true }))[0];
    s = send(s, { type: 'slot.heartbeat' })[0];
    [s] = send(s, { type: 'slot.bus_missed' });
    t.equal(s.value, 'ready', `still ready after ${i + 1} bus misses`);
  }
  t.equal(s.context.busMissed, 2);
  const [answered] = send(s, { type: 'slot.bus_answered' });
  t.equal(answered.context.busMissed, 0, 'one answer over the bus resets the count');
  [s, a] = send(s, { type: 'slot.bus_missed' });
  t.equal(s.value, 'unresponsive');
  t.same(names(a).filter((x) => x === 'reportUnresponsive' || x === 'kill'), ['reportUnresponsive', 'kill']);
  t.match(s.context.lastReason, /3 bus pings unanswered while its IPC heartbeat answered/);
  const [again] = send(send(s, { type: 'slot.exited', code: null, signal: 'SIGKILL', at: 90_000 })[0], { type: 'slot.stop' });
  t.equal(again.value, 'stopped');
});

t.test('slot machine — bus misses do not count while the IPC heartbeat is missing or the process is busy (that path decides)', async (t) => {
  let s = ready();
  s = send(s, beat({ pingDue: true }))[0];
  s = send(s, beat())[0];
  t.equal(s.context.missed, 2);
  for (let i = 0; i < 5; i++) s = send(s, { type: 'slot.bus_missed' })[0];
  t.equal(s.value, 'ready');
  t.equal(s.context.busMissed, 0, 'a stopped process is not blamed twice');
  s = send(s, { type: 'slot.heartbeat' })[0];
  s = send(s, beat({ pingDue: true }))[0];
  s = send(s, beat({ computing: true }))[0];
  for (let i = 0; i < 5; i++) s = send(s, { type: 'slot.bus_missed' })[0];
  t.equal(s.context.busMissed, 0, 'an Argon2id derivation blocks the bus reply too: busy, not dead');
  const [fresh] = send(s, { type: 'slot.exited', code: 1, signal: null, at: 5000 });
  t.equal(fresh.value, 'backoff');
});
