// The periodic scan without inotify: a file whose stat is unchanged is not re-hashed (idle CPU), and no user program can
// change a file's bytes while keeping its stat: `touch -d` sets mtime back, but the change moved ctime. A full scan
// re-hashes everything whatever the stat.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure, scan, type ScanDeps } from '../../actors/integrity/scan.js';
import { baselineStore } from '../../actors/integrity/baseline-file.js';
import { getSodium } from '../../common/sodium.js';
import type { ScanInput } from '../../machines/integrity/integrity.machine.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-scan-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const code = join(dir, 'code');
mkdirSync(code);
for (let i = 0; i < 20; i++) writeFileSync(join(code, `m${i}.js`), `export const x${i} = ${i};\n`);
const sodium = await getSodium();
const key = sodium.crypto_sign_keypair();
const baseline = baselineStore({ file: join(dir, 'baseline.json'), anchor: join(dir, 'anchor.json'), key: { secretKey: key.privateKey, publicKey: key.publicKey }, sodium });
const deps: ScanDeps = {
  targets: { roots: [{ path: code, dir: true, recursive: true, kindOf: () => 'code' }], registry: join(dir, 'registry'), registryManifest: join(dir, 'm.json'), registrySuspensions: join(dir, 's.json'), operators: join(dir, 'ops'), policyFile: join(dir, 'policy.yaml') },
  canaries: new Set(), baseline, applianceKey: key.publicKey, sodium,
};
const entries = await measure(deps);
baseline.save({ entries, generation: 1, createdAt: 1, updatedAt: 1 });
const input = (o: Partial<ScanInput> = {}): ScanInput => ({ entries, scope: 'all', full: false, smallFileBytes: 0, generation: 1, policyLoaded: null, operators: 1, ...o });

t.test('integrity scan — unchanged files are compared by stat, not read', async (t) => {
  const r = await scan(deps, input());
  t.equal(r.files, 20);
  t.equal(r.bytesHashed, 0, 'nothing re-hashed on an idle scan');
  t.same(r.changes, []);
  t.same(r.baseline, { ok: true });
  const paranoid = await scan(deps, input({ smallFileBytes: 1 << 20 }));
  t.ok(paranoid.bytesHashed > 0, 'small_file_bytes still re-hashes the files below it when an operator asks');
});

t.test('integrity scan — bytes changed and mtime set back (touch -d) is found: ctime moved', async (t) => {
  const file = join(code, 'm7.js');
  const before = statSync(file);
  const bytes = readFileSync(file, 'utf8').replace('= 7', '= 8'); // same size
  await new Promise((r) => setTimeout(r, 20)); // ctime has ms resolution here; the write lands in a later ms
  writeFileSync(file, bytes);
  utimesSync(file, before.atimeMs / 1000, before.mtimeMs / 1000);
  const after = statSync(file);
  t.equal(after.size, before.size);
  t.equal(Math.trunc(after.mtimeMs), Math.trunc(before.mtimeMs), 'the attacker restored mtime');
  t.equal(after.ino, before.ino, 'same inode');
  const r = await scan(deps, input());
  t.same(r.changes.map((c) => [c.path, c.change]), [[file, 'changed']], 'found by the periodic scan');
  t.equal(r.bytesHashed, after.size, 'only that file was re-hashed');
});

t.test('integrity scan — a full scan re-hashes every file whatever its stat', async (t) => {
  const r = await scan(deps, input({ full: true }));
  t.equal(r.bytesHashed, Object.values(entries).reduce((n, e) => n + e.size, 0));
  t.same(r.changes.map((c) => c.path), [join(code, 'm7.js')], 'the changed file again; the others match');
});
