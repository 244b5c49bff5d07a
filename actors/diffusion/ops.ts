// The diffusion actor's served ops and commands, as a function of its host (shared by main.ts and the tests).
import { createHash } from 'node:crypto';
import type { HandlersFor } from '../../bus/service.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { WorkerHost } from '../../runtime/worker-host.js';
import type { DiffusionInput, DiffusionProgress, DiffusionResult } from '../../workers/diffusion/client.js';
import type { SchedulerKind } from '../../workers/diffusion/protocol.js';
import { PNG_CHUNK_BYTES, type diffusionManifest, type ImageDone, type ImageRequest } from './manifest.js';

export type DiffusionHost = WorkerHost<DiffusionInput, DiffusionResult, DiffusionProgress>;
type Emit = (event: string, payload: Record<string, unknown>) => Promise<unknown>;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

export function toInput(req: ImageRequest): DiffusionInput {
  return {
    prompt: req.prompt, width: req.width, height: req.height, steps: req.steps, guidance: req.guidance,
    ...(req.negativePrompt !== undefined && { negativePrompt: req.negativePrompt }),
    ...(req.seed !== undefined && { seed: req.seed }),
    ...(req.scheduler !== undefined && { scheduler: req.scheduler as SchedulerKind }),
    ...(req.initImage !== undefined && { initImage: Buffer.from(req.initImage).toString('base64') }),
    ...(req.strength !== undefined && { strength: req.strength }),
  };
}

/** One generation: progress chunks as the worker reports them, then the PNG in pieces, then the summary; evidence as an event. */
export async function serveImage(host: DiffusionHost, req: ImageRequest, chunk: ((c: unknown) => void) | undefined, emit: Emit): Promise<ImageDone> {
  const t0 = performance.now();
  let firstProgressMs: number | null = null;
  const r = await host.generate(req.model, toInput(req), (p) => {
    firstProgressMs ??= performance.now() - t0;
    chunk?.({ step: p.step, steps: p.steps, ms: p.ms });
  }, { requestId: req.requestId, ...(req.client !== undefined && { client: req.client }) });
  // With diffusion.restart_on_session_end, each picture is a session: the worker that made it is replaced before the
  // next one (the host does nothing when the policy says false).
  host.endSession(req.client ?? 'anonymous');
  const png = Buffer.from(r.png, 'base64');
  // The worker is not trusted: what it calls a PNG must at least start like one and have the size it claims.
  if (png.length < 33 || !png.subarray(0, 8).equals(PNG_SIGNATURE) || png.readUInt32BE(16) !== r.width || png.readUInt32BE(20) !== r.height) {
    throw new SecaiError(ErrorCode.WORKER_PROTOCOL, 'the worker answered with something that is not the PNG it describes');
  }
  for (let off = 0; off < png.length; off += PNG_CHUNK_BYTES) chunk?.({ png: png.subarray(off, off + PNG_CHUNK_BYTES) });
  const loaded = host.list().find((m) => m.name === req.model);
  const info = (loaded?.info ?? {}) as { scheduler?: SchedulerKind };
  const scheduler = (req.scheduler as SchedulerKind | undefined) ?? info.scheduler ?? 'euler';
  const done: ImageDone = {
    model: req.model, seed: r.seed, width: r.width, height: r.height, steps: r.steps, scheduler,
    pngBytes: png.length, pngSha256: sha256(png), firstProgressMs, totalMs: performance.now() - t0,
  };
  void emit('generated', {
    name: req.model, sha256: loaded?.sha256 ?? '0'.repeat(64), promptSha256: sha256(req.prompt), seed: r.seed, width: r.width, height: r.height,
    steps: r.steps, scheduler, img2img: req.initImage !== undefined, pngSha256: done.pngSha256, totalMs: done.totalMs,
  });
  return done;
}

export function diffusionOps(host: () => DiffusionHost, emit: Emit): HandlersFor<typeof diffusionManifest.serves> {
  return {
    models: async () => ({ models: host().list(), available: await host().availableNotLoaded() }),
    status: () => host().status(),
    generate: (req, call) => serveImage(host(), req, call.chunk, emit),
    cancel: (req: { requestId: string }) => ({ cancelled: host().cancel(req.requestId) }),
  };
}

export function diffusionCommands(host: () => DiffusionHost): HandlersFor<typeof diffusionManifest.commands> {
  return {
    load: (req) => host().load(req.name),
    unload: async (req) => ({ unloaded: await host().unload(req.name) }),
  };
}
