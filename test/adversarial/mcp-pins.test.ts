// MCP pins on disk from the attacker's side: an edited, re-signed, foreign or garbage pins file pins nothing, and
// neither does an older signed copy put back (a rollback) or a deleted one: the anchor in keys/ remembers the newest.
import t from 'tap';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applianceKey } from '../../common/appliance-key.js';
import { canonicalJson } from '../../common/canonical-json.js';
import { getSodium } from '../../common/sodium.js';
import { readPins, writePins } from '../../actors/mcp-firewall/pins-file.js';
import type { Pin } from '../../machines/mcp-firewall/mcp-firewall.machine.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-pins-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const key = await applianceKey(join(dir, 'appliance.ed25519'));
const other = await applianceKey(join(dir, 'other.ed25519'));
let n = 0;
/** A fresh pins file and anchor for each test. */
const files = () => ({ file: join(dir, `mcp-${++n}`, 'pins.json'), anchor: join(dir, `pins-${n}.anchor`) });
const pin: Pin = { hash: 'a'.repeat(64), definition: { name: 'read', description: 'Read.', inputSchema: { type: 'object' } }, approvedBy: 'op-1', at: 1, acceptedFindings: [] };

t.test('mcp pins — a missing file is no pins and no problem; a written one reads back with its number', async (t) => {
  const w = files();
  t.same(await readPins(w, key), { pins: {}, seq: 0, anchored: null, problem: null });
  await writePins(w, key, { 'notes/read': pin }, 1);
  t.same(await readPins(w, key), { pins: { 'notes/read': pin }, seq: 1, anchored: 1, problem: null });
});

t.test('mcp pins — an edit, another key, or garbage drops every pin', async (t) => {
  const w = files();
  await writePins(w, key, { 'notes/read': pin }, 1);
  const good = readFileSync(w.file, 'utf8');
  writeFileSync(w.file, good.replace('a'.repeat(64), 'b'.repeat(64)));
  t.match(await readPins(w, key), { pins: {}, problem: /not signed by this appliance/ }, 'a pinned hash swapped for the attacker\'s');
  writeFileSync(w.file, good.replace('"op-1"', '"op-2"'));
  t.match(await readPins(w, key), { pins: {}, problem: /not signed/ }, 'the approver changed');
  writeFileSync(w.file, good.replace('"seq":1', '"seq":7'));
  t.match(await readPins(w, key), { pins: {}, problem: /not signed/ }, 'the number changed (it is signed)');
  await writePins({ ...w, anchor: join(dir, 'other.anchor') }, other, { 'notes/read': { ...pin, hash: 'c'.repeat(64) } }, 2);
  t.match(await readPins(w, key), { pins: {}, problem: /not signed/ }, 'signed with another key');
  writeFileSync(w.file, '{"v":2,"seq":3,"pins":{},"sig":"!!"}');
  t.match(await readPins(w, key), { pins: {}, problem: /not signed/ }, 'a signature that does not decode');
  writeFileSync(w.file, 'not json');
  t.match(await readPins(w, key), { pins: {}, problem: /not valid/ });
});

t.test('mcp pins — an older signed copy put back is a rollback: every pin dropped, and the next write goes past the newest', async (t) => {
  const w = files();
  await writePins(w, key, { 'notes/read': pin }, 1);
  const old = join(dir, 'old-pins.json');
  copyFileSync(w.file, old);
  // The definition was replaced and approved again: the old copy still pins the hash the operator moved away from.
  await writePins(w, key, { 'notes/read': { ...pin, hash: 'd'.repeat(64), approvedBy: 'op-2', at: 2 } }, 2);
  copyFileSync(old, w.file);
  const r = await readPins(w, key);
  t.match(r, { pins: {}, seq: 2, anchored: 2, problem: /pins record 1, older than record 2 written last \(an old signed copy put back\)/ });
  await writePins(w, key, { 'notes/read': pin }, r.seq + 1);
  t.match(await readPins(w, key), { pins: { 'notes/read': pin }, seq: 3, problem: null }, 'a new approval is trusted again');
});

t.test('mcp pins — a deleted file or a forged anchor drops every pin', async (t) => {
  const w = files();
  await writePins(w, key, { 'notes/read': pin }, 4);
  rmSync(w.file);
  t.match(await readPins(w, key), { pins: {}, seq: 4, problem: /is missing, though pins record 4 was written/ }, 'deleted after an anchored write');
  await writePins(w, key, { 'notes/read': pin }, 5);
  writeFileSync(w.anchor, readFileSync(w.anchor, 'utf8').replace('"seq":5', '"seq":0'));
  t.match(await readPins(w, key), { pins: {}, problem: /the pins anchor\) does not verify/ }, 'an anchor moved back');
  writeFileSync(w.anchor, 'garbage');
  t.match(await readPins(w, key), { pins: {}, problem: /does not verify/ }, 'an anchor that does not parse');
});

t.test('mcp pins — a file from before numbering is trusted only while no anchor exists', async (t) => {
  const w = files();
  const sodium = await getSodium();
  const pins = { 'notes/read': pin };
  const sig = sodium.to_base64(sodium.crypto_sign_detached('secai-mcp-pins-v1\n' + canonicalJson(pins), key.secretKey));
  mkdirSync(join(w.file, '..'), { recursive: true });
  writeFileSync(w.file, JSON.stringify({ v: 1, pins, sig }));
  const legacy = readFileSync(w.file, 'utf8');
  t.same(await readPins(w, key), { pins, seq: 0, anchored: null, problem: null, legacy: true }, 'read as record 0, to be numbered at start');
  await writePins(w, key, pins, 1);
  writeFileSync(w.file, legacy);
  t.match(await readPins(w, key), { pins: {}, problem: /not a pins file/ }, 'put back once an anchor exists: dropped');
});
