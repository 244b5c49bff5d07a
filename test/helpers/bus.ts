// Test helper: a real nats-server configured from manifests, in a temporary SECAI_HOME, on a free port.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import type { Identity } from '../../bus/identities.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { pickLoopbackPort, startNatsServer, stopProcess, type NatsProcess } from '../../bus/server.js';
import { ensureAuditStreams, prepareBus } from '../../runtime/bus-setup.js';
import { homePaths, type HomePaths } from '../../common/paths.js';

export interface TestBus {
  paths: HomePaths;
  nats: NatsProcess;
  ids: Map<string, Identity>;
  url: string;
  connect(name: string): Promise<BusClient>;
  stop(): Promise<void>;
}

export async function startTestBus(manifests: readonly ActorManifest[], o: { streams?: boolean } = {}): Promise<TestBus> {
  const home = mkdtempSync(join(tmpdir(), 'secai-bus-'));
  const paths = homePaths(home);
  const port = await pickLoopbackPort();
  const ids = prepareBus(paths, manifests, port);
  const nats = await startNatsServer({ configPath: paths.busConfig, portsDir: paths.run });
  const clients: BusClient[] = [];
  const bus: TestBus = {
    paths, nats, ids, url: nats.url,
    async connect(name) {
      const id = ids.get(name);
      if (!id) throw new Error(`no identity ${name}`);
      const c = await BusClient.connect({ url: nats.url, identity: id, reconnect: false });
      clients.push(c);
      return c;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {}))); // lint-ok: teardown; a test may have closed it already
      await stopProcess(nats.child);
      rmSync(home, { recursive: true, force: true });
    },
  };
  if (o.streams) {
    const sup = await bus.connect('supervisor');
    await ensureAuditStreams(sup.nc);
  }
  return bus;
}
