// Test helper: the diffusion actor's ops on a real bus (sandboxed onnxruntime workers over a tiny SD pipeline), the real
// policy and vault actors, and the gateway's image and gallery routes on a loopback HTTP server.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { diffusionKind, type DiffusionHostOptions } from '../../actors/diffusion/kind.js';
import { diffusionManifest } from '../../actors/diffusion/manifest.js';
import { diffusionCommands, diffusionOps, type DiffusionHost } from '../../actors/diffusion/ops.js';
import { createRouter, type Guard, type Route } from '../../actors/gateway/http.js';
import type { GatewayDeps } from '../../actors/gateway/deps.js';
import { gallery, galleryRoutes } from '../../actors/gateway/routes/gallery.js';
import { imageRoutes } from '../../actors/gateway/routes/images.js';
import { MAX_STREAMS, MAX_STREAMS_PER_SESSION } from '../../actors/gateway/routes/observe.js';
import { StreamSlots } from '../../actors/gateway/stream-slots.js';
import { allowedCallers } from '../../bus/acl.js';
import type { BusClient } from '../../bus/client.js';
import { defineManifest } from '../../bus/manifest.js';
import { serveManifest } from '../../bus/service.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { folderDigest, folderFiles } from '../../common/hash-file.js';
import { createLogger } from '../../common/log.js';
import type { WorkerModel } from '../../machines/worker/worker.machine.js';
import type { DiffusionSection } from '../../policy/sections.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { WorkerHost } from '../../runtime/worker-host.js';
import { writeTinySdOnnx } from '../fixtures/tiny-sd-onnx.js';
import { startTestBus, type TestBus } from './bus.js';
import { standInSession, type StandInSession } from './session-stand-in.js';
import { cleanup, fastPolicyDir, killHard, startActorProcess } from './vault-actor.js';

/** Small bounds and few default steps: tests make 64×64 pictures in a handful of steps. */
export const STACK_DIFFUSION: DiffusionSection = {
  allow_unsandboxed: false, restart_on_session_end: false, threads: Number(process.env.SECAI_TEST_THREADS ?? 1), provider: 'cpu', memory_limit_mb: 4096,
  load_on_demand: true, keep_alive_minutes: 5, max_side: 512, max_steps: 60, default_steps: 3, default_guidance: 5,
};
export const STACK_PASSPHRASE = 'the diffusion stack passphrase';
export const TINY_SD_NAME = 'tiny-sd';

/** A test client: sets up, locks and unlocks the vault, and reads what the gateway stored. */
const keeperManifest = defineManifest({
  name: 'keeper', kind: 'client', description: 'test: the vault lifecycle around the gallery', serves: {}, commands: {}, publishes: {},
  requests: ['vault.setup', 'vault.lock', 'vault.unlock', 'vault.status'], subscribes: [],
});
export const STACK_MANIFESTS = [...MANIFESTS, keeperManifest];

/** The shipped policy folder with the diffusion section set to `section` (and Argon2id 'interactive'). */
export function diffusionPolicyDir(section: DiffusionSection = STACK_DIFFUSION): string {
  return fastPolicyDir((y) => {
    const doc = parseDocument(y);
    for (const [k, v] of Object.entries(section)) doc.setIn(['diffusion', k], v);
    return doc.toString();
  });
}

export interface DiffusionStack {
  bus: TestBus;
  host: DiffusionHost;
  url: string;
  /** The diffusion actor's events (generated, model_loaded …). */
  events: { event: string; payload: Record<string, unknown> }[];
  /** What the "registry" resolves: the tiny pipeline is there as TINY_SD_NAME. */
  registry: Map<string, WorkerModel>;
  /** The tiny pipeline's folder. */
  pipeline: string;
  policyDir: string;
  /** The stand-in session the routes are served behind (unless a guard was given). */
  session: StandInSession;
  /** The gateway's bus client and the deps its routes got. */
  gateway: BusClient;
  deps: GatewayDeps;
  keeper: BusClient;
  lockVault(): Promise<void>;
  unlockVault(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `guard`: the gateway guard to serve the routes behind (default: the stand-in session's), given the gateway's bus and
 * port; `routes`: more routes beside the image and gallery ones; `actors`: more actor processes (e.g. 'auth');
 * `section`: policy `diffusion` keys other than the stand's small ones (the bench makes bigger pictures).
 */
export async function startDiffusionStack(o: { guard?: (gateway: BusClient, port: () => number) => Guard; routes?: (deps: GatewayDeps) => Route[]; actors?: string[]; section?: Partial<DiffusionSection> } = {}): Promise<DiffusionStack> {
  const section = { ...STACK_DIFFUSION, ...o.section };
  const root = mkdtempSync(join(tmpdir(), 'secai-dstack-'));
  const pipeline = join(root, TINY_SD_NAME);
  writeTinySdOnnx(pipeline);
  const registry = new Map<string, WorkerModel>([[TINY_SD_NAME, { name: TINY_SD_NAME, path: pipeline, sha256: folderDigest(await folderFiles(pipeline)) }]]);
  const bus = await startTestBus(STACK_MANIFESTS, { streams: true });
  const policyDir = diffusionPolicyDir(section);
  const children: ChildProcess[] = [];
  // The policy actor comes first (the vault and the image routes ask it for their sections), then the vault.
  for (const name of ['vault', ...(o.actors ?? [])]) children.push(await startActorProcess(bus, name, policyDir));
  const log = createLogger('test-diffusion-stack', 'warn');
  const events: DiffusionStack['events'] = [];
  const emit = async (event: string, payload: Record<string, unknown>) => { events.push({ event, payload }); };
  const options: DiffusionHostOptions = {
    policy: section, log, emit,
    resolve: async (name) => {
      const m = registry.get(name);
      // As the registry answers for a name it does not hold.
      if (!m) throw new SecaiError(ErrorCode.MODEL_NOT_FOUND, `no promoted pipeline ${name}`);
      return m;
    },
    available: async () => [...registry.keys()],
  };
  const host: DiffusionHost = new WorkerHost(options, diffusionKind(options));
  const db = await bus.connect('diffusion');
  const unserve = serveManifest({
    bus: db, manifest: diffusionManifest, log, operators: { lookup: () => undefined }, callers: allowedCallers(STACK_MANIFESTS),
    ops: { ...diffusionOps(() => host, emit), ping: () => ({}), describe: () => ({}), snapshot: () => ({}) },
    commands: { ...diffusionCommands(() => host), ping: () => ({}) },
  });
  await db.nc.flush();
  const keeper = await bus.connect('keeper');
  await keeper.request('vault', 'setup', { passphrase: STACK_PASSPHRASE }, 30_000);

  const gb = await bus.connect('gateway');
  const deps: GatewayDeps = { bus: gb, log, paths: bus.paths, configDir: policyDir };
  const session = standInSession();
  const images = gallery(deps);
  const slots = new StreamSlots(MAX_STREAMS, MAX_STREAMS_PER_SESSION);
  let port = 0;
  const routes = [session.statusRoute, ...imageRoutes(deps, slots, images), ...galleryRoutes(deps, images), ...(o.routes?.(deps) ?? [])];
  const server: Server = createServer(createRouter(routes, () => port, o.guard?.(gb, () => port) ?? session.guard));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  return {
    bus, host, events, registry, pipeline, policyDir, session, gateway: gb, deps, keeper, url: `http://127.0.0.1:${port}`,
    lockVault: async () => { await keeper.request('vault', 'lock'); },
    unlockVault: async () => { await keeper.request('vault', 'unlock', { passphrase: STACK_PASSPHRASE }, 30_000); },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await host.stopAll();
      unserve();
      for (const c of children) await killHard(c);
      await bus.stop();
      cleanup(policyDir);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
