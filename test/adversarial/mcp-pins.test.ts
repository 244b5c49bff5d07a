// MCP pins on disk from the attacker's side: an edited, re-signed, foreign or garbage pins file pins nothing.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applianceKey } from '../../common/appliance-key.js';
import { readPins, writePins } from '../../actors/mcp-firewall/pins-file.js';
import type { Pin } from '../../machines/mcp-firewall/mcp-firewall.machine.js';

const dir = mkdtempSync(join(tmpdir(), 'secai-pins-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const key = await applianceKey(join(dir, 'appliance.ed25519'));
const other = await applianceKey(join(dir, 'other.ed25519'));
const file = join(dir, 'mcp', 'pins.json');
const pin: Pin = { hash: 'a'.repeat(64), definition: { name: 'read', description: 'Read.', inputSchema: { type: 'object' } }, approvedBy: 'op-1', at: 1, acceptedFindings: [] };

t.test('mcp pins — a missing file is no pins and no problem; a written one reads back', async (t) => {
  t.same(await readPins(file, key), { pins: {}, problem: null });
  await writePins(file, key, { 'notes/read': pin });
  t.same((await readPins(file, key)).pins, { 'notes/read': pin });
});

t.test('mcp pins — an edit, another key, or garbage drops every pin', async (t) => {
  await writePins(file, key, { 'notes/read': pin });
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('a'.repeat(64), 'b'.repeat(64)));
  t.match(await readPins(file, key), { pins: {}, problem: /not signed by this appliance/ }, 'a pinned hash swapped for the attacker\'s');
  writeFileSync(file, good.replace('"op-1"', '"op-2"'));
  t.match(await readPins(file, key), { pins: {}, problem: /not signed/ }, 'the approver changed');
  await writePins(file, other, { 'notes/read': { ...pin, hash: 'c'.repeat(64) } });
  t.match(await readPins(file, key), { pins: {}, problem: /not signed/ }, 'signed with another key');
  writeFileSync(file, '{"v":1,"pins":{},"sig":"!!"}');
  t.match(await readPins(file, key), { pins: {}, problem: /not valid|not signed/ });
  writeFileSync(file, 'not json');
  t.match(await readPins(file, key), { pins: {}, problem: /not valid/ });
});
