// State messages are believed only when well formed and naming the actor of their subject.
import t from 'tap';
import { encode } from '../../bus/codec.js';
import { parseStateMessage } from '../../bus/state-message.js';
import { ErrorCode } from '../../common/errors.js';

const good = { actor: 'vault', value: { unlocked: 'idle' }, status: 'active', event: 'vault.unlock', seq: 3, at: 1700000000000 };

t.test('state message — a well-formed snapshot on its own subject is read back', async (t) => {
  t.same(parseStateMessage('secai.state.vault', encode(good)), good);
  t.same(parseStateMessage('secai.state.vault', encode({ ...good, value: 'locked', context: { n: 1 } })).value, 'locked');
});

t.test('state message — garbage, another actor\'s name, odd values and statuses are refused', async (t) => {
  const bad: [string, unknown][] = [
    ['secai.state.vault', {}],
    ['secai.state.vault', 'junk'],
    ['secai.state.vault', null],
    ['secai.state.vault', { ...good, actor: 'audit' }],
    ['secai.state.vault', { ...good, value: null }],
    ['secai.state.vault', { ...good, value: '' }],
    ['secai.state.vault', { ...good, value: [] }],
    ['secai.state.vault', { ...good, value: {} }],
    ['secai.state.vault', { ...good, value: { a: 1 } }],
    ['secai.state.vault', { ...good, value: { a: { b: { c: { d: { e: { f: { g: { h: { i: 'x' } } } } } } } } } }],
    ['secai.state.vault', { ...good, status: 'pwned' }],
    ['secai.state.vault', { ...good, extra: 1 }],
    ['secai.state.Vault', good],
    ['secai.evt.vault.x', good],
  ];
  for (const [subject, payload] of bad) {
    t.throws(() => parseStateMessage(subject, encode(payload)), { code: /SECAI_E_(BAD_MESSAGE|SCHEMA)/ }, `${subject} ${JSON.stringify(payload).slice(0, 60)}`);
  }
  t.throws(() => parseStateMessage('secai.state.vault', new Uint8Array([0xc1])), { code: ErrorCode.BAD_MESSAGE });
});
