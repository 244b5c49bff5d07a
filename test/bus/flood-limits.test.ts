// The bus's defences against a connection flood, piece by piece, against the real nats-server 2.9.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect as tcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { BUS_LIMITS, connectionSlots, hardOpenFileLimit } from '../../bus/conn-limits.js';
import { ensureIdentity, type Identity } from '../../bus/identities.js';
import { NatsLog } from '../../bus/nats-log.js';
import { renderServerConfig } from '../../bus/server-config.js';
import { busPortFromEnv, natsServerBin, startNatsServer, stopProcess } from '../../bus/server.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'secai-flood-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configFor(dir: string, id: Identity, maxConnections?: number): string {
  const path = join(dir, 'nats.conf');
  writeFileSync(path, renderServerConfig({
    port: -1, storeDir: join(dir, 'js'), portsDir: join(dir, 'run'),
    identities: [{ name: id.name, publicKey: id.publicKey, permissions: { publish: { allow: ['>'] }, subscribe: { allow: ['>'] } } } as never],
    ...(maxConnections !== undefined && { maxConnections }),
  }));
  return path;
}

t.test('bus limits — nats-server 2.9 accepts the config: a 0.5 s auth timeout and slots sized from the fd limit', async (t) => {
  const dir = tempDir(t);
  const path = configFor(dir, ensureIdentity(join(dir, 'keys'), 'cli'));
  const r = spawnSync(natsServerBin(), ['-c', path, '-t'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as { max_connections: number; authorization: { timeout: number } };
  t.equal(cfg.authorization.timeout, BUS_LIMITS.authTimeoutS);
  t.equal(cfg.max_connections, connectionSlots(hardOpenFileLimit()));
  t.ok(cfg.max_connections > 256, `more slots than the 256 of before (${cfg.max_connections}, fd hard limit ${hardOpenFileLimit()})`);
});

t.test('bus limits — slots follow the fd hard limit, keep a reserve, and stay within floor and cap', async (t) => {
  t.equal(connectionSlots(20_000), BUS_LIMITS.maxConnections);
  t.equal(connectionSlots(4096), 4096 - BUS_LIMITS.fdReserve);
  t.equal(connectionSlots(1200), BUS_LIMITS.minConnections, 'never under the floor');
  t.equal(connectionSlots(undefined), BUS_LIMITS.minConnections);
  const dir = tempDir(t);
  const limits = join(dir, 'limits');
  writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n');
  t.equal(hardOpenFileLimit(limits), 524288);
  t.equal(hardOpenFileLimit(join(dir, 'absent')), undefined);
});

t.test('bus limits — SECAI_BUS_PORT takes a port number and nothing else', async (t) => {
  t.equal(busPortFromEnv({}), undefined);
  t.equal(busPortFromEnv({ SECAI_BUS_PORT: '8494' }), 8494);
  for (const bad of ['0', '65536', '12a', ' 80', '-1', '0x50', '1e3']) {
    let err: unknown;
    try { busPortFromEnv({ SECAI_BUS_PORT: bad }); } catch (e) { err = e; }
    t.ok(err instanceof SecaiError && err.code === ErrorCode.CONFIG_INVALID, `refuses '${bad}' with CONFIG_INVALID`);
  }
});

t.test('bus limits — a client arriving while every slot is held by raw sockets gets in once they are dropped, within its deadline', async (t) => {
  const dir = tempDir(t);
  const id = ensureIdentity(join(dir, 'keys'), 'cli');
  const srv = await startNatsServer({ configPath: configFor(dir, id, 2), portsDir: join(dir, 'run') });
  t.teardown(() => stopProcess(srv.child));
  // Two raw sockets take both slots; the server drops each after the auth timeout.
  const held: Socket[] = [];
  await Promise.all([0, 1].map(() => new Promise<void>((res) => {
    const s = tcp(srv.port, '127.0.0.1');
    held.push(s);
    s.on('error', () => {});
    s.once('data', () => res()); // INFO: the slot is taken
  })));
  let dropped = 0;
  for (const s of held) s.once('close', () => { dropped++; });
  const t0 = Date.now();
  const c = await BusClient.connect({ url: srv.url, identity: id, reconnect: false, timeoutMs: 10_000 });
  // The server closed the raw sockets before it accepted this client, so their close came first.
  t.equal(dropped, 2, `both raw sockets had been dropped when the client got in (${Date.now() - t0} ms)`);
  t.ok(c.nc.info?.server_id, 'connected and authenticated');
  await c.close();
});

t.test('bus limits — a wrong key is not retried: one attempt, a clear error', async (t) => {
  const dir = tempDir(t);
  const id = ensureIdentity(join(dir, 'keys'), 'cli');
  const stranger = ensureIdentity(join(dir, 'other'), 'cli');
  const srv = await startNatsServer({ configPath: configFor(dir, id), portsDir: join(dir, 'run') });
  t.teardown(() => stopProcess(srv.child));
  const err = await BusClient.connect({ url: srv.url, identity: stranger, reconnect: false, timeoutMs: 10_000 }).catch((e: unknown) => e);
  t.ok(err instanceof SecaiError && err.code === ErrorCode.NOT_RUNNING, 'NOT_RUNNING');
  t.match((err as Error).message, /\(1 attempt\).*authorization violation/i);
});

t.test('bus limits — a raw socket that never authenticates is dropped after the auth timeout', async (t) => {
  const dir = tempDir(t);
  const id = ensureIdentity(join(dir, 'keys'), 'cli');
  const srv = await startNatsServer({ configPath: configFor(dir, id), portsDir: join(dir, 'run') });
  t.teardown(() => stopProcess(srv.child));
  const s = tcp(srv.port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('data', () => r()));
  const t0 = Date.now();
  await new Promise<void>((r) => s.once('close', () => r()));
  const held = Date.now() - t0;
  // nats-server's own default is 2 s: well under it means our timeout is the one in force.
  t.ok(held < 1500, `dropped after ${held} ms (timeout ${BUS_LIMITS.authTimeoutS} s)`);
});

t.test('nats log — per-connection lines past the burst become counted summaries; real errors stay; size stays bounded', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'nats.log');
  let now = 1_000_000;
  const log = new NatsLog({ file, maxBytes: 64 * 1024, perConnectionBurst: 5, windowMs: 10_000, now: () => now });
  log.write('[1] 2026/12/04 10:00:00.000000 [INF] Server is ready\n');
  // Chunks that split lines: only whole lines are judged.
  for (let i = 0; i < 20_000; i++) {
    log.write(`[1] 2026/12/04 10:00:01.000000 [ERR] 127.0.0.1:${40000 + (i % 20000)} - cid:${i} - maximum conn`);
    log.write('ections exceeded\n');
    if (i % 5000 === 4999) now += 10_000;
  }
  log.write('[1] 2026/12/04 10:00:02.000000 [ERR] JetStream store failure: disk full\n');
  for (let i = 0; i < 2000; i++) log.write(`[1] 2026/12/04 10:00:03.000000 [ERR] 127.0.0.1:5 - cid:${i} - Client parser ERROR, state=0, i=0: proto='"GET / HTTP/1.1"'\n`);
  log.close();
  const text = readFileSync(file, 'utf8');
  t.match(text, /Server is ready/);
  t.match(text, /JetStream store failure: disk full/, 'a real error is written');
  t.equal(text.match(/maximum connections exceeded/g)?.length ?? 0, 4 * 5 + 4, 'five in full per window, plus one summary per window naming the kind');
  t.match(text, /4995 more per-connection lines not written .*4995 × maximum connections exceeded/);
  t.match(text, /1995 × Client parser ERROR, state=N, i=N: proto=…/, 'attacker bytes are not copied into summaries');
  t.ok(statSync(file).size < 64 * 1024);
});

t.test('nats log — rotation keeps one old file: the two together stay under twice the limit', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'nats.log');
  const log = new NatsLog({ file, maxBytes: 16 * 1024 });
  for (let i = 0; i < 5000; i++) log.write(`[1] 2026/12/04 10:00:00.000000 [INF] line ${i} that is not about one connection\n`);
  log.close();
  const total = statSync(file).size + statSync(`${file}.1`).size;
  t.ok(total <= 2 * 16 * 1024, `${total} bytes in nats.log and nats.log.1`);
  t.match(readFileSync(file, 'utf8'), /line 4999 /, 'the newest line is in the current file');
});
