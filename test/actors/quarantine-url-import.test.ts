// URL imports as processes on a real bus: quarantine → airlock (streamed download) → a local HTTPS model server.
// The airlock runs in its test mode (loopback switch + SECAI_TEST=1) with models.test mapped to the local server.
import t from 'tap';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { airlockManifest } from '../../actors/airlock/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { quarantineManifest } from '../../actors/quarantine/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { supervisorManifest } from '../../actors/supervisor/manifest.js';
import { decode } from '../../bus/codec.js';
import { defineManifest } from '../../bus/manifest.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { ROOT } from '../helpers/appliance.js';
import { startActor } from '../helpers/actor-process.js';
import { startTestBus } from '../helpers/bus.js';
import { MiB, startModelServer } from '../helpers/download-server.js';
import { policyText } from '../policy/helpers.js';

const operator = defineManifest({
  name: 'testop', kind: 'client', description: 'test operator and a stand-in airlock caller', serves: {}, commands: {}, publishes: {},
  requests: ['airlock.download', 'airlock.download_next', 'airlock.download_cancel'], subscribes: ['airlock.*', 'quarantine.*'],
  sends: ['quarantine.import', 'quarantine.list', 'quarantine.cancel'],
});

const server = await startModelServer({ tls: { host: 'models.test' } });
t.teardown(() => server.stop());
const bus = await startTestBus([supervisorManifest, policyManifest, airlockManifest, quarantineManifest, registryManifest, operator], { streams: true });
t.teardown(() => bus.stop());
const config = mkdtempSync(join(tmpdir(), 'secai-config-'));
t.teardown(() => rmSync(config, { recursive: true, force: true }));
for (const f of readdirSync(join(ROOT, 'policy'))) if (f.endsWith('.yaml')) copyFileSync(join(ROOT, 'policy', f), join(config, f));
writeFileSync(join(config, 'policy.yaml'), policyText({
  airlock: {
    enabled: true, allow_loopback_for_tests: true, timeout_ms: 1000,
    destinations: [{ id: 'models', host: 'models.test', schemes: ['https'], ports: [443], methods: ['GET'], path_prefix: '/m/' }],
  },
  quarantine: { max_file_bytes: 12 * MiB },
}));
writeFileSync(join(config, 'sources.allowlist.yaml'), 'version: 1\nsources:\n  - { host: models.test, subdomains: false }\n  - { host: evil.test, subdomains: false }\nip_literals: []\n');

await startActor(bus, 'policy', config, t);
await Promise.all([
  startActor(bus, 'airlock', config, t, {
    SECAI_TEST: '1', SECAI_TEST_AIRLOCK_HOSTS: `models.test=127.0.0.1:${server.port}`, NODE_EXTRA_CA_CERTS: server.certPath!,
  }),
  startActor(bus, 'quarantine', config, t),
]);
const c = await bus.connect('testop');
const key = await ensureOperatorKey(bus.paths.operatorKey, bus.paths.trustedOperators);
const events: { subject: string; data: any }[] = [];
for (const subj of ['secai.evt.airlock.egress', 'secai.evt.quarantine.*']) c.subscribe(subj, (m) => { events.push({ subject: m.subject, data: decode(m.data) }); });
await c.nc.flush();

const work = bus.paths.quarantineWork;
const downloadsLeft = () => (existsSync(work) ? readdirSync(work).filter((n) => n.startsWith('dl-')) : []);
const importUrl = (url: string) => c.command<{ id: string; name: string }>(key, 'quarantine', 'import', { url }, 60_000);

async function until<T>(find: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = find();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`waited in vain for ${what}`);
}

t.test('quarantine URL import — 8 MiB (8× the bus max_payload) stream through the airlock whole and become a job', async (t) => {
  const r = await importUrl('https://models.test/m/big.gguf');
  t.match(r, { id: /^[A-Za-z0-9_-]+$/, name: 'big.gguf' });
  const queued = await until(() => events.find((e) => e.subject === 'secai.evt.quarantine.job_queued' && e.data.id === r.id), 'job_queued');
  t.match(queued.data, { size: 8 * MiB, origin: { type: 'url', url: 'https://models.test/m/big.gguf' } });
  const egress = await until(() => events.find((e) => e.subject === 'secai.evt.airlock.egress' && e.data.op === 'download' && e.data.status === 200), 'egress event');
  t.match(egress.data, { decision: 'allow', rule: 'models', outcome: 'complete', bytes: 8 * MiB, sha256: server.bigSha256, origin: 'https://models.test', address: '127.0.0.1' });
  const verdict = await until(() => events.find((e) => e.subject === 'secai.evt.quarantine.verdict' && e.data.id === r.id), 'verdict');
  // Random bytes are not a model: the format stage rejects them, and the copy stays in quarantine to compare.
  t.equal(verdict.data.outcome, 'rejected');
  t.match(verdict.data.results[0], { stage: 'source', verdict: 'pass' });
  const file = join(bus.paths.quarantine, 'rejected', r.id, 'big.gguf');
  t.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), server.bigSha256, 'the bytes scanned are the bytes served');
  t.equal(statSync(file).mode & 0o077, 0, 'the downloaded file is private (0600)');
  t.same(downloadsLeft(), [], 'no download folder left in work/');
});

t.test('quarantine URL import — a redirect is re-checked against the allowlist and followed by a new download', async (t) => {
  const r = await importUrl('https://models.test/m/redirect.gguf');
  t.equal(r.name, 'big.gguf', 'the file is named by the final URL');
  const queued = await until(() => events.find((e) => e.subject === 'secai.evt.quarantine.job_queued' && e.data.id === r.id), 'job_queued');
  t.equal(queued.data.size, 8 * MiB);
});

const verdictOf = (id: string) => until(() => events.find((e) => e.subject === 'secai.evt.quarantine.verdict' && e.data.id === id), `verdict of ${id}`);
const jobs = () => c.command<{ jobs: { id: string; state: string; reason: string }[] }>(key, 'quarantine', 'list');

t.test('quarantine URL import — over max_file_bytes is refused mid-stream: the job ends rejected and leaves no file', async (t) => {
  const closed = server.closed('/m/huge.gguf');
  const r = await importUrl('https://models.test/m/huge.gguf');
  const v = await verdictOf(r.id);
  t.match(v.data, { outcome: 'rejected', reason: /^download failed: .*exceeds 12582912 bytes \(size limit\)/, sha256: null });
  t.match(v.data.results, [{ stage: 'source', verdict: 'fail', evidence: { url: 'https://models.test/m/huge.gguf', code: 'SECAI_E_EGRESS_FAILED' } }], 'the source result says why, in the audit chain');
  t.notOk((await closed).finished, 'the server-side response was cut');
  t.same(downloadsLeft(), [], 'the partial file is gone');
  t.notOk(existsSync(join(work, r.id)), 'nothing was queued for scanning');
  await until(() => events.find((e) => e.subject === 'secai.evt.airlock.egress' && e.data.outcome === 'failed' && /size limit/.test(e.data.reason)), 'failed egress event');
});

t.test('quarantine URL import — the job is listed as downloading until its transfer ends; a stall or an early hang-up rejects it', async (t) => {
  const stalled = await importUrl('https://models.test/m/stall.gguf');
  // The server sent 128 KiB and then nothing: the import has answered, the transfer is still open (1000 ms idle limit).
  t.match((await jobs()).jobs.find((j) => j.id === stalled.id), { state: 'downloading', reason: /downloading through the airlock from https:\/\/models\.test/ });
  t.match((await verdictOf(stalled.id)).data, { outcome: 'rejected', reason: /download failed: .*sent nothing for 1000 ms after 131072 bytes \(stalled\)/ });
  t.match((await jobs()).jobs.find((j) => j.id === stalled.id), { state: 'rejected' });
  t.same(downloadsLeft(), []);
  const short = await importUrl('https://models.test/m/short.gguf');
  t.match((await verdictOf(short.id)).data, { outcome: 'rejected', reason: /closed the connection after \d+ of 4194304 bytes: download incomplete/ });
  t.same(downloadsLeft(), []);
});

t.test('quarantine URL import — hosts outside the source allowlist or the airlock destinations are refused before any byte', async (t) => {
  const before = server.hits.length;
  await t.rejects(importUrl('https://other.test/m/big.gguf'), { code: 'SECAI_E_IMPORT_REFUSED', message: /not in sources\.allowlist/ });
  // In the quarantine's allowlist but not an airlock destination: the airlock says no.
  await t.rejects(importUrl('https://evil.test/m/big.gguf'), { code: 'SECAI_E_EGRESS_DENIED', message: /default-deny/ });
  await t.rejects(importUrl('http://models.test/m/big.gguf'), { code: 'SECAI_E_IMPORT_REFUSED', message: /only https/ });
  await t.rejects(c.request('airlock', 'download', { url: 'https://models.test/admin/x', maxBytes: MiB, maxMs: 10_000 }), { code: 'SECAI_E_EGRESS_DENIED' });
  t.equal(server.hits.length, before, 'nothing reached the server');
  t.same(downloadsLeft(), []);
});

t.test('airlock download over the bus — a cancel, or a caller that goes away, aborts the server-side request', async (t) => {
  let closed = server.closed('/m/endless.gguf');
  const start = await c.request<{ id: string; status: number }>('airlock', 'download', { url: 'https://models.test/m/endless.gguf', maxBytes: 64 * MiB, maxMs: 60_000 }, 30_000);
  t.equal(start.status, 200);
  const first = await c.request<{ seq: number; data: Uint8Array }>('airlock', 'download_next', { id: start.id }, 30_000);
  t.equal(first.seq, 0);
  t.equal(first.data.byteLength, 512 * 1024, 'a full 512 KiB chunk');
  t.same(await c.request('airlock', 'download_cancel', { id: start.id }), { cancelled: true });
  t.notOk((await closed).finished, 'the server saw the request aborted');
  await t.rejects(c.request('airlock', 'download_next', { id: start.id }), { code: 'SECAI_E_CANCELLED' });
  await until(() => events.find((e) => e.subject === 'secai.evt.airlock.egress' && e.data.outcome === 'cancelled'), 'cancelled egress event');

  closed = server.closed('/m/endless.gguf');
  const gone = await bus.connect('testop');
  const s2 = await gone.request<{ id: string }>('airlock', 'download', { url: 'https://models.test/m/endless.gguf', maxBytes: 64 * MiB, maxMs: 60_000 }, 30_000);
  await gone.request('airlock', 'download_next', { id: s2.id }, 30_000);
  await gone.close();
  t.notOk((await closed).finished, 'the caller left: after the idle limit the airlock aborted the request');
  await t.rejects(c.request('airlock', 'download_next', { id: s2.id }), { code: 'SECAI_E_CANCELLED', message: /did not ask for more/ });
});

t.test('airlock download over the bus — a pull waiting on a stalled server does not hold up another download', async (t) => {
  const open = (path: string) => c.request<{ id: string; status: number }>('airlock', 'download', { url: `https://models.test${path}`, maxBytes: 64 * MiB, maxMs: 60_000 }, 30_000);
  const pull = (id: string) => c.request<{ seq: number; data: Uint8Array; done: boolean }>('airlock', 'download_next', { id }, 30_000);
  const stalled = await open('/m/stall.gguf');
  const big = await open('/m/big.gguf');
  const order: string[] = [];
  // The stalled server sent 128 KiB (less than a chunk) and then nothing: this pull waits until the idle limit fails it.
  const waiting = pull(stalled.id).then(() => order.push('stalled pull answered'), (err: Error) => { order.push('stalled pull failed'); return err; });
  for (let i = 0; i < 3; i++) t.equal((await pull(big.id)).data.byteLength, 512 * 1024, `big chunk ${i}`);
  order.push('big pulled 3 chunks');
  t.same(await c.request('airlock', 'download_cancel', { id: big.id }), { cancelled: true });
  t.match(await waiting, { code: 'SECAI_E_EGRESS_FAILED', message: /stalled/ });
  t.same(order, ['big pulled 3 chunks', 'stalled pull failed'], 'the other download went on while one pull waited');
});

t.test('quarantine URL import — an operator cancels a download in progress; other jobs cannot be cancelled', async (t) => {
  const closed = server.closed('/m/trickle.gguf');
  const before = events.length;
  // 1 KiB every 50 ms, never idle: only a cancel (or the 6 h limit) ends it.
  const r = await importUrl('https://models.test/m/trickle.gguf');
  t.match((await jobs()).jobs.find((j) => j.id === r.id), { state: 'downloading' });
  t.same(await c.command(key, 'quarantine', 'cancel', { id: r.id }), { cancelled: true });
  t.match((await verdictOf(r.id)).data, { outcome: 'rejected', reason: /^download cancelled by operator [A-Za-z0-9_-]+ after \d+ bytes/ });
  t.notOk((await closed).finished, 'the server saw the request aborted');
  t.same(downloadsLeft(), [], 'the partial file is gone');
  await until(() => events.slice(before).find((e) => e.subject === 'secai.evt.airlock.egress' && e.data.outcome === 'cancelled'), 'cancelled egress event');
  await t.rejects(c.command(key, 'quarantine', 'cancel', { id: r.id }), { code: 'SECAI_E_INVALID_STATE', message: /is rejected: only a download in progress/ }, 'a finished job');
  await t.rejects(c.command(key, 'quarantine', 'cancel', { id: 'qnope' }), { code: 'SECAI_E_JOB_NOT_FOUND' });
});
