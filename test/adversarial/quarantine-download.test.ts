// A lying or vanishing airlock, served under the airlock's identity on a real nats-server: the quarantine's
// download checks sequence, size, byte count and SHA-256 itself, and keeps nothing that fails.
import { allowedCallers } from '../../bus/acl.js';
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { airlockManifest } from '../../actors/airlock/manifest.js';
import { policyManifest } from '../../actors/policy/manifest.js';
import { downloadMaxMs, openDownload, receiveDownload, removePartialDownloads } from '../../actors/quarantine/download.js';
import { quarantineManifest } from '../../actors/quarantine/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import type { ActorManifest } from '../../bus/manifest.js';
import { serveManifest } from '../../bus/service.js';
import { createLogger } from '../../common/log.js';
import { startTestBus } from '../helpers/bus.js';

const bus = await startTestBus([airlockManifest, quarantineManifest, registryManifest, policyManifest]);
t.teardown(() => bus.stop());
const work = mkdtempSync(join(tmpdir(), 'secai-dl-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const q = await bus.connect('quarantine');
const allowlist = { sources: [{ host: 'models.test', subdomains: false }], ip_literals: [] };

type Script = { status?: number; location?: string; chunks: { seq?: number; data: unknown; done?: boolean; bytes?: number; sha256?: string }[]; limit?: number; vanishAfter?: number };
let script: Script = { chunks: [] };
const cancelled: string[] = [];
const airlock = await bus.connect('airlock');
let pulled = 0;
let unserve = () => {};
function serve() {
  // Typed as any manifest: this airlock lies on purpose, with replies its schemas do not allow.
  unserve = serveManifest<ActorManifest>({
    bus: airlock, manifest: airlockManifest, log: createLogger('test', 'silent'), operators: { lookup: () => undefined },
    callers: allowedCallers([airlockManifest, quarantineManifest, registryManifest, policyManifest]),
    commands: { status: () => ({}), ping: () => ({}), enable: () => ({}) },
    ops: {
      fetch: () => ({}), status: () => ({}), ping: () => ({}), describe: () => ({}), snapshot: () => ({}), contain: () => ({}),
      download: () => ({ status: script.status ?? 200, headers: script.location ? { location: script.location } : {}, address: '127.0.0.1', decision: {}, limit: script.limit ?? 2 ** 40, ...((script.status ?? 200) === 200 && { id: 'lyinglyinglying0' }) }),
      download_next: async () => {
        const c = script.chunks[pulled++];
        // Vanish: unsubscribe everything (and make sure the server knows) before this last answer goes out.
        if (pulled === script.vanishAfter) { unserve(); await airlock.nc.flush(); }
        return c ?? { seq: pulled - 1, data: new Uint8Array(0), done: true, bytes: 0 };
      },
      download_cancel: (req: { id: string }) => { cancelled.push(req.id); return { cancelled: true }; },
    },
  });
}
serve();
await airlock.nc.flush();

const dlFolders = () => readdirSync(work).filter((n) => n.startsWith('dl-'));
const run = async (s: Script, o: { maxBytes?: number; url?: string } = {}) => {
  script = s;
  pulled = 0;
  const d = { bus: q, url: o.url ?? 'https://models.test/m/a.gguf', allowlist, workDir: work, maxBytes: o.maxBytes ?? 1 << 20, maxMs: 60_000, requestMs: 5000 };
  return receiveDownload(d, await openDownload(d));
};
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const sha = (...parts: Uint8Array[]) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest('hex'); };

t.test('quarantine download — an honest transfer is written whole to a private file', async (t) => {
  const a = bytes(1000, 1), b = bytes(500, 2);
  const path = await run({ chunks: [{ seq: 0, data: a, done: false, bytes: 1000 }, { seq: 1, data: b, done: false, bytes: 1500 }, { seq: 2, data: new Uint8Array(0), done: true, bytes: 1500, sha256: sha(a, b) }] });
  t.equal(sha(readFileSync(path)), sha(a, b));
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  rmSync(join(path, '..'), { recursive: true });
});

t.test('quarantine download — a lying airlock: wrong SHA-256, wrong count, skipped chunk, malformed chunk, over the limit', async (t) => {
  const a = bytes(1000, 1);
  const cases: [string, Script, { code: string; message: RegExp }, number?][] = [
    ['wrong sha256', { chunks: [{ seq: 0, data: a, bytes: 1000, done: false }, { seq: 1, data: new Uint8Array(0), done: true, bytes: 1000, sha256: sha(bytes(1000, 9)) }] }, { code: 'SECAI_E_DIGEST_MISMATCH', message: /does not match the airlock's account/ }],
    ['wrong count', { chunks: [{ seq: 0, data: a, bytes: 1000, done: false }, { seq: 1, data: new Uint8Array(0), done: true, bytes: 2000, sha256: sha(a) }] }, { code: 'SECAI_E_DIGEST_MISMATCH', message: /2000 bytes/ }],
    ['skipped chunk', { chunks: [{ seq: 0, data: a, bytes: 1000, done: false }, { seq: 2, data: a, bytes: 2000, done: false }] }, { code: 'SECAI_E_EGRESS_FAILED', message: /chunk 2 arrived where 1 was expected/ }],
    ['malformed chunk', { chunks: [{ seq: 0, data: 'not bytes', bytes: 9, done: false }] }, { code: 'SECAI_E_BAD_MESSAGE', message: /malformed download chunk/ }],
    ['over the caller\'s limit', { chunks: [{ seq: 0, data: bytes(600, 1), bytes: 600, done: false }, { seq: 1, data: bytes(600, 1), bytes: 1200, done: false }] }, { code: 'SECAI_E_EGRESS_FAILED', message: /exceeds 1000 bytes/ }, 1000],
    ['over the airlock\'s own limit', { limit: 700, chunks: [{ seq: 0, data: bytes(600, 1), bytes: 600, done: false }, { seq: 1, data: bytes(600, 1), bytes: 1200, done: false }] }, { code: 'SECAI_E_EGRESS_FAILED', message: /exceeds 700 bytes/ }],
  ];
  for (const [what, s, err, maxBytes] of cases) {
    const before = cancelled.length;
    await t.rejects(run(s, maxBytes ? { maxBytes } : {}), err, what);
    t.same(dlFolders(), [], `${what}: no file or folder left`);
    if (what.startsWith('wrong')) t.equal(cancelled.length, before, `${what}: the airlock had finished, nothing to cancel`);
    else t.equal(cancelled.length, before + 1, `${what}: the airlock is told to stop`);
  }
});

t.test('quarantine download — redirects are re-checked by stage-1 rules and capped at 3; errors import nothing', async (t) => {
  await t.rejects(run({ status: 302, location: 'https://evil.test/x.gguf', chunks: [] }), { code: 'SECAI_E_IMPORT_REFUSED', message: /evil\.test is not in sources\.allowlist/ });
  await t.rejects(run({ status: 302, location: 'http://models.test/x.gguf', chunks: [] }), { code: 'SECAI_E_IMPORT_REFUSED', message: /only https/ });
  await t.rejects(run({ status: 302, location: '/again.gguf', chunks: [] }), { code: 'SECAI_E_IMPORT_REFUSED', message: /more than 3 redirects/ });
  await t.rejects(run({ status: 404, chunks: [] }), { code: 'SECAI_E_IMPORT_REFUSED', message: /HTTP 404/ });
  t.same(dlFolders(), []);
});

t.test('quarantine download — the airlock vanishing mid-download leaves nothing, and says the airlock is unavailable', async (t) => {
  await t.rejects(run({ vanishAfter: 1, chunks: [{ seq: 0, data: bytes(1000, 1), bytes: 1000, done: false }] }), { code: 'SECAI_E_AIRLOCK_UNAVAILABLE' });
  t.same(dlFolders(), []);
  t.notOk(existsSync(join(work, 'a.gguf')));
  serve();
  await airlock.nc.flush();
});

t.test('quarantine download — the total time setting is validated (fail closed on a typo)', async (t) => {
  t.equal(downloadMaxMs(undefined), 6 * 3600_000);
  t.equal(downloadMaxMs('250'), 250);
  for (const bad of ['abc', '1e9', '-5', '99', '86400001', '1.5']) t.throws(() => downloadMaxMs(bad), { code: 'SECAI_E_CONFIG_INVALID' }, bad);
});

t.test('quarantine download — partial downloads a crashed run left are removed at start; jobs are not touched', async (t) => {
  const w = mkdtempSync(join(tmpdir(), 'secai-dl-left-'));
  t.teardown(() => rmSync(w, { recursive: true, force: true }));
  mkdirSync(join(w, 'dl-qabc'));
  writeFileSync(join(w, 'dl-qabc', 'half.gguf'), 'half a model');
  mkdirSync(join(w, 'qjob1'));
  t.same(removePartialDownloads(w), ['dl-qabc']);
  t.same(readdirSync(w), ['qjob1']);
  t.same(removePartialDownloads(join(w, 'missing')), [], 'no work folder yet: nothing to do');
});
