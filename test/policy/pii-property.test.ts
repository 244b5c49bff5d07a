// Property (fast-check): a value the PII scanner finds alone stays found, whole, whatever digits, separators or
// text surround it. A fixed seed keeps npm test deterministic; test/long/pii-property.test.ts runs far more.
import t from 'tap';
import fc from 'fast-check';
import { propertyHolds } from './pii-properties.js';

const RUNS = Number(process.env.SECAI_PII_PROPERTY_RUNS ?? 2000);
const SEED = Number(process.env.SECAI_PII_PROPERTY_SEED ?? 20261204);

t.test('pii property — padded SSNs, cards, IPv4 addresses and phone numbers stay found', async (t) => {
  const r = propertyHolds(RUNS, SEED);
  t.notOk(r.failed, (r.failed ? fc.defaultReportMessage(r) : undefined) ?? `${r.numRuns} runs, seed ${SEED}`);
  t.equal(r.numRuns, RUNS, 'every run ran (none skipped)');
});
