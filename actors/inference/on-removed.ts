// A model removed from the registry stops serving at once: its worker is unloaded (a model found bad after
// promotion must not keep answering). The event is checked against the registry's own schema first.
import type { BusClient } from '../../bus/client.js';
import { decode } from '../../bus/codec.js';
import { check } from '../../bus/schema.js';
import { eventSubject } from '../../bus/subjects.js';
import type { Logger } from '../../common/log.js';
import { registryManifest } from '../registry/manifest.js';
import type { ModelHost } from './models.js';

export function unloadRemovedModels(bus: BusClient, host: () => ModelHost | undefined, log: Logger): void {
  bus.subscribe(eventSubject('registry', 'removed'), async (msg) => {
    let ev: { name: string; sha256: string };
    try {
      ev = check(registryManifest.publishes.removed, decode(msg.data), 'registry.removed');
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'ignored a malformed registry.removed event');
      return;
    }
    if (await host()?.unload(ev.name, 'removed from the registry')) log.warn({ model: ev.name }, 'unloaded: the model was removed from the registry');
  });
}
