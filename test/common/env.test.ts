// Environment settings: parsed once, validated (a bad value names the variable), frozen.
import t from 'tap';
import { parseEnv, secaiEnv } from '../../common/env.js';

t.test('env — defaults when nothing is set', async (t) => {
  const e = parseEnv({});
  t.match(e, { httpPort: 8480, httpHost: '127.0.0.1', headless: false, logLevel: 'info', logJson: false, test: false, policyAllowFlushMs: 10_000, quarantineDownloadMaxMs: 6 * 3600_000, quarantineSettleMs: 1000 });
  t.equal(e.busPort, undefined);
  t.equal(e.vaultIdleMs, undefined);
  t.ok(Object.isFrozen(e), 'frozen');
});

t.test('env — values are parsed to their types', async (t) => {
  const e = parseEnv({ SECAI_HTTP_PORT: '0', SECAI_HTTP_HOST: '::1', SECAI_HEADLESS: '1', SECAI_LOG_LEVEL: 'warn', SECAI_TEST: '1', SECAI_VAULT_IDLE_MS: '1500', SECAI_BUS_PORT: '8494', SECAI_VAULT_CRASH_AFTER: 'temp' });
  t.match(e, { httpPort: 0, httpHost: '::1', headless: true, logLevel: 'warn', test: true, vaultIdleMs: 1500, busPort: 8494, vaultCrashAfter: 'temp' });
  t.equal(parseEnv({ SECAI_TEST: '' }).test, false, 'empty is unset');
});

t.test('env — a bad value is a clear error naming the variable (fail closed, never a silent default)', async (t) => {
  const bad: [string, string][] = [
    ['SECAI_HTTP_PORT', '80a'], ['SECAI_HTTP_PORT', '70000'], ['SECAI_HTTP_HOST', '0.0.0.0'], ['SECAI_BUS_PORT', '0'],
    ['SECAI_LOG_LEVEL', 'loud'], ['SECAI_TEST', 'yes'], ['SECAI_HEADLESS', 'true'], ['SECAI_VAULT_IDLE_MS', '-5'],
    ['SECAI_QUARANTINE_DOWNLOAD_MAX_MS', '99'], ['SECAI_POLICY_ALLOW_FLUSH_MS', '1e3'], ['SECAI_VAULT_CRASH_AFTER', 'later'],
  ];
  for (const [k, v] of bad) t.throws(() => parseEnv({ [k]: v }), { code: 'SECAI_E_CONFIG_INVALID', message: new RegExp(`^${k} must be`) }, `${k}=${v}`);
});

t.test('env — this process\'s settings are parsed once', async (t) => {
  t.equal(secaiEnv(), secaiEnv(), 'the same frozen object each time');
});

t.test('env — an entry point with a bad setting stops with the variable named, not a stack trace', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const { SECAI_BIN } = await import('../helpers/appliance.js');
  const r = spawnSync(process.execPath, [SECAI_BIN, 'status'], { env: { ...process.env, SECAI_HTTP_HOST: '0.0.0.0' }, encoding: 'utf8' });
  t.equal(r.status, 2);
  t.match(r.stderr, /^error: SECAI_HTTP_HOST must be one of 127\.0\.0\.1, ::1, not '0\.0\.0\.0' \[SECAI_E_CONFIG_INVALID\]/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
