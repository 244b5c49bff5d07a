import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFESTS } from '../../runtime/catalog.js';
import { renderArchitecture, spliceGenerated } from '../../runtime/architecture-doc.js';

t.test('architecture doc — the generated part matches the manifests (run `npm run docs` after changing one)', async (t) => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'architecture.md'), 'utf8');
  t.equal(spliceGenerated(doc, renderArchitecture(MANIFESTS)), doc);
});

t.test('architecture doc — every actor of the catalog has a section', async (t) => {
  const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'architecture.md'), 'utf8');
  for (const m of MANIFESTS) t.match(doc, `### \`${m.name}\``);
});
