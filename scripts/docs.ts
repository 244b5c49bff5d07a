// npm run docs: regenerates the manifest-derived part of docs/architecture.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFESTS } from '../runtime/catalog.js';
import { renderArchitecture, spliceGenerated } from '../runtime/architecture-doc.js';

const file = join(import.meta.dirname, '..', 'docs', 'architecture.md');
writeFileSync(file, spliceGenerated(readFileSync(file, 'utf8'), renderArchitecture(MANIFESTS)));
console.log(`updated ${file}`);
