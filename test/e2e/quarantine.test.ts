// End to end with the real appliance: drops into incoming/ and securectl models import, through the registry and the audit chain.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { disposeAppliance, startAppliance, type Appliance } from '../helpers/appliance.js';
import { encodeGguf } from '../fixtures/gguf-writer.js';
import { llamaSpec } from '../fixtures/llama-builder.js';
import { encodePickle } from '../fixtures/pickle-writer.js';
import { encodeTinyLlama } from '../fixtures/tiny-llama.js';

let app: Appliance;
t.before(async () => {
  app = await startAppliance({ env: { SECAI_QUARANTINE_SETTLE_MS: '200' }, timeoutMs: 120_000 });
});
t.teardown(async () => { if (app) await disposeAppliance(app); });

// A model llama.cpp really runs: stage 6 (behavioral) loads it in the sandbox. (A vocabulary without byte tokens aborts llama.cpp's tokenizer.)
const benign = () => encodeTinyLlama();
const evil = () => encodePickle([{ module: 'os', name: 'system', args: ['id'] }, { module: 'collections', name: 'OrderedDict', args: [] }], 2);

/** Drops a file the way a browser does: written under a hidden name, then renamed into place. */
function drop(name: string, bytes: Uint8Array): void {
  const incoming = join(app.home, 'quarantine', 'incoming');
  mkdirSync(incoming, { recursive: true });
  writeFileSync(join(incoming, `.${name}.part`), bytes);
  renameSync(join(incoming, `.${name}.part`), join(incoming, name));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 240_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${app.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const jobs = () => app.ctl(['models', 'jobs', '--json']).json().jobs as { id: string; name: string; state: string; reason: string }[];

t.test('quarantine e2e — a benign GGUF dropped into incoming/ is promoted with a signed manifest', async (t) => {
  drop('tiny-benign.gguf', benign());
  const job = await until('benign verdict', () => jobs().find((j) => j.name === 'tiny-benign.gguf' && ['promoted', 'rejected', 'held'].includes(j.state)));
  t.equal(job.state, 'promoted', job.reason);
  const list = app.ctl(['models', 'list', '--json']);
  t.equal(list.code, 0);
  const m = list.json().models.find((x: { name: string }) => x.name === 'tiny-benign');
  t.ok(m, 'models list shows it');
  t.match(m, { format: 'gguf', sha256: /^[0-9a-f]{64}$/, merkleRoot: /^[0-9a-f]{64}$/ });
  const stored = join(app.home, 'registry', m.path);
  t.equal(statSync(stored).mode & 0o777, 0o444, 'stored read-only');
  const manifest = JSON.parse(readFileSync(join(app.home, 'registry', 'manifest.json'), 'utf8'));
  t.match(manifest, { version: 1, signature: /^[A-Za-z0-9+/=]{80,}$/ });
  t.equal(statSync(join(app.home, 'keys', 'appliance.ed25519')).mode & 0o777, 0o600);
  t.notOk(existsSync(join(app.home, 'quarantine', 'incoming', 'tiny-benign.gguf')), 'taken out of incoming/');
  const v = app.ctl(['models', 'verify', 'tiny-benign', '--json']);
  t.equal(v.code, 0);
  t.match(v.json().results[0], { ok: true });
});

t.test('quarantine e2e — a pickle disguised as .gguf is rejected with evidence, kept in quarantine, and in the audit chain', async (t) => {
  drop('disguised.gguf', evil());
  const job = await until('evil verdict', () => jobs().find((j) => j.name === 'disguised.gguf' && ['promoted', 'rejected', 'held'].includes(j.state)));
  t.equal(job.state, 'rejected');
  t.match(job.reason, /^format: fail: .*pickle/);
  const rep = app.ctl(['models', 'report', job.id, '--json']);
  t.equal(rep.code, 1);
  const fmt = rep.json().results.find((r: { stage: string }) => r.stage === 'format');
  t.match(fmt, { verdict: 'fail', evidence: { detected: 'pickle', worstGlobal: 'critical' } });
  const dir = join(app.home, 'quarantine', 'rejected', job.id);
  t.ok(existsSync(join(dir, 'disguised.gguf')), 'the rejected file stays in quarantine');
  t.match(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')), { id: job.id, state: 'rejected' });
  t.notOk(app.ctl(['models', 'list', '--json']).json().models.some((m: { name: string }) => m.name === 'disguised'));
  const tail = await until('verdict in the audit chain', () => {
    const recs = app.ctl(['audit', 'tail', '-n', '200', '--subject', 'secai.evt.quarantine.verdict', '--json']).json().records as { payload: { id: string; outcome: string; results: unknown[] } }[];
    return recs.find((r) => r.payload?.id === job.id);
  });
  t.match(tail.payload, { outcome: 'rejected', results: [{ stage: 'source' }, { stage: 'format', verdict: 'fail', evidence: { detected: 'pickle' } }] });
  t.equal(app.ctl(['audit', 'verify']).code, 0, 'the audit chain verifies');
});

t.test('quarantine e2e — securectl models import exits 0 promoted, 1 rejected, 2 error; the user file is untouched', async (t) => {
  const dir = join(app.home, 'user-files');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'good-model.gguf'), benign());
  writeFileSync(join(dir, 'bad-model.gguf'), evil());
  const ok = app.ctl(['models', 'import', join(dir, 'good-model.gguf')], { timeoutMs: 120_000 });
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /good-model\.gguf: PROMOTED/);
  t.match(ok.stderr, /\[#+-*\]\s+\d+%/, 'a progress bar from the stage events');
  // Not a terminal: one line per stage start and per stage verdict (7 stages), not one per percent.
  const barLines = ok.stderr.split('\n').filter((l) => /^\[[#-]+\]/.test(l));
  t.ok(barLines.length <= 14, `${barLines.length} progress lines without a TTY`);
  t.ok(existsSync(join(dir, 'good-model.gguf')), 'an import copies; the user file stays');
  const bad = app.ctl(['models', 'import', join(dir, 'bad-model.gguf'), '--json'], { timeoutMs: 120_000 });
  t.equal(bad.code, 1);
  t.match(bad.json(), { outcome: 'rejected', results: [{ stage: 'source' }, { stage: 'format', verdict: 'fail' }] });
  const missing = app.ctl(['models', 'import', join(dir, 'nope.gguf'), '--json']);
  t.equal(missing.code, 2);
  t.match(missing.json(), { ok: false, error: { code: 'SECAI_E_IMPORT_REFUSED' } });
  const url = app.ctl(['models', 'import', 'https://huggingface.co/org/m/resolve/main/m.gguf', '--json']);
  t.equal(url.code, 2);
  // The airlock is the only way out, and it is off by default: nothing is downloaded, no job starts.
  t.match(url.json(), { error: { code: /^SECAI_E_(EGRESS_DENIED|AIRLOCK_UNAVAILABLE)$/ } });
  t.notOk(jobs().some((j) => j.name === 'm.gguf'), 'no job for a refused download');
  const evilUrl = app.ctl(['models', 'import', 'https://huggingface.co.evil.com/m.gguf', '--json']);
  t.equal(evilUrl.code, 2);
  t.match(evilUrl.json(), { error: { code: 'SECAI_E_IMPORT_REFUSED', message: /not in sources.allowlist/ } });
});

t.test('quarantine e2e — a symlink dropped in incoming/ is refused, never followed', async (t) => {
  const target = join(app.home, 'secret.gguf');
  writeFileSync(target, benign());
  symlinkSync(target, join(app.home, 'quarantine', 'incoming', 'link.gguf'));
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(jobs().some((j) => j.name === 'link.gguf'), 'no job for a link');
  t.ok(existsSync(target), 'the link target is untouched');
  const recs = app.ctl(['audit', 'tail', '-n', '100', '--subject', 'secai.evt.quarantine.refused', '--json']).json().records as { payload: { name: string; reason: string } }[];
  t.ok(recs.some((r) => r.payload.name === 'link.gguf' && /symbolic link/.test(r.payload.reason)), 'the refusal is audited');
});

t.test('quarantine e2e — models rm removes a promoted model; verify of it then fails with exit 2', async (t) => {
  const rm = app.ctl(['models', 'rm', 'tiny-benign']);
  t.equal(rm.code, 0, rm.stderr);
  t.notOk(app.ctl(['models', 'list', '--json']).json().models.some((m: { name: string }) => m.name === 'tiny-benign'));
  const v = app.ctl(['models', 'verify', 'tiny-benign', '--json']);
  t.equal(v.code, 2);
  t.match(v.json(), { error: { code: 'SECAI_E_MODEL_NOT_FOUND' } });
  t.ok(readdirSync(join(app.home, 'registry')).length >= 1);
});
