// Asks the registry where a promoted model lives and which SHA-256 its signed manifest records.
import type { BusClient } from '../../bus/client.js';
import { serveOp } from '../../bus/op-ref.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { WorkerModel } from '../../machines/worker/worker.machine.js';
import type { ModelResolver } from './models.js';
import { registryManifest } from '../../runtime/catalog.js';

const getOp = serveOp(registryManifest, 'get');

/** Only promoted models resolve: the registry is the sole source of paths and hashes. */
export function registryResolver(bus: BusClient): ModelResolver {
  return async (name): Promise<WorkerModel> => {
    // The reply is checked against the registry's schema (a path, and an entry whose sha256 is 64 hex digits).
    const r = await bus.call(getOp, { name }, 10_000);
    if (r.entry.kind !== 'file') throw new SecaiError(ErrorCode.MODEL_INVALID, `'${name}' is not a single-file language model`);
    return { name, path: r.path, sha256: r.entry.sha256 };
  };
}
