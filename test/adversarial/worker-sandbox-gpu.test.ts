// GPU device nodes must reach the sandboxed worker (bound after bubblewrap's fresh /dev), and a policy that
// requires a GPU must fail a load that got none instead of running on the CPU unnoticed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelHost, type InferencePolicy } from '../../actors/inference/models.js';
import { ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { spawnWorker } from '../../workers/sandbox.js';
import { writeTinyLlama } from '../fixtures/tiny-llama.js';

const probe = join(import.meta.dirname, '..', 'fixtures', 'device-probe.mjs');

t.test('worker sandbox — a GPU device node on the host is a device inside the sandbox', async (t) => {
  // A character device the test creates (major 1, minor 3: the null device), standing in for /dev/nvidia0.
  const node = `/dev/secai-test-gpu-${process.pid}`;
  const mk = spawnSync('mknod', ['-m', '0666', node, 'c', '1', '3'], { encoding: 'utf8' });
  t.equal(mk.status, 0, `mknod ${node}: ${mk.stderr}`);
  t.teardown(() => rmSync(node, { force: true }));
  const w = spawnWorker({ entry: probe, args: [node, '/dev/secai-not-bound'], gpuDeviceNodes: [node] });
  t.ok(w.sandboxed, 'bubblewrap is available here');
  const report = await new Promise<Record<string, string>>((resolve, reject) => {
    w.child.once('message', (m) => resolve(m as Record<string, string>));
    w.child.once('exit', (code) => reject(new Error(`probe exited ${code}`)));
  });
  t.equal(report[node], 'char', 'the bound device node is visible as a character device');
  t.equal(report['/dev/secai-not-bound'], 'error:ENOENT', 'nothing else of the host /dev is');
  const dev = w.argv.indexOf('/dev');
  const bind = w.argv.indexOf(node);
  t.ok(dev > 0 && bind > dev, 'the device is bound after --dev /dev (a later --dev would hide it)');
});

t.test('inference — policy gpu: required fails a load that got no GPU backend (this host has none)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-gpu-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'tiny.gguf');
  const sha256 = writeTinyLlama(path);
  const events: string[] = [];
  // (With gpu: auto the same load runs on the CPU and reports gpu false: test/workers/llm-worker.test.ts.)
  const policy: InferencePolicy = { allow_unsandboxed: false, restart_on_session_end: false, threads: 1, context_size: 256, max_tokens: 16, gpu: 'required', load_on_demand: false, keep_alive_minutes: 5 };
  const strict = new ModelHost({
    policy, log: createLogger('test', 'silent'),
    resolve: async (name) => ({ name, path, sha256 }),
    emit: async (event) => { events.push(event); },
  });
  t.teardown(() => strict.stopAll());
  await t.rejects(strict.load('tiny'), { code: ErrorCode.GPU_UNAVAILABLE, message: /found no GPU backend/ });
  t.same(strict.list(), [], 'nothing stays loaded');
  t.ok(events.includes('worker_crashed') || events.includes('model_refused'), `the failure is an event (${events.join(', ')})`);
});
