// The typed schema builders emit, for every manifest, byte for byte the JSON Schema the untyped ones did.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/appliance.js';

const dir = join(ROOT, 'test', 'helpers', 'legacy-schema');
const dump = (legacy: boolean): string => execFileSync(process.execPath, [
  '--import=tsx', ...(legacy ? [`--import=${join(dir, 'register.mjs')}`] : []), join(dir, 'dump-manifests.ts'),
], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });

t.test('schema builders — every manifest emits the same JSON as with the untyped builders', async (t) => {
  const legacy = JSON.parse(dump(true)) as { typebox: boolean; manifests: unknown[] };
  const typed = JSON.parse(dump(false)) as { typebox: boolean; manifests: unknown[] };
  // Each run really used the builders it was meant to (the hook redirected every manifest's import).
  t.equal(legacy.typebox, false);
  t.equal(typed.typebox, true);
  t.ok(legacy.manifests.length >= 12, `${legacy.manifests.length} manifests`);
  const a = JSON.stringify(legacy.manifests);
  const b = JSON.stringify(typed.manifests);
  t.ok(a.length > 10_000, `${a.length} bytes of manifests`);
  t.equal(b, a);
});

t.test('schema builders — the comparison sees a difference in one keyword', async (t) => {
  const { s } = await import('../../bus/schema.js');
  const legacy = await import('../helpers/legacy-schema/builders.js');
  t.equal(JSON.stringify(s.object({ a: s.string({ enum: ['x'] }) }, ['a'])), JSON.stringify(legacy.s.object({ a: legacy.s.string({ enum: ['x'] }) }, ['a'])));
  t.not(JSON.stringify(s.string({ maxLength: 5 })), JSON.stringify(legacy.s.string({ maxLength: 6 })));
});
