// Runtime attestor on a real appliance: software-only attests and unlock works; a changed bundle, an edited
// attestation file, a tampered or vanished swtpm each fail attestation with evidence, and unlock is then refused.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { homePaths } from '../../common/paths.js';
import { pickLoopbackPort } from '../../bus/server.js';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';
import { checkQuote, quote } from '../../actors/attestor/tpm.js';

const P = 'a passphrase of some length';
const FAST = { SECAI_ATTEST_INTERVAL_MS: '300' };

async function until<T>(what: string, f: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const status = (a: Appliance) => a.ctl(['attest', 'status', '--json']).json();

/** The attestor's detections as the audit chain recorded them (every event goes there). */
const detections = (a: Appliance): any[] =>
  a.ctl(['audit', 'tail', '-n', '50', '--subject', 'secai.evt.attestor.detection', '--json']).json().records.map((r: any) => r.payload);

t.test('attestor — software-only attests at start (ready means measured), unlock works, show checks the HMAC', async (t) => {
  const a = await startAppliance({ env: { ...FAST } });
  t.teardown(() => disposeAppliance(a));
  const st = status(a);
  t.equal(st.state, 'attested', `attested before the ready line: ${JSON.stringify(st).slice(0, 600)}`);
  t.equal(st.mode, 'software-only', 'declared software-only without a TPM');
  t.equal(st.quote, null);
  const sh = a.ctl(['attest', 'show', '--json']);
  t.equal(sh.code, 0);
  const shown = sh.json();
  t.equal(shown.hmacValid, true);
  t.equal(shown.bundle.mode, 'software-only', 'the bundle itself declares the mode');
  t.ok(Object.keys(shown.bundle.code).some((k: string) => k === 'native:nats-server'), 'nats-server is measured');
  t.ok(Object.keys(shown.bundle.code).some((k: string) => k.startsWith('code:actors/vault/')), 'the vault bundle is measured');
  t.match(shown.bundle.policyDigest, /^[0-9a-f]{64}$/);
  const key = join(a.home, 'keys', 'attestor.key');
  t.equal(statSync(key).mode & 0o777, 0o600, 'the HMAC key is 0600');
  const auth = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(homePaths(a.home).busKeys, 'auth'), reconnect: false });
  t.teardown(() => auth.close());
  t.same(await auth.request('vault', 'setup', { passphrase: P }, 60_000), { ok: true }, 'setup (and its unlock) goes through in an attested runtime');
  t.equal(a.ctl(['vault', 'lock', '--json']).code, 0, 'locked by the owner');
  t.same(await auth.request('vault', 'unlock', { passphrase: P }, 60_000), { ok: true }, 'unlock goes through in an attested runtime');
});

t.test('attestor — an edited attestation file is an HMAC mismatch: detection, and unlock/setup refused with SECAI_E_NOT_ATTESTED', async (t) => {
  const a = await startAppliance({ env: { ...FAST } });
  t.teardown(() => disposeAppliance(a));
  const file = join(a.home, 'run', 'attestation.json');
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  stored.bundle.policyDigest = '0'.repeat(64);
  writeFileSync(file, JSON.stringify(stored));
  const st = await until('failed', () => { const s = status(a); return s.state === 'failed' && s; });
  t.equal(st.failure.code, 'hmac_mismatch');
  const det = (await until('a detection', () => detections(a)[0])) as any;
  t.equal(det.class, 'attestation_failure');
  t.equal(det.severity, 'critical');
  t.equal(det.evidence.code, 'hmac_mismatch');
  t.equal(det.evidence.changes[0].expected, stored.hmac, 'evidence names the HMAC it expected');
  const paths = homePaths(a.home);
  const auth = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'auth'), reconnect: false });
  t.teardown(() => auth.close());
  await t.rejects(auth.request('vault', 'setup', { passphrase: P }, 30_000), { code: 'SECAI_E_NOT_ATTESTED' }, 'no key is released into a failed runtime');
  t.equal(a.ctl(['attest', 'status', '--json']).code, 1, 'attest status exits 1 when not attested');
});

t.test('attestor — a changed code file after start fails attestation with expected/found digests', async (t) => {
  // A copy of the measured tree is not possible without rebuilding: change a file the attestor measures, then restore it.
  const a = await startAppliance({ env: { ...FAST } });
  const target = join(import.meta.dirname, '..', '..', 'dist', 'actors', 'attestor', 'pcr-math.js');
  const before = readFileSync(target);
  t.teardown(async () => { writeFileSync(target, before); await disposeAppliance(a); });
  appendFileSync(target, '\n// changed behind the appliance\n');
  const st = await until('failed', () => { const s = status(a); return s.state === 'failed' && s; });
  t.equal(st.failure.code, 'code_changed');
  const c = st.failure.changes.find((x: any) => x.name === 'code:actors/attestor/pcr-math.js');
  t.ok(c, 'the changed file is named');
  t.not(c.expected, c.found);
});


async function startSwtpm(): Promise<{ port: number; dir: string; child: ChildProcess; stop(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'secai-swtpm-'));
  const port = await pickLoopbackPort();
  const ctrl = port + 1;
  const child = spawn('swtpm', ['socket', '--tpmstate', `dir=${dir}`, '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
    '--ctrl', `type=tcp,port=${ctrl},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
  const tcti = `swtpm:host=127.0.0.1,port=${port}`;
  await until('swtpm', () => { try { execFileSync('tpm2_getcap', ['properties-fixed'], { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, stdio: 'ignore' }); return true; } catch { return false; } }, 10_000);
  return { port, dir, child, stop: () => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); } };
}

t.test('attestor — with a real swtpm: a quote that verifies; a replayed quote is refused; a junk extend fails attestation and unlock', async (t) => {
  const tpm = await startSwtpm();
  t.teardown(() => tpm.stop());
  const tcti = `swtpm:host=127.0.0.1,port=${tpm.port}`;
  const a = await startAppliance({ env: { ...FAST, SECAI_TPM_TCTI: tcti } });
  t.teardown(() => disposeAppliance(a));
  const st = status(a);
  t.equal(st.state, 'attested');
  t.equal(st.mode, 'tpm');
  t.equal(st.quote.verified, true);
  t.equal(st.quote.pcr, 23);
  t.equal(st.quote.pcrValue, st.quote.expectedPcr, 'the quoted PCR is what the attestor extended');

  // A replay: the quote the attestor made for its nonce, checked against a fresh nonce, does not verify.
  const dir = join(a.home, 'run', 'tpm');
  const files = { msg: join(dir, 'quote.msg'), sig: join(dir, 'quote.sig'), pcrs: join(dir, 'quote.pcrs') };
  const copy = mkdtempSync(join(tmpdir(), 'secai-quote-'));
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  const old = { msg: join(copy, 'm'), sig: join(copy, 's'), pcrs: join(copy, 'p') };
  // A quote of our own, made now for a nonce we know, then presented for another nonce.
  const q = await quote({ tcti, dir }, 23, 'aa'.repeat(16));
  for (const k of ['msg', 'sig', 'pcrs'] as const) writeFileSync(old[k], readFileSync(q[k]));
  t.match(await checkQuote({ tcti, dir }, old, 'aa'.repeat(16), 23), /^[0-9a-f]{64}$/, 'verifies with its own nonce');
  await t.rejects(checkQuote({ tcti, dir }, old, 'bb'.repeat(16), 23), { code: 'quote_invalid' }, 'a replayed quote (wrong nonce) is refused');
  t.ok(files.msg);

  // Someone else extends the PCR: the next quote shows a value the attestor's extends do not explain.
  execFileSync('tpm2_pcrextend', [`23:sha256=${'ab'.repeat(32)}`], { env: { ...process.env, TPM2TOOLS_TCTI: tcti } });
  const failed = await until('failed', () => { const s = status(a); return s.state === 'failed' && s; });
  t.equal(failed.failure.code, 'pcr_mismatch');
  t.equal(failed.failure.changes[0].name, 'pcr23');
  const paths = homePaths(a.home);
  const auth = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'auth'), reconnect: false });
  t.teardown(() => auth.close());
  await t.rejects(auth.request('vault', 'setup', { passphrase: P }, 30_000), { code: 'SECAI_E_NOT_ATTESTED' });
});

t.test('attestor — the TPM gone (swtpm killed) fails attestation', async (t) => {
  const tpm = await startSwtpm();
  t.teardown(() => tpm.stop());
  const a = await startAppliance({ env: { ...FAST, SECAI_TPM_TCTI: `swtpm:host=127.0.0.1,port=${tpm.port}` } });
  t.teardown(() => disposeAppliance(a));
  t.equal(status(a).state, 'attested');
  tpm.child.kill('SIGKILL');
  const failed = await until('failed', () => { const s = status(a); return s.state === 'failed' && s; });
  t.equal(failed.failure.code, 'tpm_unavailable');
});
