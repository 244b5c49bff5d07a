// Test helper: the inference actor's ops in the test's process, over real llama.cpp workers, for the agent tests. It
// serves the scripted planner model (`planner`: it plans fs.write { path: 'draft', content: 'draft' }, see
// test/fixtures/scripted-llama.ts), more planners that write another name, and any other model the test names, all
// loaded before the first task.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowedCallers } from '../../bus/acl.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { serveManifest } from '../../bus/service.js';
import { ErrorCode } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { inferenceManifest } from '../../actors/inference/manifest.js';
import { ModelHost } from '../../actors/inference/models.js';
import { inferenceCommands, inferenceOps } from '../../actors/inference/ops.js';
import { writePlannerLlama } from '../fixtures/scripted-llama.js';
import type { TestBus } from './bus.js';
import { TEST_POLICY } from './inference-stack.js';

/** The name the planner model writes into every string of its plan: a relative path, so a file in the workspace. */
export const PLANNED = 'draft';

export interface PlannerInference {
  host: ModelHost;
  stop(): Promise<void>;
}

/**
 * `callers`: the manifests whose identities may call inference (the bus's). `models`, by name: a GGUF the test wrote,
 * or `{ plans }`, a planner model that writes that name (distinct bytes) into every string of its plan.
 */
export async function servePlannerInference(bus: TestBus, callers: readonly ActorManifest[], models: Readonly<Record<string, { path: string; sha256: string } | { plans: string }>> = {}): Promise<PlannerInference> {
  const dir = mkdtempSync(join(tmpdir(), 'secai-planner-'));
  const all: Record<string, { path: string; sha256: string }> = {};
  for (const [name, m] of Object.entries({ ...models, planner: { plans: PLANNED } })) {
    const path = join(dir, `${name}.gguf`);
    all[name] = 'plans' in m ? { path, sha256: writePlannerLlama(path, m.plans) } : m;
  }
  const log = createLogger('test-inference', 'error');
  const host = new ModelHost({
    policy: TEST_POLICY, log,
    resolve: async (name) => {
      const m = Object.hasOwn(all, name) ? all[name] : undefined;
      if (!m) throw Object.assign(new Error(`no promoted model ${name}`), { code: ErrorCode.MODEL_NOT_LOADED });
      return { name, ...m };
    },
    emit: async () => {},
    available: async () => Object.keys(all),
  });
  const ib = await bus.connect('inference');
  serveManifest({
    bus: ib, manifest: inferenceManifest, log, operators: { lookup: () => undefined }, callers: allowedCallers(callers),
    ops: { ...inferenceOps(() => host), ping: () => ({}), describe: () => ({}), snapshot: () => ({}) },
    commands: { ...inferenceCommands(() => host), ping: () => ({}) },
  });
  await ib.nc.flush();
  for (const name of Object.keys(all)) await host.load(name);
  return {
    host,
    async stop() {
      await host.stopAll();
      await ib.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
