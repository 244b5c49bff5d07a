// Test helper: the inference actor's ops on a real bus, with the gateway's OpenAI/Ollama routes on a loopback HTTP server.
import { allowedCallers } from '../../bus/acl.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { inferenceManifest } from '../../actors/inference/manifest.js';
import { ModelHost, type InferencePolicy } from '../../actors/inference/models.js';
import { inferenceCommands, inferenceOps } from '../../actors/inference/ops.js';
import { createRouter, type Guard } from '../../actors/gateway/http.js';
import type { BusClient } from '../../bus/client.js';
import { openaiRoutes } from '../../actors/gateway/routes/openai.js';
import { ollamaRoutes } from '../../actors/gateway/routes/ollama.js';
import { serveManifest } from '../../bus/service.js';
import { homePaths } from '../../common/paths.js';
import { createLogger } from '../../common/log.js';
import type { WorkerModel } from '../../machines/worker/worker.machine.js';
import { startTestBus, type TestBus } from './bus.js';

export const TEST_POLICY: InferencePolicy = { allow_unsandboxed: false, restart_on_session_end: true, threads: Number(process.env.SECAI_TEST_THREADS ?? 1), context_size: 2048, max_tokens: 4096, gpu: 'auto', load_on_demand: false, keep_alive_minutes: 5 };

export interface InferenceStack {
  bus: TestBus;
  host: ModelHost;
  url: string;
  events: { event: string; payload: Record<string, unknown> }[];
  /** What the "registry" resolves: tests add promoted models here. */
  registry: Map<string, WorkerModel>;
  stop(): Promise<void>;
}

/** `guard`: the gateway guard to serve the routes behind (default: the router's own), given the gateway's bus and port. */
export async function startInferenceStack(policy: InferencePolicy = TEST_POLICY, o: { guard?: (gateway: BusClient, port: () => number) => Guard } = {}): Promise<InferenceStack> {
  const bus = await startTestBus(MANIFESTS);
  const ib = await bus.connect('inference');
  const gb = await bus.connect('gateway');
  const log = createLogger('test-inference');
  const events: InferenceStack['events'] = [];
  const registry = new Map<string, WorkerModel>();
  const host = new ModelHost({
    policy, log,
    resolve: async (name) => {
      const m = registry.get(name);
      if (!m) throw Object.assign(new Error(`no promoted model ${name}`), { code: 'SECAI_E_MODEL_NOT_LOADED' });
      return m;
    },
    emit: async (event, payload) => { events.push({ event, payload }); },
    available: async () => [...registry.keys()],
  });
  const unserve = serveManifest({
    bus: ib, manifest: inferenceManifest, log, operators: { lookup: () => undefined }, callers: allowedCallers(MANIFESTS),
    ops: { ...inferenceOps(() => host), ping: () => ({}), describe: () => ({}), snapshot: () => ({}) },
    commands: { ...inferenceCommands(() => host), ping: () => ({}) },
  });
  await ib.nc.flush();
  const home = mkdtempSync(join(tmpdir(), 'secai-gw-'));
  const deps = { bus: gb, log, paths: homePaths(home), configDir: '' };
  let port = 0;
  const server: Server = createServer(createRouter([...openaiRoutes(deps), ...ollamaRoutes(deps)], () => port, o.guard?.(gb, () => port)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  return {
    bus, host, events, registry, url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await host.stopAll();
      unserve();
      await bus.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
