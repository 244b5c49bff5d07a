import t from 'tap';
import { initialTransition, transition } from 'xstate';
import { backoffMs, pickNext, workerMachine } from '../../machines/worker/worker.machine.js';

const model = { name: 'tiny', path: '/r/tiny.gguf', sha256: 'a'.repeat(64) };
const types = (actions: unknown[]) => actions.map((a) => (a as { type: string }).type);
const params = (actions: unknown[], type: string) => actions.filter((a) => (a as { type: string }).type === type).map((a) => (a as { params: unknown }).params);
const started = { type: 'xstate.done.actor.startWorker', output: { gpu: false } } as never;
const startFailed = (code: string) => ({ type: 'xstate.error.actor.startWorker', error: { code, message: code } }) as never;
const enqueue = (id: string, client: string) => ({ type: 'request.enqueue', request: { id, client } }) as const;

function ready(input = {}) {
  const [s0] = initialTransition(workerMachine, input);
  const [s1] = transition(workerMachine, s0, { type: 'worker.load', model });
  const [s2] = transition(workerMachine, s1, started);
  return s2;
}

t.test('worker machine — idle → starting → ready; a request makes it busy and is dispatched', async (t) => {
  const [s0] = initialTransition(workerMachine, {});
  t.equal(s0.value, 'idle');
  const [s1, a1] = transition(workerMachine, s0, { type: 'worker.load', model });
  t.equal(s1.value, 'starting');
  t.ok(types(a1).includes('xstate.spawnChild'), 'invokes startWorker');
  const [s2, a2] = transition(workerMachine, s1, started);
  t.equal(s2.value, 'ready');
  t.ok(types(a2).includes('reportLoaded'));
  const [s3, a3] = transition(workerMachine, s2, enqueue('r1', 'alice'));
  t.equal(s3.value, 'busy');
  t.same(params(a3, 'dispatch'), [{ id: 'r1' }]);
  const [s4] = transition(workerMachine, s3, { type: 'request.finished', id: 'r1' });
  t.equal(s4.value, 'ready');
  t.equal(s4.context.current, null);
});

t.test('worker machine — requests without a loaded model are refused, not queued', async (t) => {
  const [s0] = initialTransition(workerMachine, {});
  const [s1, a1] = transition(workerMachine, s0, enqueue('r1', 'a'));
  t.equal(s1.value, 'idle');
  t.same(params(a1, 'rejectRequests'), [{ ids: ['r1'], code: 'SECAI_E_MODEL_NOT_LOADED', message: 'the model is not loaded' }]);
  t.same(s1.context.queue, []);
});

t.test('worker machine — fair queue: round-robin across clients, not first come first served', async (t) => {
  let s = ready();
  let dispatched: string[] = [];
  const step = (e: Parameters<typeof transition<typeof workerMachine>>[2]) => {
    const [n, a] = transition(workerMachine, s, e);
    s = n;
    dispatched = dispatched.concat(params(a, 'dispatch').map((p) => (p as { id: string }).id));
  };
  step(enqueue('a1', 'alice'));
  for (const e of [enqueue('a2', 'alice'), enqueue('a3', 'alice'), enqueue('b1', 'bob'), enqueue('c1', 'carol'), enqueue('b2', 'bob')]) step(e);
  for (const id of ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']) step({ type: 'request.finished', id });
  t.same(dispatched, ['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  t.equal(s.value, 'ready');
});

t.test('worker machine — pickNext serves the least recently served client first', async (t) => {
  const q = [{ id: '1', client: 'x' }, { id: '2', client: 'x' }, { id: '3', client: 'y' }];
  const p = pickNext(q, { x: 5 }, 6);
  t.equal(p?.next.id, '3', 'y was never served');
  t.same(p?.lastServed, { x: 5, y: 6 });
  t.equal(pickNext(p!.queue, p!.lastServed, 7)?.next.id, '1');
  t.equal(pickNext([], {}, 0), null);
});

t.test('worker machine — cancelling a queued request rejects it; cancelling the running one asks the worker', async (t) => {
  let s = ready();
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  [s] = transition(workerMachine, s, enqueue('r2', 'b'));
  const [s1, a1] = transition(workerMachine, s, { type: 'request.cancel', id: 'r2' });
  t.same(params(a1, 'rejectRequests'), [{ ids: ['r2'], code: 'SECAI_E_CANCELLED', message: 'cancelled before it started' }]);
  t.same(s1.context.queue, []);
  const [s2, a2] = transition(workerMachine, s1, { type: 'request.cancel', id: 'r1' });
  t.same(params(a2, 'cancelRunning'), [{ id: 'r1' }]);
  t.equal(s2.value, 'busy', 'stays busy until the worker reports the request finished');
});

t.test('worker machine — a crash mid-request fails that request, restarts with backoff, and keeps the queue', async (t) => {
  let s = ready();
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  [s] = transition(workerMachine, s, enqueue('r2', 'b'));
  const [s1, a1] = transition(workerMachine, s, { type: 'worker.exited', code: null, signal: 'SIGKILL' });
  t.same(s1.value, { restarting: 'stopping' });
  t.same(params(a1, 'rejectRequests'), [{ ids: ['r1'], code: 'SECAI_E_WORKER_CRASHED', message: 'the model worker stopped during generation' }]);
  t.equal(s1.context.crashes, 1);
  t.same(s1.context.queue.map((q) => q.id), ['r2'], 'r2 waits for the fresh worker');
  const [s2] = transition(workerMachine, s1, { type: 'xstate.done.actor.stopWorker' } as never);
  t.same(s2.value, { restarting: 'waiting' });
  const [s3] = transition(workerMachine, s2, { type: 'xstate.after.backoff.worker.restarting.waiting' } as never);
  t.equal(s3.value, 'starting');
  const [s4, a4] = transition(workerMachine, s3, started);
  t.equal(s4.value, 'busy');
  t.same(params(a4, 'dispatch'), [{ id: 'r2' }]);
  t.equal(backoffMs(1), 250);
  t.equal(backoffMs(3), 1000);
  t.equal(backoffMs(20), 30_000, 'capped');
});

t.test('worker machine — a refused model (digest mismatch) fails for good, no restart loop', async (t) => {
  const [s0] = initialTransition(workerMachine, {});
  let [s] = transition(workerMachine, s0, { type: 'worker.load', model });
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  const [s1, a1] = transition(workerMachine, s, startFailed('SECAI_E_DIGEST_MISMATCH'));
  t.equal(s1.value, 'failed');
  t.same(params(a1, 'rejectRequests')[0], { ids: ['r1'], code: 'SECAI_E_DIGEST_MISMATCH', message: 'SECAI_E_DIGEST_MISMATCH' });
  t.ok(types(a1).includes('reportFailed'));
});

t.test('worker machine — repeated start crashes end in failed after maxCrashes', async (t) => {
  const [s0] = initialTransition(workerMachine, { maxCrashes: 2 });
  let [s] = transition(workerMachine, s0, { type: 'worker.load', model });
  for (let i = 0; i < 2; i++) {
    [s] = transition(workerMachine, s, startFailed('SECAI_E_WORKER_CRASHED'));
    t.same(s.value, { restarting: 'stopping' }, `crash ${i + 1} restarts`);
    [s] = transition(workerMachine, s, { type: 'xstate.done.actor.stopWorker' } as never);
    [s] = transition(workerMachine, s, { type: 'xstate.after.backoff.worker.restarting.waiting' } as never);
  }
  [s] = transition(workerMachine, s, startFailed('SECAI_E_WORKER_CRASHED'));
  t.equal(s.value, 'failed');
});

t.test('worker machine — session end drains the running request, then restarts the worker (policy)', async (t) => {
  let s = ready();
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  const [s1] = transition(workerMachine, s, { type: 'session.end', client: 'a' });
  t.equal(s1.value, 'draining');
  const [s2] = transition(workerMachine, s1, { type: 'request.finished', id: 'r1' });
  t.same(s2.value, { restarting: 'stopping' });
  const off = ready({ restartOnSessionEnd: false });
  const [s3] = transition(workerMachine, off, { type: 'session.end', client: 'a' });
  t.equal(s3.value, 'ready', 'no restart when policy says so');
});

t.test('worker machine — unload drains, cancels the queue, stops the worker and goes idle', async (t) => {
  let s = ready();
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  [s] = transition(workerMachine, s, enqueue('r2', 'a'));
  const [s1, a1] = transition(workerMachine, s, { type: 'worker.unload' });
  t.equal(s1.value, 'draining');
  t.same(params(a1, 'rejectRequests')[0], { ids: ['r2'], code: 'SECAI_E_CANCELLED', message: 'the model is being unloaded' });
  t.same(params(a1, 'cancelRunning'), [{ id: 'r1' }], 'the running generation is cut, not awaited');
  const [s2] = transition(workerMachine, s1, { type: 'request.finished', id: 'r1' });
  t.same(s2.value, { restarting: 'stopping' });
  const [s3] = transition(workerMachine, s2, { type: 'xstate.done.actor.stopWorker' } as never);
  t.equal(s3.value, 'idle');
});

t.test('worker machine — a worker the actor killed for a reason (its memory limit) fails the running request with that reason', async (t) => {
  let s = ready();
  [s] = transition(workerMachine, s, enqueue('r1', 'a'));
  const error = { code: 'SECAI_E_WORKER_MEMORY', message: 'the diffusion worker used 900 MiB, over diffusion.memory_limit_mb 512' };
  const [s1, a1] = transition(workerMachine, s, { type: 'worker.exited', code: null, signal: 'SIGKILL', error });
  t.same(params(a1, 'rejectRequests'), [{ ids: ['r1'], ...error }]);
  t.same(s1.value, { restarting: 'stopping' }, 'and the next request gets a fresh worker');
});
