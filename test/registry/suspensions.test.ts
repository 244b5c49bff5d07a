// The signed suspension record and its anchor, attacked on disk: an edit, a deletion, a forged anchor, and an older
// signed record put back (the copy from before an incident suspended a model) are never trusted.
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applianceKey } from '../../common/appliance-key.js';
import { openSuspensions, readSuspensions, suspensionsAnchorPath, suspensionsPath, writeSuspensions, type SuspensionFiles } from '../../actors/registry/suspensions.js';

const home = mkdtempSync(join(tmpdir(), 'secai-suspensions-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
mkdirSync(join(home, 'registry'));
mkdirSync(join(home, 'keys'));
const files: SuspensionFiles = { registryDir: join(home, 'registry'), anchor: suspensionsAnchorPath(join(home, 'keys')) };
const record = suspensionsPath(files.registryDir);
const sha = 'ab'.repeat(32);
const held = { sha256: sha, names: ['tiny'], by: 'inc-0001', reason: 'manifest_mismatch', at: 1 };

t.test('suspensions — written, anchored and read back', async (t) => {
  const key = await applianceKey(join(home, 'keys', 'appliance.ed25519'));
  await writeSuspensions(files, key, [], 1);
  t.same(await readSuspensions(files, key.publicKey, 1), { records: [], seq: 1, untrusted: null });
  await writeSuspensions(files, key, [held], 2);
  t.same(await readSuspensions(files, key.publicKey, 1), { records: [held], seq: 2, untrusted: null });
  t.match(JSON.parse(readFileSync(files.anchor, 'utf8')), { seq: 2 });
});

t.test('suspensions — an older signed record put back is a rollback: untrusted, and the next write is newer than both', async (t) => {
  const key = await applianceKey(join(home, 'keys', 'appliance.ed25519'));
  await writeSuspensions(files, key, [], 3);
  const before = join(home, 'before.json');
  copyFileSync(record, before); // what an attacker keeps: a valid signed record with nothing suspended
  await writeSuspensions(files, key, [held], 4);
  copyFileSync(before, record);
  const s = await readSuspensions(files, key.publicKey, 1);
  t.same(s.records, [], 'nothing is trusted from it');
  t.match(s.untrusted, /record 3, older than record 4 written last/);
  t.equal(s.seq, 4, 'the next write builds on the anchor, not on the old copy');
  // Without the anchor the old copy would verify: the signature alone cannot tell it apart.
  rmSync(files.anchor);
  t.equal((await readSuspensions(files, key.publicKey, 1)).untrusted, null, 'a registry without an anchor cannot see it (what the anchor adds)');
});

t.test('suspensions — a forged anchor, an edited record and a deleted one are untrusted', async (t) => {
  const key = await applianceKey(join(home, 'keys', 'appliance.ed25519'));
  await writeSuspensions(files, key, [held], 5);
  const anchor = readFileSync(files.anchor, 'utf8');
  writeFileSync(files.anchor, anchor.replace('"seq":5', '"seq":1'));
  t.match((await readSuspensions(files, key.publicKey, 1)).untrusted, /anchor\) does not verify/);
  writeFileSync(files.anchor, 'not json');
  t.match((await readSuspensions(files, key.publicKey, 1)).untrusted, /anchor\) does not verify/);
  writeFileSync(files.anchor, anchor);
  writeFileSync(record, readFileSync(record, 'utf8').replace('"seq": 5', '"seq": 9'));
  const edited = await readSuspensions(files, key.publicKey, 1);
  t.match(edited.untrusted, /signature does not verify/);
  t.equal(edited.seq, 9, 'a next write is newer than the claimed number too');
  rmSync(record);
  t.match((await readSuspensions(files, key.publicKey, 1)).untrusted, /missing beside a registry of 1 model/);
  t.equal((await readSuspensions(files, key.publicKey, 0)).untrusted, null, 'no model, nothing to protect');
  t.equal((await readSuspensions(files, key.publicKey, 0)).seq, 5, 'a fresh record is written at the anchored number');
});

t.test('suspensions — a record signed by another key does not verify', async (t) => {
  const key = await applianceKey(join(home, 'keys', 'appliance.ed25519'));
  const other = await applianceKey(join(home, 'other.ed25519'));
  await writeSuspensions(files, other, [], 6);
  t.match((await readSuspensions(files, key.publicKey, 1)).untrusted, /does not verify/);
});

t.test('suspensions — at open: a fresh registry gets a signed record and anchor; an unanchored record is anchored once; an untrusted one is not', async (t) => {
  const key = await applianceKey(join(home, 'keys', 'appliance.ed25519'));
  rmSync(record, { force: true });
  rmSync(files.anchor, { force: true });
  t.same(await openSuspensions(files, key, 0), { records: [], seq: 0, untrusted: null });
  t.ok(existsSync(record) && existsSync(files.anchor), 'both written for a fresh registry');
  // A registry from before anchors: its trusted record is anchored at the first open, and not rewritten at the next.
  await writeSuspensions(files, key, [held], 7);
  rmSync(files.anchor);
  t.same(await openSuspensions(files, key, 1), { records: [held], seq: 7, untrusted: null });
  t.match(JSON.parse(readFileSync(files.anchor, 'utf8')), { seq: 7 });
  const ino = statSync(files.anchor).ino;
  await openSuspensions(files, key, 1);
  t.equal(statSync(files.anchor).ino, ino, 'an anchor already current is left alone');
  // An old copy put back is not anchored over at open: the anchor keeps the newer number.
  const old = join(home, 'seven.json');
  copyFileSync(record, old);
  await writeSuspensions(files, key, [], 8);
  copyFileSync(old, record);
  t.match((await openSuspensions(files, key, 1)).untrusted, /record 7, older than record 8/);
  t.match(JSON.parse(readFileSync(files.anchor, 'utf8')), { seq: 8 });
});
