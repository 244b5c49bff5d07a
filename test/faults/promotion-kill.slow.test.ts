// kill -9 of the registry in the middle of a real promotion (while it copies and hashes a large artifact): after the
// supervisor restarts it, no half-promoted model exists, the signed manifest and the stored files agree, the owner can
// lock, and the same promotion then succeeds without a manual restart.
import t from 'tap';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { serveOp } from '../../bus/op-ref.js';
import { registryManifest } from '../../runtime/catalog.js';
import { disposeAppliance, startAppliance } from '../helpers/appliance.js';
import { slot, until } from './helpers.js';

/** A large artifact (so the copy and hash take long enough to be killed in), written in chunks; its SHA-256. */
function writeArtifact(path: string, mib: number): string {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(path, 'w');
  for (let i = 0; i < mib; i++) {
    chunk.fill(i & 0xff);
    chunk.write(`GGUF chunk ${i}`, 0);
    writeSync(fd, chunk);
    h.update(chunk);
  }
  closeSync(fd);
  return h.digest('hex');
}

t.test('faults (slow) — kill -9 of the registry mid-promotion leaves no half-promoted model; the retry succeeds', async (t) => {
  const a = await startAppliance({ headless: true });
  t.teardown(() => disposeAppliance(a));
  const dir = join(a.home, 'quarantine', 'work', 'killjob');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'big.gguf');
  const sha256 = writeArtifact(path, 768);
  const req = { jobId: 'killjob', name: 'big', path, kind: 'file' as const, sha256, format: 'gguf', merkleRoot: null, stages: [{ stage: 'format', verdict: 'pass', reason: 'test artifact' }] };

  // The quarantine's own identity asks, as the quarantine actor does (the ACL lets no one else).
  const q = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(join(a.home, 'keys', 'bus'), 'quarantine') });
  t.teardown(() => q.close());
  const registryDir = join(a.home, 'registry');
  const before = slot(a, 'registry');
  const promoting = q.call(serveOp(registryManifest, 'promote'), req, 120_000).then(() => 'answered', (e: Error) => e.message);
  // The copy has begun: its `.incoming-<job>` folder is there. Kill now, mid-copy or mid-hash.
  await until('the promotion is under way', () => existsSync(join(registryDir, '.incoming-killjob')), 60_000, 5);
  process.kill(before.pid, 'SIGKILL');
  t.not(await promoting, 'answered', 'the interrupted promotion did not answer success');

  const after = await until('the registry is back', () => {
    const s = slot(a, 'registry');
    return s.pid !== before.pid && s.ready ? s : undefined;
  }, 60_000, 100);
  t.equal(after.restarts, before.restarts + 1, 'restarted once by the supervisor');
  t.notOk(readdirSync(registryDir).some((n) => n.startsWith('.incoming-')), 'no half copy left');
  const list = a.ctl(['models', 'list', '--json']);
  t.equal(list.code, 0, list.stderr);
  t.notOk(JSON.stringify(list.json()).includes(sha256), 'the interrupted model is not listed');
  t.same(readdirSync(registryDir).filter((n) => /^[0-9a-f]{64}$/.test(n)), [], 'no stored folder the manifest does not name');
  t.equal(a.ctl(['vault', 'lock', '--json']).code, 0, 'the owner can lock');

  const entry = await q.call(serveOp(registryManifest, 'promote'), req, 300_000);
  t.equal(entry.sha256, sha256, 'the same promotion succeeds after the restart');
  const v = a.ctl(['models', 'verify', 'big', '--json'], { timeoutMs: 120_000 });
  t.equal(v.code, 0, `the promoted model verifies: ${v.stdout}${v.stderr}`);
  t.same(readdirSync(registryDir).filter((n) => /^[0-9a-f]{64}$/.test(n)), [sha256], 'manifest and files agree');
});
