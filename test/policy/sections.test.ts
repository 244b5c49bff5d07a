// Policy sections: every top-level key of policy.yaml is a typed section with a digest of its canonical JSON;
// a reload names exactly the sections whose settings changed, and the keys that wait for a restart.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parsePolicy } from '../../policy/snapshot.js';
import { changedSections, restartNotes, sectionDigest, sectionsOf, SECTION_NAMES } from '../../policy/sections.js';
import { validateValue } from '../../policy/load.js';
import { reloadedEvent, sectionReply } from '../../policy/sections-contract.js';
import { check } from '../../bus/schema.js';
import { POLICY_FILE, policyText } from './helpers.js';

const text = readFileSync(POLICY_FILE, 'utf8');
const load = (s: string) => parsePolicy(s, 'policy.yaml', '/home/secai').value;

t.test('sections — one per top-level key of the schema, frozen, each valid against its own schema', async (t) => {
  const doc = parse(text) as Record<string, unknown>;
  t.same([...SECTION_NAMES].sort(), Object.keys(doc).filter((k) => k !== 'version').sort(), 'SECTION_NAMES lists every section of policy.yaml');
  const all = sectionsOf(load(text));
  for (const name of SECTION_NAMES) {
    t.ok(Object.isFrozen(all[name].value), `${name} is frozen`);
    t.match(all[name].digest, /^[0-9a-f]{64}$/);
    t.doesNotThrow(() => validateValue(structuredClone(all[name].value), `policy/${name}.schema.json`, name), `${name} matches policy/${name}.schema.json`);
    t.doesNotThrow(() => check(sectionReply, { name, digest: all[name].digest, value: all[name].value, policyDigest: 'x' }, 'reply'), `${name} fits the policy.section reply`);
  }
});

t.test('sections — the digest covers settings, not layout: comments, key order and quoting do not change it', async (t) => {
  const reordered = stringify(Object.fromEntries(Object.entries(parse(text) as Record<string, unknown>).reverse()));
  const a = sectionsOf(load(text));
  const b = sectionsOf(load(reordered));
  t.same(changedSections(a, b), [], 'no section changed');
  t.equal(sectionDigest({ b: 1, a: [1, 2] }), sectionDigest({ a: [1, 2], b: 1 }));
  t.not(sectionDigest({ a: [1, 2] }), sectionDigest({ a: [2, 1] }), 'order inside lists counts');
});

t.test('sections — a reload names exactly the sections that changed, and the keys that need a restart', async (t) => {
  const a = load(text);
  const b = load(policyText({ vault: { idle_lock_minutes: 5, argon2: 'interactive' }, quarantine: { max_file_bytes: 10 } }));
  const changed = changedSections(sectionsOf(a), sectionsOf(b));
  t.same(changed, ['vault', 'quarantine']);
  t.match(restartNotes(a, b, changed), [{ section: 'vault', keys: ['argon2'], reason: /created or its passphrase changed/ }]);
  t.equal(restartNotes(a, b, changed).length, 1, 'quarantine keys apply at once');
  const c = load(policyText({ inference: { max_tokens: 7 } }));
  t.same(restartNotes(a, c, changedSections(sectionsOf(a), sectionsOf(c))), [], 'max_tokens applies at once');
  const d = load(policyText({ inference: { gpu: 'off', threads: 3 } }));
  t.match(restartNotes(a, d, ['inference']), [{ section: 'inference', keys: ['threads', 'gpu'] }]);
});

t.test('sections — a received section that breaks its schema is refused (fail closed)', async (t) => {
  const vault = { ...sectionsOf(load(text)).vault.value, idle_lock_minutes: 0 };
  t.throws(() => validateValue(vault, 'policy/vault.schema.json', 'policy section vault'), { code: 'SECAI_E_CONFIG_INVALID', message: /policy section vault\/idle_lock_minutes must be >= 1/ });
  t.throws(() => validateValue({ ...vault, idle_lock_minutes: 5, extra: 1 }, 'policy/vault.schema.json', 'vault'), { message: /unknown key 'extra'/ });
  t.throws(() => check(reloadedEvent, { digest: 'a', previous: 'b', path: '/x', changed: ['not-a-section'], restart: [] }, 'reloaded'), { code: 'SECAI_E_SCHEMA' });
});
