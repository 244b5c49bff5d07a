import t from 'tap';
import { coalesce } from '../../actors/inference/serve-generate.js';

t.test('inference — the first piece of text leaves at once, later ones are coalesced, nothing is lost', async (t) => {
  const sent: string[] = [];
  const c = coalesce((s) => sent.push(s), 20);
  c.push('He');
  t.same(sent, ['He'], 'first token immediately');
  c.push('l');
  c.push('lo');
  t.same(sent, ['He'], 'later tokens wait for the window');
  await new Promise((r) => setTimeout(r, 40));
  t.same(sent, ['He', 'llo'], 'sent together after the window');
  c.push(', ');
  c.push('world');
  c.flush();
  t.same(sent, ['He', 'llo', ', world'], 'flush at the end sends the rest');
  c.flush();
  t.equal(sent.length, 3, 'an empty flush sends nothing');
  t.equal(sent.join(''), 'Hello, world');
});
