// The logger as each bundled process entry uses it: JSON lines to a pipe, pino-pretty in-process on a terminal; secrets
// are redacted in both. The terminal case runs under script(1), so stdout really is a TTY.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const log = join(import.meta.dirname, '..', '..', 'dist', 'common', 'log.js');
const program = `import(${JSON.stringify(log)}).then((m) => { const l = m.createLogger('probe', 'info'); l.info({ key: 's3cret', passphrase: 'hunter2', n: 7 }, 'hello from the probe'); })`;
const env = { ...process.env, SECAI_LOG_JSON: '', SECAI_HOME: join(import.meta.dirname, 'no-home') };

t.test('a pipe gets one JSON line per record, secrets redacted', async (t) => {
  const r = spawnSync(process.execPath, ['-e', program], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  t.match(line, { name: 'probe', msg: 'hello from the probe', n: 7, key: '[redacted]', passphrase: '[redacted]' });
  t.notMatch(r.stdout, /s3cret|hunter2/);
});

t.test('a terminal gets pino-pretty, loaded in-process (no transport worker), secrets redacted', async (t) => {
  const cmd = [process.execPath, '-e', program].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env, encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /INFO.*\(probe\/\d+\).*hello from the probe/);
  t.match(r.stdout, /key.*\[redacted\]/);
  t.notMatch(r.stdout, /s3cret|hunter2/);
  t.notMatch(r.stdout, /^\{"level"/m, 'not JSON');
});
