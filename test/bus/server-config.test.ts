// The server config with and without JetStream: both pass `nats-server -t`; without it, a JetStream publish fails at
// with the server's answer (the supervisor runs this while the disk is full) while request/reply works.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { ensureIdentity } from '../../bus/identities.js';
import { renderServerConfig } from '../../bus/server-config.js';
import { natsServerBin, startNatsServer, stopProcess } from '../../bus/server.js';

t.test('server config — without JetStream: the same server less the jetstream block; a JetStream publish is refused, request/reply works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-srvcfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const id = ensureIdentity(join(dir, 'keys'), 'cli');
  const input = {
    port: -1, storeDir: join(dir, 'js'), portsDir: dir,
    identities: [{ name: id.name, publicKey: id.publicKey, permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } } as never],
  };
  const withJs = JSON.parse(renderServerConfig(input)) as Record<string, unknown>;
  const without = JSON.parse(renderServerConfig({ ...input, jetstream: false })) as Record<string, unknown>;
  t.ok(withJs['jetstream'], 'JetStream by default');
  t.equal(without['jetstream'], undefined, 'no jetstream block');
  const { jetstream: _js, ...rest } = withJs;
  t.same(without, rest, 'everything else (listen address, limits, users and permissions) is the same');

  const path = join(dir, 'nats-nojs.conf');
  writeFileSync(path, renderServerConfig({ ...input, jetstream: false }));
  const check = spawnSync(natsServerBin(), ['-c', path, '-t'], { encoding: 'utf8' });
  t.equal(check.status, 0, check.stderr);
  const srv = await startNatsServer({ configPath: path, portsDir: dir });
  t.teardown(() => stopProcess(srv.child, 5000));
  const bus = await BusClient.connect({ url: srv.url, identity: id, reconnect: false, timeoutMs: 10_000 });
  t.teardown(() => bus.close());
  const nc = bus.nc;
  nc.subscribe('svc', { callback: (_e, m) => { m.respond('pong'); } });
  await nc.flush();
  // A second connection asks (the bus client does not receive its own messages: no echo).
  const asker = await BusClient.connect({ url: srv.url, identity: id, reconnect: false, timeoutMs: 10_000 });
  t.teardown(() => asker.close());
  t.equal((await asker.nc.request('svc', '', { timeout: 2000 })).string(), 'pong', 'request/reply works');
  // What every event publish does; the server answers each try at once (no try waits for its 2 s timeout), and the
  // outboxes hold the event and try again later.
  const err = await bus.publishEvent('cli', 'probe', {}).catch((e: unknown) => e);
  t.ok(err instanceof Error, 'a JetStream publish fails');
  t.match(String(err), /jetstream is not enabled/, `the server says why: ${String(err)}`);
});
