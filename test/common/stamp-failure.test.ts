import t from 'tap';
import { failedAt } from '../../machines/request.js';
import { stampFailure } from '../../runtime/stamp-failure.js';
import { ErrorCode, SecaiError } from '../../common/errors.js';

t.test('stampFailure — a rejection keeps its code and message and gains `at`; a result passes through', async (t) => {
  t.equal(await stampFailure(() => 42, () => 5), 42);
  const e = await stampFailure(() => { throw new SecaiError(ErrorCode.NOT_ATTESTED, 'no quote'); }, () => 1234).catch((x: unknown) => x);
  t.match(e, { code: ErrorCode.NOT_ATTESTED, message: 'no quote' });
  t.equal(failedAt(e), 1234);
  const frozen = await stampFailure(() => Promise.reject(Object.freeze({ code: 'SECAI_E_X', message: 'frozen' })), () => 9).catch((x: unknown) => x);
  t.match(frozen, { code: 'SECAI_E_X', message: 'frozen' }, 'a frozen error becomes a new one with the same code');
  t.equal(failedAt(frozen), 9);
  const prim = await stampFailure(() => Promise.reject('boom'), () => 3).catch((x: unknown) => x);
  t.match(prim, { code: ErrorCode.INTERNAL, message: 'boom' });
  t.equal(failedAt(prim), 3);
  t.equal(failedAt(new Error('unstamped')), 0);
  t.equal(failedAt({ at: Number.NaN }), 0, 'a non-finite stamp is no stamp');
});
