// Asks the registry where a promoted diffusion pipeline (a folder) lives and which digest its signed manifest records.
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import { registryManifest } from '../../runtime/catalog.js';
import type { ModelResolver } from '../../runtime/worker-host.js';

const getOp = serveOp(registryManifest, 'get');
const listOp = serveOp(registryManifest, 'list');

/** Only promoted folders resolve: the registry is the sole source of paths and digests. */
export function pipelineResolver(bus: BusClient): ModelResolver {
  return async (name) => {
    const r = await bus.call(getOp, { name }, 10_000);
    if (r.entry.kind !== 'folder') throw new SecaiError(ErrorCode.MODEL_INVALID, `'${name}' is a single file, not a diffusion pipeline folder`);
    return { name, path: r.path, sha256: r.entry.sha256 };
  };
}

/** Promoted folders (the pipelines a request may load on demand). */
export async function promotedPipelines(bus: BusClient): Promise<string[]> {
  return (await bus.call(listOp, {}, 10_000)).models.filter((m) => m.kind === 'folder').map((m) => m.name);
}
