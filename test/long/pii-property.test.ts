// Long run (npm run test:long): the PII evasion property on a fresh random seed and many more cases than npm test;
// a failure prints the seed and path that reproduce it (SECAI_PII_PROPERTY_SEED with the quick test).
import t from 'tap';
import fc from 'fast-check';
import { propertyHolds } from '../policy/pii-properties.js';

const RUNS = Number(process.env.SECAI_PII_LONG_RUNS ?? 200_000);
const SEED = Number(process.env.SECAI_PII_PROPERTY_SEED ?? Date.now() % 2 ** 31);

t.test('pii property (long) — padded values stay found over many random cases', { timeout: 600_000 }, async (t) => {
  const r = propertyHolds(RUNS, SEED);
  t.notOk(r.failed, (r.failed ? fc.defaultReportMessage(r) : undefined) ?? `${r.numRuns} runs, seed ${SEED}`);
  t.equal(r.numRuns, RUNS, 'every run ran (none skipped)');
});
