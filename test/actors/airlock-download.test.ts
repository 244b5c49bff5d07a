// Streamed airlock downloads against a real local HTTP server: whole and hashed, limits, stalls, early close,
// refusals, redirects, cancellation and a caller that went away. Small configured limits, no timing assertions.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Downloads, MAX_DOWNLOADS, type DownloadChunk } from '../../actors/airlock/download.js';
import { testHostsResolver, type EgressEvidence, type Resolver } from '../../actors/airlock/egress.js';
import { MANIFESTS } from '../../runtime/catalog.js';
import { compileAcl } from '../../bus/acl.js';
import { airlockManifest, DOWNLOAD_CHUNK_BYTES } from '../../actors/airlock/manifest.js';
import { check } from '../../bus/schema.js';
import { decide } from '../../policy/decide/index.js';
import type { PolicySnapshot } from '../../policy/types.js';
import { testPolicy } from '../policy/helpers.js';
import { MiB, startModelServer } from '../helpers/download-server.js';

const server = await startModelServer();
t.teardown(() => server.stop());

function policy(extra: Record<string, unknown> = {}): PolicySnapshot {
  return testPolicy('/home/secai', {
    airlock: {
      enabled: true, allow_loopback_for_tests: true, timeout_ms: 400,
      destinations: [{ id: 'models', host: 'models.test', schemes: ['http'], ports: [server.port], methods: ['GET'], path_prefix: '/m/' }],
      ...extra,
    },
  });
}

const resolver = (map: Record<string, string[]>): Resolver => async (host) => {
  const a = map[host];
  if (!a) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

function setup(p = policy(), map: Record<string, string[]> = { 'models.test': ['127.0.0.1'] }, o: { pullWaitMs?: number } = {}) {
  const evidence: EgressEvidence[] = [];
  const downloads = new Downloads({
    decide: (domain, input) => decide(p, domain, input), policy: () => p, resolve: resolver(map), env: { SECAI_TEST: '1' },
    // Every piece of evidence must pass the event schema the actor publishes it under.
    evidence: (e) => evidence.push(check(airlockManifest.publishes.egress, e, 'egress event')),
  }, o);
  return { downloads, evidence };
}

const url = (path: string, host = 'models.test') => `http://${host}:${server.port}${path}`;
const req = (path: string, o: { maxBytes?: number; maxMs?: number; host?: string } = {}) => ({ url: url(path, o.host), maxBytes: o.maxBytes ?? 32 * MiB, maxMs: o.maxMs ?? 60_000 });

async function pullAll(d: Downloads, id: string): Promise<{ chunks: DownloadChunk[]; body: Buffer }> {
  const chunks: DownloadChunk[] = [];
  for (;;) {
    const c = check<DownloadChunk>(airlockManifest.serves.download_next.reply, await d.next(id), 'chunk');
    chunks.push(c);
    if (c.done) return { chunks, body: Buffer.concat(chunks.map((x) => x.data)) };
  }
}

t.test('airlock download — 8 MiB arrive whole, in bounded chunks, with bytes and SHA-256 at the end and one egress event', async (t) => {
  const { downloads, evidence } = setup();
  const start = await downloads.start(req('/m/big.gguf'));
  t.match(start, { status: 200, address: '127.0.0.1', length: 8 * MiB, limit: 32 * MiB });
  t.ok(start.id, 'a download id to pull');
  check(airlockManifest.serves.download.reply, start, 'download reply');
  const { chunks, body } = await pullAll(downloads, start.id!);
  t.ok(body.equals(server.big), 'the bytes are the server\'s');
  t.ok(chunks.every((c) => c.data.byteLength <= DOWNLOAD_CHUNK_BYTES), 'no chunk over 512 KiB');
  t.same(chunks.map((c) => c.seq), chunks.map((_, i) => i), 'chunks are numbered in order');
  const last = chunks.at(-1)!;
  t.match(last, { done: true, bytes: 8 * MiB, sha256: server.bigSha256 });
  t.equal(createHash('sha256').update(body).digest('hex'), server.bigSha256);
  t.equal(evidence.length, 1, 'one event, at the end');
  t.match(evidence[0], { decision: 'allow', op: 'download', outcome: 'complete', bytes: 8 * MiB, sha256: server.bigSha256, status: 200, origin: `http://models.test:${server.port}` });
  t.equal(downloads.active, 0, 'nothing left running');
  await t.rejects(downloads.next(start.id!), { code: 'SECAI_E_INVALID_STATE' }, 'a finished download cannot be pulled again');
});

t.test('airlock download — over the size limit: refused mid-stream (counted) or at once (declared)', async (t) => {
  const { downloads, evidence } = setup();
  const closed = server.closed('/m/huge.gguf');
  const start = await downloads.start(req('/m/huge.gguf', { maxBytes: 3 * MiB }));
  t.equal(start.length, undefined, 'no Content-Length: only counting can tell');
  await t.rejects(pullAll(downloads, start.id!), { code: 'SECAI_E_EGRESS_FAILED', message: /exceeds 3145728 bytes \(size limit\)/ });
  const c = await closed;
  t.notOk(c.finished, 'the server-side response was cut, not finished');
  t.match(evidence.at(-1), { outcome: 'failed', reason: /size limit/ });
  t.ok(evidence.at(-1)!.bytes! <= 3 * MiB + 64 * 1024, 'no more than the limit plus one read was taken in');

  await t.rejects(downloads.start(req('/m/declared-huge.gguf', { maxBytes: 3 * MiB })), { code: 'SECAI_E_EGRESS_FAILED', message: /declares 67108864 bytes, over the 3145728-byte size limit/ });
  t.match(evidence.at(-1), { outcome: 'failed', bytes: 0 });
  // Policy models.max_size_bytes caps what a caller may ask for.
  const small = setup(testPolicy('/home/secai', { ...{ airlock: policy().value.airlock }, models: { max_size_bytes: 2 * MiB } }));
  const s = await small.downloads.start(req('/m/huge.gguf', { maxBytes: 32 * MiB }));
  t.equal(s.limit, 2 * MiB, 'the smaller of the caller\'s and the policy\'s limit');
  await t.rejects(pullAll(small.downloads, s.id!), { message: /exceeds 2097152 bytes/ });
  t.equal(downloads.active + small.downloads.active, 0);
});

t.test('airlock download — a stalled server times out (policy timeout_ms as the idle limit)', async (t) => {
  const { downloads, evidence } = setup();
  const start = await downloads.start(req('/m/stall.gguf'));
  await t.rejects(pullAll(downloads, start.id!), { code: 'SECAI_E_EGRESS_FAILED', message: /sent nothing for 400 ms after 131072 bytes \(stalled\)/ });
  t.match(evidence.at(-1), { outcome: 'failed', reason: /stalled/ });
});

t.test('airlock download — a pull waiting on a slow server answers an empty chunk in time (the bus refuses late replies)', async (t) => {
  // pullWaitMs 50 here (10 s in the actor, under nats-server's 30 s response window); the idle limit is 400 ms.
  const { downloads } = setup(policy(), undefined, { pullWaitMs: 50 });
  const start = await downloads.start(req('/m/stall.gguf'));
  const seen: DownloadChunk[] = [];
  await t.rejects((async () => { for (;;) seen.push(await downloads.next(start.id!)); })(), { code: 'SECAI_E_EGRESS_FAILED', message: /stalled/ });
  t.ok(seen.length >= 1, 'at least one pull was answered before the stall was called');
  t.ok(seen.every((c) => c.data.byteLength === 0 && !c.done && c.bytes === 0), 'with empty, not-done chunks');
  t.same(seen.map((c) => c.seq), seen.map((_, i) => i), 'numbered like any chunk');
});

t.test('airlock download — a server that never sends headers is given up within the start budget', async (t) => {
  const { downloads, evidence } = setup();
  await t.rejects(downloads.start(req('/m/silent.gguf', { maxMs: 200 })), { code: 'SECAI_E_EGRESS_FAILED', message: /no response headers within 200 ms/ });
  t.match(evidence.at(-1), { outcome: 'failed', bytes: 0 });
});

t.test('airlock download — starts waiting for headers hold a slot: a fifth concurrent start is refused at once', async (t) => {
  const { downloads, evidence } = setup();
  const silent = Promise.allSettled(Array.from({ length: MAX_DOWNLOADS }, () => downloads.start(req('/m/silent.gguf', { maxMs: 300 }))));
  await t.rejects(downloads.start(req('/m/big.gguf')), { code: 'SECAI_E_RATE_LIMITED', message: /4 downloads already in progress/ });
  t.match(evidence.at(-1), { outcome: 'failed', reason: /already in progress/ });
  for (const r of await silent) t.match(r, { status: 'rejected', reason: { code: 'SECAI_E_EGRESS_FAILED', message: /no response headers/ } });
  const after = await downloads.start(req('/m/big.gguf'));
  t.equal(after.status, 200, 'the slots are free again');
  t.equal((await pullAll(downloads, after.id!)).body.byteLength, 8 * MiB);
});

t.test('airlock download — one pull per download at a time: a second while one waits is refused, the first still answers', async (t) => {
  const { downloads } = setup(policy(), undefined, { pullWaitMs: 50 });
  const start = await downloads.start(req('/m/stall.gguf'));
  const first = downloads.next(start.id!);
  await t.rejects(downloads.next(start.id!), { code: 'SECAI_E_INVALID_STATE', message: /already waiting/ });
  t.match(await first, { seq: 0, done: false }, 'the waiting pull is answered (an empty chunk after pullWaitMs)');
  t.equal(downloads.cancel(start.id!), true);
});

t.test('airlock download — the total time limit ends a download that keeps trickling', async (t) => {
  // A generous idle limit (5 s) and a short total one: the trickle is never idle nor big, only the total limit can end it.
  const { downloads, evidence } = setup(policy({ timeout_ms: 5000 }));
  const closed = server.closed('/m/trickle.gguf');
  const start = await downloads.start(req('/m/trickle.gguf', { maxMs: 300 }));
  await t.rejects(pullAll(downloads, start.id!), { code: 'SECAI_E_EGRESS_FAILED', message: /longer than 300 ms \(total time limit\)/ });
  t.notOk((await closed).finished, 'the server-side response was aborted');
  t.match(evidence.at(-1), { outcome: 'failed', reason: /total time limit/ });
});

t.test('airlock download — a server that hangs up early gives a clear error', async (t) => {
  const { downloads, evidence } = setup();
  const start = await downloads.start(req('/m/short.gguf'));
  await t.rejects(pullAll(downloads, start.id!), { code: 'SECAI_E_EGRESS_FAILED', message: /closed the connection after \d+ of 4194304 bytes: download incomplete/ });
  t.match(evidence.at(-1), { outcome: 'failed' });
});

t.test('airlock download — non-allowlisted hosts, private addresses and a disabled airlock are refused before any byte leaves', async (t) => {
  const map = { 'models.test': ['127.0.0.1'], 'evil.test': ['127.0.0.1'] };
  const cases: [ReturnType<typeof setup>, ReturnType<typeof req>, RegExp][] = [
    [setup(policy(), map), req('/m/big.gguf', { host: 'evil.test' }), /default-deny/],
    [setup(policy(), map), req('/admin/big.gguf'), /egress denied by models/],
    [setup(policy(), { 'models.test': ['10.0.0.5'] }), req('/m/big.gguf'), /airlock\.address\.private/],
    [setup(policy(), { 'models.test': ['169.254.169.254'] }), req('/m/big.gguf'), /airlock\.address\.link-local/],
    [setup(policy(), { 'models.test': ['93.184.216.34', '192.168.1.1'] }), req('/m/big.gguf'), /airlock\.address\.private/],
    [setup(policy({ allow_loopback_for_tests: false })), req('/m/big.gguf'), /airlock\.address\.loopback/],
    [setup(policy({ enabled: false })), req('/m/big.gguf'), /airlock\.disabled/],
  ];
  for (const [s, r, rule] of cases) {
    const before = server.hits.length;
    await t.rejects(s.downloads.start(r), { code: 'SECAI_E_EGRESS_DENIED', message: rule }, `${r.url} → ${rule}`);
    t.equal(server.hits.length, before, 'nothing reached the server');
    t.match(s.evidence.at(-1), { decision: 'deny' });
  }
  const { downloads } = setup();
  await t.rejects(downloads.start({ ...req('/m/big.gguf'), headers: { 'x-note': 'jane.doe@example.com' } }), { code: 'SECAI_E_EGRESS_DENIED', message: /airlock\.scan\.email/ }, 'headers are scanned');
});

t.test('airlock download — a redirect comes back with its Location and no id, not followed', async (t) => {
  const { downloads, evidence } = setup();
  const before = server.hits.length;
  const r = await downloads.start(req('/m/redirect.gguf'));
  t.match(r, { status: 302, headers: { location: '/m/big.gguf' } });
  t.equal(r.id, undefined);
  t.equal(server.hits.length, before + 1, 'one request, no second hop');
  t.match(evidence.at(-1), { status: 302, bytes: 0, outcome: 'complete' });
});

t.test('airlock download — cancelling aborts the server-side request; so does a caller that stops asking', async (t) => {
  const { downloads, evidence } = setup();
  let closed = server.closed('/m/endless.gguf');
  const a = await downloads.start(req('/m/endless.gguf'));
  await downloads.next(a.id!);
  t.equal(downloads.cancel(a.id!), true);
  t.notOk((await closed).finished, 'the server saw its response aborted');
  t.match(evidence.at(-1), { outcome: 'cancelled', reason: /cancelled by the caller/ });
  await t.rejects(downloads.next(a.id!), { code: 'SECAI_E_CANCELLED' }, 'a pull after cancel says so');
  t.equal(downloads.cancel(a.id!), false, 'cancelling twice is a no-op');

  closed = server.closed('/m/endless.gguf');
  const b = await downloads.start(req('/m/endless.gguf'));
  await downloads.next(b.id!);
  // The caller goes quiet: after the idle limit (400 ms here) the airlock gives up on it.
  t.notOk((await closed).finished, 'the server saw its response aborted');
  t.match(evidence.at(-1), { outcome: 'cancelled', reason: /did not ask for more/ });
  t.equal(downloads.active, 0);
});

t.test('airlock download — the test hosts map needs the policy switch and SECAI_TEST=1, and maps to loopback only', async (t) => {
  const system: Resolver = async (host) => [{ address: `system:${host}`, family: 4 }];
  const env = { SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: 'models.test=127.0.0.1:4433, inside.test=10.0.0.5:80,public.test=93.184.216.34:443' };
  const on = policy().value.airlock;
  const off = policy({ allow_loopback_for_tests: false }).value.airlock;
  t.same(await testHostsResolver(system, () => on, env)('models.test'), [{ address: '127.0.0.1', family: 4, port: 4433 }]);
  t.same(await testHostsResolver(system, () => off, env)('models.test'), [{ address: 'system:models.test', family: 4 }], 'without the policy switch');
  t.same(await testHostsResolver(system, () => on, { ...env, SECAI_TEST: '' })('models.test'), [{ address: 'system:models.test', family: 4 }], 'without SECAI_TEST=1');
  t.same(await testHostsResolver(system, () => undefined, env)('models.test'), [{ address: 'system:models.test', family: 4 }], 'before the policy is known');
  for (const host of ['inside.test', 'public.test']) t.same(await testHostsResolver(system, () => on, env)(host), [{ address: `system:${host}`, family: 4 }], `${host}: not loopback, ignored`);
});

t.test('airlock download — the test CA (SECAI_TEST_AIRLOCK_CA) rides only on mapped test hosts, under the same switches', async (t) => {
  const system: Resolver = async (host) => [{ address: `system:${host}`, family: 4 }];
  const dir = mkdtempSync(join(tmpdir(), 'secai-test-ca-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const env = { SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: 'models.test=127.0.0.1:4433', SECAI_TEST_AIRLOCK_CA: join(dir, 'ca.pem') };
  const on = policy().value.airlock;
  const off = policy({ allow_loopback_for_tests: false }).value.airlock;
  t.match(await testHostsResolver(system, () => on, env)('models.test'), [{ address: '127.0.0.1', port: 4433, ca: /BEGIN CERTIFICATE/ }]);
  t.same(await testHostsResolver(system, () => on, env)('huggingface.co'), [{ address: 'system:huggingface.co', family: 4 }], 'a real host gets no extra CA');
  t.same(await testHostsResolver(system, () => off, env)('models.test'), [{ address: 'system:models.test', family: 4 }], 'without the policy switch: neither map nor CA');
  t.same(await testHostsResolver(system, () => on, { ...env, SECAI_TEST: '' })('models.test'), [{ address: 'system:models.test', family: 4 }], 'without SECAI_TEST=1');
});

t.test('airlock download — only the quarantine may request the download ops (compiled ACL)', async (t) => {
  for (const op of ['download', 'download_next', 'download_cancel']) {
    const who = compileAcl(MANIFESTS).filter((id) => id.permissions.publish.allow.includes(`secai.airlock.${op}`)).map((id) => id.name);
    t.same(who, ['quarantine'], op);
  }
});
