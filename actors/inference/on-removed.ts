// A model removed from the registry stops serving at once: its worker is unloaded (a model found bad after
// promotion must not keep answering). The event is checked against the registry's own schema first.
import type { BusClient } from '../../bus/client.js';
import { onEvent } from '../../bus/events.js';
import type { Logger } from '../../common/log.js';
import { registryManifest } from '../registry/manifest.js';
import type { ModelHost } from './models.js';

export function unloadRemovedModels(bus: BusClient, host: () => ModelHost | undefined, log: Logger): void {
  onEvent<{ name: string; sha256: string }>(bus, 'registry', 'removed', registryManifest.publishes.removed, log, async (ev) => {
    if (await host()?.unload(ev.name, 'removed from the registry')) log.warn({ model: ev.name }, 'unloaded: the model was removed from the registry');
  });
}
