// configSection from the receiving side: a section reply is believed only if it fits the op's schema, the
// section's own JSON Schema and its digest; a reload event only causes a refetch, and a bad refetch keeps the
// section in force. The responder here is the policy identity gone wrong (a bug or a compromised process).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { policyManifest } from '../../actors/policy/manifest.js';
import { vaultManifest } from '../../actors/vault/manifest.js';
import { attestorManifest } from '../../actors/attestor/manifest.js';
import { registryManifest } from '../../actors/registry/manifest.js';
import { encode } from '../../bus/codec.js';
import { eventSubject, serveSubject } from '../../bus/subjects.js';
import { createLogger } from '../../common/log.js';
import { parsePolicy } from '../../policy/snapshot.js';
import { sectionDigest, sectionsOf } from '../../policy/sections.js';
import { configSection } from '../../runtime/config-section.js';
import { startTestBus } from '../helpers/bus.js';
import { POLICY_FILE } from '../policy/helpers.js';

// The vault asks the attestor (its unlock gate), and the attestor follows the registry: both identities must exist.
const bus = await startTestBus([policyManifest, vaultManifest, attestorManifest, registryManifest]);
t.teardown(() => bus.stop());
const rogue = await bus.connect('policy');
const vault = await bus.connect('vault');
const log = createLogger('test', 'silent');
const good = sectionsOf(parsePolicy(readFileSync(POLICY_FILE, 'utf8'), 'policy.yaml', '/h').value).vault;

/** What the rogue policy responder answers next. */
let answer: (name: string) => unknown = () => ({ name: 'vault', digest: good.digest, value: good.value, policyDigest: 'p1' });
let asked = 0;
const sub = rogue.nc.subscribe(serveSubject('policy', 'section'));
void (async () => {
  for await (const m of sub) {
    asked++;
    m.respond(encode({ ok: true, data: answer('vault') }));
  }
})();
await rogue.nc.flush();

t.test('config section — a wrong digest, a schema break or another section is refused at start', async (t) => {
  const bad = { ...good.value, idle_lock_minutes: 0 };
  const cases: [string, () => unknown, string][] = [
    ['a digest that does not match the value', () => ({ name: 'vault', digest: 'a'.repeat(64), value: good.value, policyDigest: 'p' }), 'SECAI_E_DIGEST_MISMATCH'],
    ['a value that breaks vault.schema.json (digest matching)', () => ({ name: 'vault', digest: sectionDigest(bad), value: bad, policyDigest: 'p' }), 'SECAI_E_CONFIG_INVALID'],
    ['an unknown key smuggled in', () => ({ name: 'vault', digest: good.digest, value: { ...good.value, unlock_without_passphrase: true }, policyDigest: 'p' }), 'SECAI_E_CONFIG_INVALID'],
    ['another section than asked', () => ({ name: 'airlock', digest: good.digest, value: good.value, policyDigest: 'p' }), 'SECAI_E_BAD_MESSAGE'],
    ['a reply outside the op schema', () => ({ name: 'vault', digest: good.digest, value: good.value }), 'SECAI_E_SCHEMA'],
  ];
  for (const [what, reply, code] of cases) {
    answer = reply;
    let applied = false;
    await t.rejects(configSection({ bus: vault, log }, 'vault', () => { applied = true; }), { code }, what);
    t.notOk(applied, `${what}: nothing applied`);
  }
});

t.test('config section — a reload whose refetch is bad keeps the section in force; a good one applies', async (t) => {
  answer = () => ({ name: 'vault', digest: good.digest, value: good.value, policyDigest: 'p1' });
  const seen: number[] = [];
  const s = await configSection({ bus: vault, log }, 'vault', (v) => { seen.push(v.idle_lock_minutes); });
  t.teardown(() => s.close());
  t.same(seen, [good.value.idle_lock_minutes]);
  t.ok(Object.isFrozen(s.value), 'the section is frozen');

  const reloaded = (changed: string[]) => rogue.nc.publish(eventSubject('policy', 'reloaded'), encode({ digest: 'p2', previous: 'p1', path: '/x', changed, restart: [] }));
  const tampered = { ...good.value, idle_lock_minutes: 2 };
  answer = () => ({ name: 'vault', digest: good.digest, value: tampered, policyDigest: 'p2' });
  const before = asked;
  reloaded(['vault']);
  for (let i = 0; i < 400 && asked === before; i++) await new Promise((r) => setTimeout(r, 25));
  t.equal(asked, before + 1, 'the event caused one refetch');
  // Queued behind the event's refetch (settled after this), and refused the same way.
  await t.rejects(s.refresh(), { code: 'SECAI_E_DIGEST_MISMATCH' });
  t.equal(s.value.idle_lock_minutes, good.value.idle_lock_minutes, 'a refetch that fails its digest changes nothing');

  const next = { ...good.value, idle_lock_minutes: 9 };
  answer = () => ({ name: 'vault', digest: sectionDigest(next), value: next, policyDigest: 'p3' });
  reloaded(['airlock']);
  await rogue.nc.flush();
  await s.refresh();
  t.equal(s.value.idle_lock_minutes, 9, 'a good section applies');
  t.equal(s.policyDigest, 'p3');
  t.same(seen, [good.value.idle_lock_minutes, 9], 'apply ran once for the change, never for the bad one');
});
