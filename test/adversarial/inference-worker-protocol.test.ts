// A worker that breaks the protocol (it runs model code: it may be hostile) fails its load or request with
// SECAI_E_WORKER_PROTOCOL, is killed, and the inference actor's supervision goes on serving other models.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ModelHost } from '../../actors/inference/models.js';
import { ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { ROOT } from '../helpers/appliance.js';
import { TEST_POLICY } from '../helpers/inference-stack.js';
import { LlmWorker } from '../../workers/llm/client.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-lying-worker-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const modelPath = join(dir, 'm.gguf');
writeFileSync(modelPath, 'not read by the stand-in worker');
const entry = join(ROOT, 'test', 'helpers', 'lying-llm-worker.mjs');

/** One host per lie: its models are served by the lying worker, except 'healthy', served by an honest one. */
function hostLyingWith(mode: string) {
  const events: { event: string; payload: Record<string, unknown> }[] = [];
  const hosts = {
    lying: new ModelHost({
      policy: TEST_POLICY, log: createLogger('test', 'silent'), worker: { entry, args: [mode] },
      resolve: async (name) => ({ name, path: modelPath, sha256: '0'.repeat(64) }),
      emit: async (event, payload) => { events.push({ event, payload: payload as Record<string, unknown> }); },
    }),
    honest: new ModelHost({
      policy: TEST_POLICY, log: createLogger('test', 'silent'), worker: { entry, args: ['good'] },
      resolve: async (name) => ({ name, path: modelPath, sha256: '0'.repeat(64) }),
      emit: async () => {},
    }),
  };
  t.teardown(() => Promise.all([hosts.lying.stopAll(), hosts.honest.stopAll()]).then(() => undefined));
  return { ...hosts, events };
}

const input = { mode: 'completion' as const, prompt: 'hi', maxTokens: 4, temperature: 0 };

for (const mode of ['bad-loaded', 'unknown-type', 'not-an-object']) {
  t.test(`worker protocol — a worker that answers a load with ${mode} fails the load cleanly`, async (t) => {
    const h = hostLyingWith(mode);
    await t.rejects(h.lying.load('liar'), { code: ErrorCode.WORKER_PROTOCOL, message: /malformed message from the worker/ });
    const failed = h.events.find((e) => e.event === 'worker_crashed' || e.event === 'model_refused');
    t.match(failed?.payload, { name: 'liar', code: ErrorCode.WORKER_PROTOCOL }, 'the failure is reported with its code');
    // The same supervision code goes on: an honest worker loads and answers.
    await h.honest.load('healthy');
    const r = await h.honest.generate('healthy', input, () => {});
    t.equal(r.finishReason, 'stop');
  });
}

for (const mode of ['bad-token', 'huge-token', 'extra-key', 'bad-error-code']) {
  t.test(`worker protocol — a worker that answers a generation with ${mode} fails the request cleanly`, async (t) => {
    const h = hostLyingWith(mode);
    await h.lying.load('liar');
    const tokens: string[] = [];
    await t.rejects(h.lying.generate('liar', input, (x) => tokens.push(x)), { code: ErrorCode.WORKER_PROTOCOL });
    t.ok(tokens.every((x) => x === 'ok'), 'no malformed text reached the caller');
    // The lying worker is gone; the host still answers about its models, and other models serve.
    t.ok(Array.isArray(h.lying.list()));
    await h.honest.load('healthy');
    t.equal((await h.honest.generate('healthy', input, () => {})).finishReason, 'stop');
  });
}

t.test('worker protocol — a send into a channel the worker closed (EPIPE: an error event after send returned) kills the worker; the process goes on and a load fails cleanly', async (t) => {
  const w = new LlmWorker({ entry, args: ['good'] });
  t.teardown(() => w.stop());
  const child = (w as unknown as { w: { child: ChildProcess } }).w.child;
  // Once the worker has said it started (its sandbox is set up: a sandbox killed while bubblewrap still sets it up can
  // leave its inner process behind, a case of its own).
  await new Promise((r) => child.once('message', r));
  // What Node does when the channel broke under a send: no throw, an 'error' event. Unheard, it would end this process.
  const gone = new Promise((r) => w.once('exit', r));
  t.doesNotThrow(() => child.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' })), 'the event is heard');
  await gone;
  t.notOk(w.alive, 'the worker was killed');
  await t.rejects(w.load({ modelPath, sha256: '0'.repeat(64), contextSize: 2048, gpu: false }), { code: ErrorCode.WORKER_CRASHED }, 'and what is asked of it fails as a crash');
});
