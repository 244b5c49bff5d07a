// Test helper for the incident-class e2e tests: one real appliance whose policy adds lock_vault and disable_airlock to
// every class's containment (the shipped actions stay in the list), so each cause's containment shows on the vault and
// the airlock; `ready()` resets them between causes and `contained()` checks an incident against that policy.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { parse, stringify } from 'yaml';
import { BusClient } from '../../bus/client.js';
import { loadIdentity } from '../../bus/identities.js';
import { ensureOperatorKey } from '../../bus/operator-keys.js';
import { pickLoopbackPort } from '../../bus/server.js';
import { homePaths } from '../../common/paths.js';
import { disposeAppliance, SECURECTL_BIN, setupCode, startAppliance, type Appliance } from './appliance.js';
import { cleanup, fastPolicyDir } from './vault-actor.js';
import { until } from './until.js';

export { until };

/**
 * Containment ops still without a server (the step fails, the incident escalates). Empty now: end_sessions,
 * suspend_model and evict_model are served (test/actors/incident-contain.test.ts drives them).
 */
export const PENDING_OPS: ReadonlySet<string> = new Set<string>();
export const PASSPHRASE = 'the owner passphrase of incident tests';

type Containment = Record<string, Record<string, string[]>>;
export const WITH_VISIBLE: Containment = {
  attestation_failure: { critical: ['lock_vault', 'end_sessions', 'disable_airlock'] },
  policy_bypass_attempt: { high: ['lock_vault', 'disable_airlock', 'end_sessions', 'freeze_agent'] },
  forbidden_airlock_request: { medium: ['disable_airlock', 'lock_vault'] },
  tool_call_burst: { medium: ['freeze_agent', 'lock_vault', 'disable_airlock'] },
  model_behavior_anomaly: { high: ['lock_vault', 'disable_airlock', 'evict_model', 'suspend_model'] },
  prompt_injection: { high: ['lock_vault', 'disable_airlock', 'freeze_agent', 'evict_model'] },
  integrity_violation: { critical: ['lock_vault', 'end_sessions', 'disable_airlock'] },
  unauthorized_access: { high: ['lock_vault', 'disable_airlock', 'end_sessions'], critical: ['end_sessions', 'lock_vault', 'disable_airlock'] },
};

/** A real software TPM (test/attestor/attestor.test.ts starts it the same way); stopped and removed in teardown. */
export async function startSwtpm(t: Test): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'secai-swtpm-'));
  const port = await pickLoopbackPort();
  const child = spawn('swtpm', ['socket', '--tpmstate', `dir=${dir}`, '--tpm2', '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`,
    '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); });
  const tcti = `swtpm:host=127.0.0.1,port=${port}`;
  await until('swtpm answers', () => {
    try { execFileSync('tpm2_getcap', ['properties-fixed'], { env: { ...process.env, TPM2TOOLS_TCTI: tcti }, stdio: 'ignore' }); return true; } catch { return false; } // lint-ok: not up yet; polled again
  }, 30_000);
  return tcti;
}

interface Step { action: string; status: string; detail: string }
export interface Summary { id: string; class: string; key: string; state: string; severity: string; count: number; steps: Step[]; escalation: string | null; target: Record<string, string> }

export interface IncidentStand {
  a: Appliance;
  cli: BusClient;
  key: Awaited<ReturnType<typeof ensureOperatorKey>>;
  config: string;
  incidents(): Summary[];
  vaultState(): Promise<string>;
  ctlIn(args: string[], input: string): { code: number; out: string };
  post(path: string, body: unknown): Promise<number>;
  ready(): Promise<void>;
  contained(t: Test, pred: (i: Summary) => boolean, what: string, ms?: number): Promise<{ incident: Summary; evidence: Record<string, unknown> }>;
}

/**
 * Starts the appliance (teardown stops it) with the WITH_VISIBLE policy, `edit` applied to the policy document on top,
 * sets the vault up the way the web form does (the printed setup code: unlocked after) and waits for the integrity
 * monitor to trust the tree with its canaries watched.
 */
export async function incidentStand(t: Test, o: { edit?: (doc: Record<string, Record<string, unknown>>) => void; env?: Record<string, string> } = {}): Promise<IncidentStand> {
  const config = fastPolicyDir((y) => {
    const doc = parse(y) as Record<string, Record<string, unknown>>;
    const incidents = doc['incidents']!;
    doc['incidents'] = { ...incidents, containment: { ...(incidents['containment'] as Containment), ...WITH_VISIBLE } };
    o.edit?.(doc);
    return stringify(doc);
  });
  t.teardown(() => cleanup(config));
  const a = await startAppliance({ env: { SECAI_CONFIG: config, ...o.env }, timeoutMs: 120_000 });
  t.teardown(() => disposeAppliance(a));
  const more = () => a.output().slice(-3000);
  const paths = homePaths(a.home);
  const key = await ensureOperatorKey(paths.operatorKey, paths.trustedOperators);
  const cli = await BusClient.connect({ url: a.busUrl, identity: loadIdentity(paths.busKeys, 'cli'), reconnect: false });
  t.teardown(() => cli.close());

  const ctlIn = (args: string[], input: string) => {
    const r = spawnSync(process.execPath, [SECURECTL_BIN, ...args], { env: a.env, input, encoding: 'utf8', timeout: 120_000 });
    return { code: r.status ?? -1, out: r.stdout + r.stderr };
  };
  const incidents = (): Summary[] => {
    const r = a.ctl(['incidents', 'list', '--json']);
    if (r.code !== 0) throw new Error(`incidents list failed: ${r.stdout}${r.stderr}`);
    return r.json().incidents;
  };
  const vaultState = async () => (await cli.command<{ state: string }>(key, 'vault', 'status')).state;
  const airlock = () => a.ctl(['airlock', 'status', '--json']).json() as { enabled: boolean; disabledBy: { incidentId: string } | null };
  /** HTTP with a fresh connection per request (a.ctl's spawnSync blocks this loop: a kept-alive socket may be closed under it). */
  const post = (path: string, body: unknown): Promise<number> => {
    const text = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(a.httpUrl + path, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(text);
    });
  };

  const stand: IncidentStand = {
    a, cli, key, config, incidents, vaultState, ctlIn, post,
    /** Each cause starts from an unlocked vault and an airlock no incident holds. */
    async ready() {
      if ((await vaultState()) !== 'unlocked') {
        const r = ctlIn(['vault', 'unlock', '--passphrase-stdin'], `${PASSPHRASE}\n`);
        if (r.code !== 0) throw new Error(`vault unlock: ${r.out}`);
      }
      if (airlock().disabledBy) {
        const r = a.ctl(['airlock', 'enable', '--json']);
        if (r.code !== 0) throw new Error(`airlock enable: ${r.stdout}${r.stderr}`);
      }
      if ((await vaultState()) !== 'unlocked' || airlock().disabledBy) throw new Error('not ready for the next cause');
    },
    /**
     * Waits for the incident `pred` picks to finish containing, then checks it: its steps are the policy's list with
     * each step done (a server exists), failed (PENDING_OPS) or skipped (a model op without a model), its
     * state follows (escalated iff a step failed), and its containment shows on the vault and the airlock.
     */
    async contained(t, pred, what, ms = 30_000) {
      const i = await until(what, () => incidents().find((x) => pred(x) && x.state !== 'open'), ms, more);
      const actions = WITH_VISIBLE[i.class]?.[i.severity] ?? [];
      const expected = actions.map((action) => ({
        action,
        status: ((action === 'suspend_model' || action === 'evict_model') && !i.target['model']) ? 'skipped'
          : PENDING_OPS.has(action) ? 'failed'
          // A model the quarantine rejected is not in the registry: nothing to suspend (the step says so).
          : action === 'suspend_model' && i.steps.some((s) => s.action === action && s.status === 'skipped' && /is not in the registry/.test(s.detail)) ? 'skipped' : 'done',
      }));
      t.same(i.steps.map((s) => ({ action: s.action, status: s.status })), expected, `${i.class}/${i.severity}: each step as expected (${i.steps.map((s) => `${s.action} ${s.status}: ${s.detail}`).join('; ')})`);
      t.equal(i.state, expected.some((s) => s.status === 'failed') ? 'escalated' : 'contained', 'escalated exactly when a step failed');
      if (actions.includes('lock_vault')) t.equal(await vaultState(), 'locked', 'the vault is locked');
      if (actions.includes('disable_airlock')) t.match(airlock(), { enabled: false, disabledBy: { incidentId: i.id } }, 'the airlock is contained by this incident');
      const shown = a.ctl(['incidents', 'show', i.id, '--json']).json() as { evidence: { evidence: Record<string, unknown> }[] };
      t.ok(shown.evidence.length > 0, 'it holds evidence');
      return { incident: i, evidence: shown.evidence[0]!.evidence };
    },
  };
  // The owner sets the vault up the way the web form does (with the printed setup code): it is unlocked after.
  const setup = await post('/api/auth/setup', { passphrase: PASSPHRASE, setupCode: setupCode(a) });
  if (setup !== 200) throw new Error(`vault setup answered ${setup}\n${more()}`);
  await until('the integrity monitor trusted, canaries watched', async () => {
    const s = await cli.command<{ state: string; canaries: { watching: boolean }[] }>(key, 'integrity', 'status');
    return s.state === 'trusted' && s.canaries.length > 0 && s.canaries.every((c) => c.watching);
  }, 60_000, more);
  return stand;
}
