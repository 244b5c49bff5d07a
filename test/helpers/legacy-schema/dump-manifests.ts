// Prints every effective manifest as JSON, one line (run with and without the legacy builders to compare).
import { MANIFESTS } from '../../../runtime/catalog.js';
import { s } from '../../../bus/schema.js';
import { effectiveManifest } from '../../../bus/standard-ops.js';

// `typebox`: whether this run's builders are the TypeBox ones (their marks are symbols, invisible in the JSON).
const typebox = Object.getOwnPropertySymbols(s.any()).length > 0;
process.stdout.write(JSON.stringify({ typebox, manifests: MANIFESTS.map(effectiveManifest) }));
