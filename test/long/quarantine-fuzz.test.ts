import t from 'tap';
import { tempDir } from '../quarantine/helpers.js';
import { fuzz } from '../adversarial/quarantine-fuzz-cases.js';

t.test('quarantine fuzz (long) — 20k cases per property', async (t) => {
  await fuzz(tempDir(t), 20_000);
  t.pass('no uncaught error, no hang');
});
