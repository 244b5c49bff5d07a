// Asks the registry where a promoted model lives and which SHA-256 its signed manifest records.
import type { BusClient } from '../../bus/client.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';
import type { WorkerModel } from '../../machines/worker/worker.machine.js';
import type { ModelResolver } from './models.js';

/** Only promoted models resolve: the registry is the sole source of paths and hashes. */
export function registryResolver(bus: BusClient): ModelResolver {
  return async (name): Promise<WorkerModel> => {
    const r = await bus.request<{ path?: unknown; entry?: { sha256?: unknown; kind?: unknown } }>('registry', 'get', { name }, 10_000);
    const path = r.path;
    const sha256 = r.entry?.sha256;
    if (r.entry?.kind !== 'file') throw new SecaiError(ErrorCode.MODEL_INVALID, `'${name}' is not a single-file language model`);
    if (typeof path !== 'string' || typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw new SecaiError(ErrorCode.MODEL_NOT_LOADED, `the registry has no promoted model '${name}' with a path and hash`);
    }
    return { name, path, sha256 };
  };
}
