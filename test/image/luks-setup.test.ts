// The OS-level vault script: shellchecked, and run for real against a loop file (header only: no dm-crypt here).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '..', '..', 'image', 'vault', 'luks-setup.sh');
const PASS = 'a loop file passphrase';

t.test('luks-setup — bash -n and shellcheck are clean', async (t) => {
  t.equal(spawnSync('bash', ['-n', SCRIPT]).status, 0);
  const sc = spawnSync('shellcheck', [SCRIPT], { encoding: 'utf8' });
  t.equal(sc.status, 0, sc.stdout + sc.stderr);
});

t.test('luks-setup — formats a LUKS2 volume with an Argon2id key slot that opens with the passphrase only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secai-luks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'vault.img');
  writeFileSync(img, Buffer.alloc(32 * 1024 * 1024));
  // Lower Argon2id cost for the test only; the shipped defaults are 1 GiB and 2 s.
  const env = { ...process.env, SECAI_LUKS_PBKDF_KIB: '65536', SECAI_LUKS_ITER_MS: '100' };
  const run = (input: string, args: string[] = ['--format-only']) => spawnSync('bash', [SCRIPT, img, ...args], { input, env, encoding: 'utf8', timeout: 120_000 });
  t.equal(run('short\n').status, 2, 'a short passphrase is refused');
  const r = run(`${PASS}\n`);
  t.equal(r.status, 0, r.stderr);
  const dump = spawnSync('cryptsetup', ['luksDump', img], { encoding: 'utf8' }).stdout;
  t.match(dump, /Version:\s+2/);
  t.match(dump, /PBKDF:\s+argon2id/);
  t.match(dump, /Cipher:\s+aes-xts-plain64/);
  t.match(dump, /Cipher key:\s+512 bits/);
  const test = (p: string) => spawnSync('cryptsetup', ['open', '--test-passphrase', '--key-file', '-', img], { input: p, encoding: 'utf8' }).status;
  t.equal(test(PASS), 0, 'the passphrase opens the key slot');
  t.not(test('not the passphrase'), 0, 'another does not');
  const again = run(`${PASS}\n`);
  t.equal(again.status, 2, 'an existing LUKS header is never overwritten');
  t.match(again.stderr, /refusing to overwrite/);
  t.notOk(readFileSync(img).includes(Buffer.from(PASS)), 'the passphrase is not in the header');
  t.equal(spawnSync('bash', [SCRIPT, img, '--bogus'], { env, encoding: 'utf8' }).status, 2, 'unknown options are refused');
});
