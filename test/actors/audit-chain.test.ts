import t from 'tap';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditChain, verifyChain, type AuditInput } from '../../actors/audit/audit-chain.js';
import { encode } from '../../bus/codec.js';

const KEY = new Uint8Array(32).fill(7);

function input(i: number, stream = 'AUDIT_EVT'): AuditInput {
  const payload = { i, note: `event ${i}` };
  return { stream, streamSeq: i, subject: `secai.evt.test.e${i}`, raw: encode(payload), payload, at: 1_800_000_000_000 + i };
}

function chainWith(n: number, key: Uint8Array | undefined = KEY): { dir: string; chain: AuditChain } {
  const dir = mkdtempSync(join(tmpdir(), 'secai-audit-'));
  const chain = new AuditChain(dir, key);
  chain.open();
  chain.append(Array.from({ length: n }, (_, i) => input(i + 1)));
  return { dir, chain };
}

const lines = (dir: string) => readFileSync(join(dir, 'chain.jsonl'), 'utf8').split('\n').filter(Boolean);
const rewrite = (dir: string, ls: string[]) => writeFileSync(join(dir, 'chain.jsonl'), ls.map((l) => l + '\n').join(''));

t.test('audit chain — an untouched chain verifies', async (t) => {
  const { dir } = chainWith(10);
  t.teardown(() => rmSync(dir, { recursive: true }));
  const r = await verifyChain(dir, KEY);
  t.equal(r.ok, true);
  t.equal(r.records, 10);
});

t.test('audit chain — editing one record is caught and named', async (t) => {
  const { dir } = chainWith(10);
  t.teardown(() => rmSync(dir, { recursive: true }));
  const ls = lines(dir);
  ls[4] = ls[4]!.replace('event 5', 'event 5 (edited)');
  rewrite(dir, ls);
  const r = await verifyChain(dir, KEY);
  t.equal(r.ok, false);
  t.match(r, { brokenAt: 5, reason: /record 5 was modified/ });
});

t.test('audit chain — deleting a record in the middle is caught', async (t) => {
  const { dir } = chainWith(10);
  t.teardown(() => rmSync(dir, { recursive: true }));
  const ls = lines(dir);
  ls.splice(3, 1);
  rewrite(dir, ls);
  t.match(await verifyChain(dir, KEY), { ok: false, brokenAt: 4, reason: /removed, inserted or reordered/ });
});

t.test('audit chain — reordering two records is caught', async (t) => {
  const { dir } = chainWith(10);
  t.teardown(() => rmSync(dir, { recursive: true }));
  const ls = lines(dir);
  [ls[6], ls[7]] = [ls[7]!, ls[6]!];
  rewrite(dir, ls);
  t.match(await verifyChain(dir, KEY), { ok: false, brokenAt: 7 });
});

t.test('audit chain — cutting records off the end is caught by the signed head', async (t) => {
  const { dir } = chainWith(10);
  t.teardown(() => rmSync(dir, { recursive: true }));
  rewrite(dir, lines(dir).slice(0, 8));
  t.match(await verifyChain(dir, KEY), { ok: false, brokenAt: 9, reason: /removed from the end/ });
});

t.test('audit chain — a re-hashed forgery fails without the HMAC key', async (t) => {
  const { dir } = chainWith(3);
  t.teardown(() => rmSync(dir, { recursive: true }));
  // An attacker who rebuilds the chain with their own key produces valid hashes but wrong HMACs.
  const forged = chainWith(3, new Uint8Array(32).fill(9));
  t.teardown(() => rmSync(forged.dir, { recursive: true }));
  rewrite(dir, lines(forged.dir));
  writeFileSync(join(dir, 'head.json'), readFileSync(join(forged.dir, 'head.json')));
  t.match(await verifyChain(dir, KEY), { ok: false, reason: /HMAC/ });
});

t.test('audit chain — a torn last line from a crash is cut and appending resumes', async (t) => {
  const { dir } = chainWith(5);
  t.teardown(() => rmSync(dir, { recursive: true }));
  appendFileSync(join(dir, 'chain.jsonl'), '{"seq":6,"at":1,"str');
  const reopened = new AuditChain(dir, KEY);
  reopened.open();
  t.equal(reopened.length, 5);
  reopened.append([input(6)]);
  t.match(await verifyChain(dir, KEY), { ok: true, records: 6 });
});

t.test('audit chain — redelivered stream messages are not appended twice', async (t) => {
  const { dir, chain } = chainWith(5);
  t.teardown(() => rmSync(dir, { recursive: true }));
  const written = chain.append([input(4), input(5), input(6)]);
  t.equal(written.length, 1);
  const reopened = new AuditChain(dir, KEY);
  reopened.open();
  t.equal(reopened.streamSeq('AUDIT_EVT'), 6);
  t.equal(reopened.append([input(6)]).length, 0);
  // A redelivery of an older message that never made it (its batch died with the actor) is appended.
  reopened.append([input(9)]);
  t.equal(reopened.append([input(7), input(8), input(9)]).length, 2, 'late 7 and 8 are appended, 9 is a duplicate');
  const again = new AuditChain(dir, KEY);
  again.open();
  t.equal(again.append([input(7), input(8), input(9)]).length, 0, 'after reopening too');
  t.equal(reopened.append([input(1, 'AUDIT_CMD')]).length, 1, 'sequences are per stream');
});

t.test('audit chain — undecodable payloads are kept as raw bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true }));
  const chain = new AuditChain(dir, KEY);
  chain.open();
  const [r] = chain.append([{ stream: 'AUDIT_CMD', streamSeq: 1, subject: 'secai.cmd.x.y', raw: new Uint8Array([0xc1, 0xff]), payload: undefined, at: 1 }]);
  t.same(r!.payload, { $raw: Buffer.from([0xc1, 0xff]).toString('base64') });
  t.match(await verifyChain(dir, KEY), { ok: true });
});

t.test('audit chain — a verification while the writer appends reads the chain as it was when it began (no false alarm)', async (t) => {
  const { dir, chain } = chainWith(4000);
  t.teardown(() => rmSync(dir, { recursive: true }));
  let next = 4001;
  let appending = true;
  // The audit actor appends between the verifier's reads (same process, as in the actor).
  const pump = () => { if (!appending) return; chain.append([input(next++)]); setImmediate(pump); };
  setImmediate(pump);
  const r = await verifyChain(dir, KEY);
  appending = false;
  t.ok(next > 4001, `records were appended during the verification (${next - 4001})`);
  t.match(r, { ok: true, records: 4000 }, 'the 4000 records there when it began, all intact');
  t.match(await verifyChain(dir, KEY), { ok: true, records: next - 1 }, 'and the appended ones verify next time');
  // A torn last line in what it reads is still reported (tampering, or a writer in another process mid-write).
  appendFileSync(join(dir, 'chain.jsonl'), '{"seq":');
  t.match(await verifyChain(dir, KEY), { ok: false, reason: /not valid JSON/ });
});

t.test('audit chain — readRange: a time span from the whole file, page by page, past what memory keeps', async (t) => {
  const { readRange } = await import('../../actors/audit/chain-range.js');
  const { dir, chain } = chainWith(2500);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(chain.tail(5000).length <= 1000, true, 'memory keeps only the recent records');
  const file = join(dir, 'chain.jsonl');
  const since = 1_800_000_000_000 + 10;
  const until = 1_800_000_000_000 + 1210;
  const seen: number[] = [];
  let after = -1;
  let pages = 0;
  for (;;) {
    const p = await readRange(file, { since, until, after, limit: 500 });
    pages++;
    seen.push(...p.records.map((r) => r.seq));
    if (p.next === null) break;
    after = p.next;
  }
  t.equal(pages, 3);
  t.equal(seen.length, 1201, 'every record of the span, early ones included (not in the recent window)');
  t.same([seen[0], seen[seen.length - 1]], [10, 1210], 'bounds inclusive (record n was written at base + n)');
  t.same(seen, [...seen].sort((a, b) => a - b), 'in chain order, no repeats');
  t.same((await readRange(file, { since: until + 10_000, until: until + 20_000, after: -1, limit: 10 })), { records: [], next: null }, 'an empty span');
  appendFileSync(file, '{"seq": 99999, "at": 1800000000100, "torn');
  const torn = await readRange(file, { since, until, after: 1200, limit: 500 });
  t.same(torn.records.map((r) => r.seq), [1201, 1202, 1203, 1204, 1205, 1206, 1207, 1208, 1209, 1210], 'a torn last line is skipped, not an error');
});
