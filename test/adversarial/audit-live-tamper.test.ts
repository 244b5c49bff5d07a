// The chain file deleted under a running audit actor: the alarm comes at once, not at the next five-minute self-check.
import t from 'tap';
import { existsSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startAppliance, type Appliance } from '../helpers/appliance.js';

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

function auditState(a: Appliance): unknown {
  const r = a.ctl(['status', '--json']);
  if (r.code !== 0) throw new Error(r.stderr || r.stdout);
  return (r.json() as { actors: { name: string; state: unknown }[] }).actors.find((x) => x.name === 'audit')?.state;
}

t.test('audit live tamper — deleting chain.jsonl + head.json while the appliance runs breaks the chain at once', async (t) => {
  // A self-check interval far beyond the test: only the tamper detection can find it in time.
  const a = await startAppliance({ env: { SECAI_AUDIT_VERIFY_MS: String(3_600_000) } });
  t.teardown(async () => { await a.stop(); rmSync(a.home, { recursive: true, force: true }); });
  // Following, and the chain written at least once (both files exist), so there is something to delete.
  await until('audit following with a chain on disk', () => (auditState(a) === 'following' && ['chain.jsonl', 'head.json'].every((f) => existsSync(join(a.home, 'audit', f))) ? true : undefined));
  for (const f of ['chain.jsonl', 'head.json']) unlinkSync(join(a.home, 'audit', f));
  t.equal(await until('audit broken', () => (auditState(a) === 'broken' ? 'broken' : undefined)), 'broken', 'secai status shows it broken without anyone asking');
  const v = a.ctl(['audit', 'verify', '--json']);
  t.equal(v.code, 1, 'audit verify exits 1');
  t.match(v.json(), { ok: false, reason: /missing|sequence|removed/ });
});
