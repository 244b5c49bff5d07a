// An attacker with the appliance's Unix user restores, replaces or deletes audit files: the anchor and the break records catch it.
import t, { type Test } from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditChain, verifyChain, type AuditInput } from '../../actors/audit/audit-chain.js';
import { anchorPath, checkFreshness, readAnchor, recreatedStreams } from '../../actors/audit/chain-anchor.js';
import { encode } from '../../bus/codec.js';
import { ErrorCode } from '../../common/errors.js';

const KEY = new Uint8Array(32).fill(7);

function input(i: number, stream = 'AUDIT_EVT'): AuditInput {
  const payload = { i, note: `event ${i}` };
  return { stream, streamSeq: i, subject: `secai.evt.test.e${i}`, raw: encode(payload), payload, at: 1_800_000_000_000 + i };
}

/** A home with audit/ and keys/ side by side, as the appliance lays them out. */
function home(t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'secai-anchor-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'audit');
  const anchorFile = anchorPath(join(root, 'keys'));
  const open = () => {
    const c = new AuditChain(dir, KEY, { anchorFile });
    c.open();
    c.raiseAnchor();
    return c;
  };
  const verify = () => verifyChain(dir, KEY, { anchorFile });
  const files = ['chain.jsonl', 'head.json'].map((f) => join(dir, f));
  const save = (tag: string) => [...files, anchorFile].forEach((f) => copyFileSync(f, `${join(root, tag)}-${f.split('/').pop()}`));
  const restore = (tag: string, what = [...files, anchorFile]) => what.forEach((f) => copyFileSync(`${join(root, tag)}-${f.split('/').pop()}`, f));
  return { root, dir, anchorFile, open, verify, files, save, restore };
}

t.test('audit anchor — verifyChain without the key refuses an HMAC-keyed chain instead of calling it valid', async (t) => {
  const h = home(t);
  const c = new AuditChain(h.dir, KEY);
  c.open();
  c.append([input(1), input(2)]);
  await t.rejects(verifyChain(h.dir), { code: ErrorCode.AUDIT_KEY_REQUIRED });
  // Also when the head was removed: the records alone say the chain is keyed.
  unlinkSync(join(h.dir, 'head.json'));
  await t.rejects(verifyChain(h.dir), { code: ErrorCode.AUDIT_KEY_REQUIRED });
  await t.rejects(verifyChain(h.dir, undefined, { anchorFile: h.anchorFile }), { code: ErrorCode.AUDIT_KEY_REQUIRED });
  t.match(await verifyChain(h.dir, KEY), { ok: false, reason: /head is missing/ }, 'with the key it is checked as usual');
});

t.test('audit anchor — restoring an older chain.jsonl + head.json is a rollback', async (t) => {
  const h = home(t);
  const c = h.open();
  c.append([1, 2, 3, 4, 5].map((i) => input(i)));
  h.save('old');
  c.append([6, 7, 8].map((i) => input(i)));
  t.match(await h.verify(), { ok: true, records: 8 });
  h.restore('old', h.files);
  t.match(await verifyChain(h.dir, KEY), { ok: true, records: 5 }, 'the head alone cannot tell: it is genuine, only old');
  t.match(await h.verify(), { ok: false, brokenAt: 6, reason: /rolled back: it ends at record 5 but the anchor says 8/, expected: /at least 8 records/, found: '5 records' });
  // The actor's start check finds the same, and records the break in the chain itself.
  const anchor = readAnchor(h.anchorFile, KEY);
  const re = new AuditChain(h.dir, KEY, { anchorFile: h.anchorFile });
  const { hashAt } = re.open(8);
  const findings = checkFreshness({ length: re.length, ...(hashAt !== undefined && { hashAtAnchor: hashAt }), streams: re.streamSeqs() }, anchor);
  t.match(findings, [{ check: 'anchor', reason: /rolled back/ }]);
  re.appendBreak({ reason: findings[0]!.reason, findings }, 1);
  re.append([input(9), input(10)]);
  t.match(await h.verify(), { ok: false, brokenAt: 6, reason: /record 6 records a break.*rolled back/, expected: /at least 8 records/ }, 'the break stays after the anchor moved on');
  t.match(await verifyChain(h.dir, KEY), { ok: false, brokenAt: 6 }, 'even for a verifier that has no anchor');
});

t.test('audit anchor — deleting chain.jsonl + head.json is caught, also when a new chain starts', async (t) => {
  const h = home(t);
  h.open().append([1, 2, 3].map((i) => input(i)));
  h.files.forEach((f) => unlinkSync(f));
  t.match(await h.verify(), { ok: false, reason: /chain is missing: the anchor says 3 records/ });
  // The actor reopening creates an empty chain: still missing what the anchor named.
  const re = new AuditChain(h.dir, KEY, { anchorFile: h.anchorFile });
  re.open();
  t.match(checkFreshness({ length: re.length, streams: re.streamSeqs() }, readAnchor(h.anchorFile, KEY)), [{ reason: /chain is missing/ }]);
});

t.test('audit anchor — a different chain as long as the anchored one is a replacement', async (t) => {
  const h = home(t);
  h.open().append([1, 2, 3].map((i) => input(i)));
  const other = mkdtempSync(join(tmpdir(), 'secai-anchor-other-'));
  t.teardown(() => rmSync(other, { recursive: true }));
  const o = new AuditChain(other, KEY);
  o.open();
  o.append([11, 12, 13, 14].map((i) => input(i)));
  for (const f of ['chain.jsonl', 'head.json']) copyFileSync(join(other, f), join(h.dir, f));
  t.match(await h.verify(), { ok: false, brokenAt: 3, reason: /replaced: record 3 is not the record the anchor names/ });
});

t.test('audit anchor — a forged, edited or deleted anchor is not trusted', async (t) => {
  const h = home(t);
  h.open().append([1, 2].map((i) => input(i)));
  const a = JSON.parse(readFileSync(h.anchorFile, 'utf8')) as { seq: number };
  writeFileSync(h.anchorFile, JSON.stringify({ ...a, seq: 1 }));
  t.match(await h.verify(), { ok: false, reason: /anchor has a bad HMAC/ });
  writeFileSync(h.anchorFile, 'not json');
  t.match(await h.verify(), { ok: false, reason: /anchor is unreadable/ });
  unlinkSync(h.anchorFile);
  t.match(await h.verify(), { ok: false, reason: /anchor \(keys\/audit.anchor\) is missing/ });
});

t.test('audit anchor — no false alarm: fresh, reopened, and a crash between the chain fsync and the anchor', async (t) => {
  const h = home(t);
  t.match(await h.verify(), { ok: true, records: 0 }, 'a fresh install');
  const c = h.open();
  t.match(await h.verify(), { ok: true, records: 0 }, 'an anchored empty chain');
  c.append([1, 2, 3].map((i) => input(i)));
  h.save('before');
  c.append([4, 5].map((i) => input(i)));
  // kill -9 after the chain (and head) but before the anchor: the chain is longer than its anchor.
  h.restore('before', [h.anchorFile]);
  t.match(await h.verify(), { ok: true, records: 5 });
  const re = new AuditChain(h.dir, KEY, { anchorFile: h.anchorFile });
  const anchor = readAnchor(h.anchorFile, KEY);
  const { hashAt } = re.open(3);
  t.same(checkFreshness({ length: re.length, ...(hashAt !== undefined && { hashAtAnchor: hashAt }), streams: re.streamSeqs() }, anchor,
    [{ stream: 'AUDIT_EVT', ackFloor: 5, firstSeq: 1, lastSeq: 5, delivered: 5 }]), [], 'reopened: nothing found');
});

t.test('audit anchor — JetStream continuity catches a rollback of the chain and the anchor together', async (t) => {
  // The chain and its anchor agree (both restored from the same backup): only JetStream can tell.
  const hash = 'a'.repeat(64);
  const end = { length: 5, hashAtAnchor: hash, streams: { AUDIT_EVT: 5, AUDIT_CMD: 2 } };
  const ok = { state: 'ok' as const, anchor: { seq: 5, hash, streams: end.streams } };
  t.match(checkFreshness(end, ok, [{ stream: 'AUDIT_EVT', ackFloor: 9, firstSeq: 1, lastSeq: 9, delivered: 9 }]),
    [{ check: 'jetstream', reason: /AUDIT_EVT had messages up to 9 acknowledged.*only up to 5/, expected: /up to stream sequence 9/, found: /up to stream sequence 5/ }]);
  t.match(checkFreshness({ length: 0, streams: {} }, { state: 'missing' }, [{ stream: 'AUDIT_CMD', ackFloor: 3, firstSeq: 1, lastSeq: 3, delivered: 3 }]),
    [{ check: 'jetstream', reason: /none of them/ }], 'a deleted chain, anchor and all');
  t.same(checkFreshness(end, ok, [{ stream: 'AUDIT_EVT', ackFloor: 5, firstSeq: 1, lastSeq: 7, delivered: 7 }, { stream: 'AUDIT_CMD', ackFloor: 1, firstSeq: 1, lastSeq: 2, delivered: 2 }]), [],
    'acked up to what the chain holds (delivered but unacked is fine)');
  t.same(checkFreshness(end, ok, [{ stream: 'AUDIT_EVT', ackFloor: 9, firstSeq: 12, lastSeq: 20, delivered: 20 }]), [],
    'messages the stream dropped before delivery are not counted as lost');
});

t.test('audit anchor — a recreated JetStream stream is a break, and its new sequences are recorded, not dropped as duplicates', async (t) => {
  // Deleting bus/jetstream: the supervisor makes the streams and the audit consumers anew, and sequences start at 1.
  const hash = 'b'.repeat(64);
  const anchor = { state: 'ok' as const, anchor: { seq: 5, hash, streams: { AUDIT_EVT: 5 } } };
  const end = { length: 5, hashAtAnchor: hash, streams: { AUDIT_EVT: 5 } };
  t.match(checkFreshness(end, anchor, [{ stream: 'AUDIT_EVT', ackFloor: 0, firstSeq: 1, lastSeq: 2, delivered: 0 }]),
    [{ check: 'jetstream', reason: /AUDIT_EVT was recreated/, expected: /up to 5/, found: /new consumer \(stream at 2\)/ }]);
  t.same(recreatedStreams(end, [{ stream: 'AUDIT_EVT', ackFloor: 0, firstSeq: 1, lastSeq: 2, delivered: 0 }]), ['AUDIT_EVT']);
  t.same(checkFreshness(end, anchor, [{ stream: 'AUDIT_EVT', ackFloor: 3, firstSeq: 1, lastSeq: 5, delivered: 4 }]), [], 'a consumer with a past (a crash lost its latest state): nothing');
  t.same(checkFreshness(end, anchor, [{ stream: 'AUDIT_CMD', ackFloor: 0, firstSeq: 1, lastSeq: 2, delivered: 0 }]), [], 'a stream the chain has no message of yet (fresh install): nothing');

  const h = home(t);
  const c = h.open();
  c.append([1, 2, 3, 4, 5].map((i) => input(i)));
  c.appendBreak({ reason: 'JetStream stream AUDIT_EVT was recreated', findings: [], restartedStreams: ['AUDIT_EVT'] }, 1);
  t.equal(c.append([input(1), input(2)]).length, 2, 'the new stream\'s messages 1 and 2 are new records');
  const re = new AuditChain(h.dir, KEY, { anchorFile: h.anchorFile });
  re.open();
  t.equal(re.streamSeq('AUDIT_EVT'), 2, 'after reopening, the series starts at the break record');
  t.equal(re.append([input(2), input(3)]).length, 1, 'a redelivered 2 is still dropped, 3 is new');
});
