// securectl policy … and airlock …: decisions, the policy in force, reload (signed), and an offline file check.
import { commandOp } from '../bus/op-ref.js';
import { airlockManifest } from '../actors/airlock/manifest.js';
import { policyManifest } from '../actors/policy/manifest.js';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { parseConfig, SCHEMA_DIR } from '../policy/load.js';
import { parsePolicy } from '../policy/snapshot.js';
import { Exit, printError, printJson, type CliSession } from './cli-common.js';

export const POLICY_USAGE = `  policy show                the policy in force and its digest (signed)
  policy check <file>        validate a policy.yaml, agent.yaml or appliance.yaml offline (exit 0 valid, 1 invalid, 2 error)
  policy decide <domain> <json>   ask the policy engine (exit 0 allow, 1 deny or ask, 2 error)
  policy reload              re-read policy.yaml; a bad file keeps the old policy (signed)
  airlock status             is egress enabled, to where, counters; an incident that disabled it (signed)
  airlock enable             end an incident's containment: egress follows the policy again (signed, admin)`;

type Verb = (s: CliSession, args: string[], opts: { json: boolean }) => Promise<number>;

interface Decision { decision: string; domain: string; rule: string; reason?: string; policyDigest: string; inputHash: string; evalUs: number }

export const policyVerbs: Record<string, Verb> = {
  'policy show': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(policyManifest, 'show'), {});
    if (o.json) printJson(r);
    else process.stdout.write(`policy ${r.digest}\nfrom ${r.path}, loaded ${new Date(r.loadedAt).toISOString()}\n${JSON.stringify(r.policy, null, 2)}\n`);
    return Exit.OK;
  },
  'policy decide': async (s, args, o) => {
    const [domain, raw] = args;
    if (!domain || raw === undefined) throw new SecaiError(ErrorCode.USAGE, 'policy decide needs <domain> <json>');
    let input: unknown;
    try {
      input = JSON.parse(raw);
    } catch (err) {
      throw new SecaiError(ErrorCode.USAGE, `input is not JSON: ${(err as Error).message}`);
    }
    const r = await s.bus.callCommand(s.key, commandOp(policyManifest, 'decide'), { domain, input });
    if (o.json) printJson(r);
    else process.stdout.write(`${r.decision} (${r.domain}, rule ${r.rule}${r.reason ? `: ${r.reason}` : ''}) policy ${r.policyDigest.slice(0, 12)} input ${r.inputHash.slice(0, 12)} ${r.evalUs} µs\n`);
    return r.decision === 'allow' ? Exit.OK : Exit.FOUND;
  },
  'policy reload': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(policyManifest, 'reload'), {}, 30_000);
    if (o.json) printJson(r);
    else {
      process.stdout.write(r.changed ? `policy reloaded: ${r.previous.slice(0, 12)} → ${r.digest.slice(0, 12)}\n` : `policy reloaded, unchanged (${r.digest.slice(0, 12)})\n`);
      if (r.sections.length) process.stdout.write(`  sections changed (applied by their actors now): ${r.sections.join(', ')}\n`);
      for (const n of r.restart) process.stdout.write(`  needs a restart: ${n.section}.{${n.keys.join(',')}}: ${n.reason}\n`);
    }
    return Exit.OK;
  },
  'airlock status': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(airlockManifest, 'status'), {});
    if (o.json) printJson(r);
    else {
      process.stdout.write(`airlock ${r.enabled ? 'ENABLED' : 'disabled'}${r.loopbackForTests ? ' (loopback allowed for tests)' : ''}, ${r.requests} requests, ${r.denied} denied, policy ${r.policyDigest.slice(0, 12)}\n`);
      if (r.disabledBy) process.stdout.write(`  DISABLED BY INCIDENT ${r.disabledBy.incidentId} since ${new Date(r.disabledBy.at).toISOString()}: ${r.disabledBy.reason}\n  (securectl airlock enable ends it)\n`);
      for (const d of r.destinations) process.stdout.write(`  ${d}\n`);
    }
    return Exit.OK;
  },
  'airlock enable': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(airlockManifest, 'enable'), {});
    if (o.json) printJson(r);
    else if (r.wasDisabledBy) process.stdout.write(`containment by incident ${r.wasDisabledBy.incidentId} ended; airlock ${r.enabled ? 'ENABLED' : 'disabled'} as the policy says\n`);
    else process.stdout.write(`airlock was not contained; ${r.enabled ? 'ENABLED' : 'disabled'} as the policy says\n`);
    return Exit.OK;
  },
};

/** Verbs that need no running appliance. */
export const policyOfflineVerbs: Record<string, (args: string[], o: { json: boolean }) => Promise<number>> = {
  'policy check': async (args, o) => {
    const file = args[0];
    try {
      if (!file) throw new SecaiError(ErrorCode.USAGE, 'policy check needs a file');
      if (!existsSync(file)) throw new SecaiError(ErrorCode.USAGE, `${file}: no such file`);
      const name = basename(file, extname(file));
      const text = readFileSync(file, 'utf8');
      let digest: string;
      try {
        if (name === 'policy') digest = parsePolicy(text, file, '/nonexistent-secai-home').digest;
        else if (existsSync(join(SCHEMA_DIR, `${name}.schema.json`))) digest = parseConfig(text, `${name}.schema.json`, file).digest;
        else throw new SecaiError(ErrorCode.USAGE, `${file}: no schema for '${name}' (policy, agent, appliance, …)`);
      } catch (err) {
        if ((err as SecaiError).code !== ErrorCode.CONFIG_INVALID) throw err;
        if (o.json) printJson({ ok: false, file, error: (err as SecaiError).toData() });
        else process.stderr.write(`invalid: ${(err as Error).message}\n`);
        return Exit.FOUND;
      }
      if (o.json) printJson({ ok: true, file, digest });
      else process.stdout.write(`valid: ${file} (sha256 ${digest})\n`);
      return Exit.OK;
    } catch (err) {
      printError(err, o.json);
      return Exit.ERROR;
    }
  },
};
