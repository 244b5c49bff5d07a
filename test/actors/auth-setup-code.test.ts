// The first-run setup code: issued only without a vault, 0600, judged in constant time, gone after use.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consumeSetupCode, issueSetupCode, judgeSetupCode, setupCodeFile } from '../../common/setup-code.js';

t.test('setup code — issued while no vault exists, judged, consumed', async (t) => {
  const run = mkdtempSync(join(tmpdir(), 'secai-setup-code-'));
  t.teardown(() => rmSync(run, { recursive: true, force: true }));
  const code = issueSetupCode(run, false)!;
  t.match(code, /^[A-Z2-7]{5}-[A-Z2-7]{5}$/, '10 base32 characters: 50 bits');
  t.equal(statSync(setupCodeFile(run)).mode & 0o777, 0o600);
  t.not(issueSetupCode(run, false), code, 'every secai up makes a new one');
  const now = readFileSync(setupCodeFile(run), 'utf8').trim();
  t.equal(judgeSetupCode(run, undefined), 'missing');
  t.equal(judgeSetupCode(run, ''), 'missing');
  t.equal(judgeSetupCode(run, code === now ? 'AAAAA-AAAAA' : code), 'wrong', 'the previous code is dead');
  t.equal(judgeSetupCode(run, now.slice(0, 9)), 'wrong', 'a prefix is wrong');
  t.equal(judgeSetupCode(run, ` ${now.replace('-', '').toLowerCase()} `), 'ok', 'case, dash and spaces do not matter');
  consumeSetupCode(run);
  t.equal(judgeSetupCode(run, now), 'none_pending', 'used once, then gone');
  issueSetupCode(run, false);
  t.equal(issueSetupCode(run, true), undefined, 'a vault that exists gets no code');
  t.notOk(existsSync(setupCodeFile(run)), 'and a stale file is removed');
});
