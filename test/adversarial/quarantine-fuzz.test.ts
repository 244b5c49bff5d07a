import t from 'tap';
import { tempDir } from '../quarantine/helpers.js';
import { fuzz } from './quarantine-fuzz-cases.js';

t.test('quarantine fuzz — random and mutated GGUF/safetensors/pickle bytes: parsers return or refuse, stages give a verdict', async (t) => {
  await fuzz(tempDir(t), 200);
  t.pass('no uncaught error, no hang');
});
