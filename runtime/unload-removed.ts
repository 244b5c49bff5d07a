// A model removed from the registry or suspended by an incident stops serving at once: its worker is unloaded (a model
// found bad after promotion must not keep answering). Each event is checked against the registry's own schema first.
import type { BusClient } from '../bus/client.js';
import { onEvent } from '../bus/events.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { registryManifest } from './catalog.js';

/** What of a model host (runtime/worker-host.ts) this needs. */
interface Unloads {
  unload(name: string, reason?: string): Promise<boolean>;
  evict(sha256s: ReadonlySet<string>, error: SecaiError): Promise<{ evicted: string[]; cancelled: number }>;
}

export function unloadRemovedModels(bus: BusClient, host: () => Unloads | undefined, log: Logger): void {
  onEvent(bus, 'registry', 'removed', registryManifest.publishes.removed, log, async (ev) => {
    if (await host()?.unload(ev.name, 'removed from the registry')) log.warn({ model: ev.name }, 'unloaded: the model was removed from the registry');
  });
  // The incident's evict step does this too; the event covers a suspension whose evict step failed or came first.
  onEvent(bus, 'registry', 'suspended', registryManifest.publishes.suspended, log, async (ev) => {
    const r = await host()?.evict(new Set([ev.sha256]), suspendedError(ev.by, ev.reason));
    if (r?.evicted.length) log.warn({ models: r.evicted, cancelled: r.cancelled }, 'evicted: the model was suspended');
  });
}

/** The error a suspended model's generations end with (HTTP 423 at the gateway). */
export function suspendedError(by: string, reason: string): SecaiError {
  return new SecaiError(ErrorCode.MODEL_SUSPENDED, `the model was evicted: suspended by incident ${by} (${reason})`.slice(0, 1024));
}
