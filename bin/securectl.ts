#!/usr/bin/env node
// securectl: signed operator commands to the running appliance. Every verb takes --json.
import { commandOp, standardPingCommand } from '../bus/op-ref.js';
import { auditManifest } from '../actors/audit/manifest.js';
import { inferenceManifest } from '../actors/inference/manifest.js';
import { supervisorManifest } from '../actors/supervisor/manifest.js';
import { parseArgs } from 'node:util';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, formatDuration, openCliSession, printError, printJson, type CliSession } from './cli-common.js';
import { renderStatus, type StatusReply } from './status-view.js';
import { POLICY_USAGE, policyOfflineVerbs, policyVerbs } from './policy-cli.js';
import { MODEL_USAGE, modelVerbs } from './models-cli.js';
import { catalogSign } from './catalog-cli.js';
import { runChat } from './chat.js';
import { GENERATE_USAGE, runGenerate, type GenerateOptions } from './generate.js';
import { VAULT_USAGE, vaultVerbs } from './vault-cli.js';
import { INTEGRITY_USAGE, integrityVerbs } from './integrity-cli.js';
import { INCIDENTS_USAGE, incidentVerbs, verifyBundleVerb } from './incidents-cli.js';
import { ATTEST_USAGE, attestVerbs } from './attest-cli.js';
import { GPU_USAGE, gpuVerbs } from './gpu-cli.js';
import { AGENT_USAGE, agentVerbs } from './agent-cli.js';
import { MCP_USAGE, mcpVerbs } from './mcp-cli.js';

const USAGE = `usage: securectl <verb> [--json]
  status                     every actor's state (signed command to the supervisor)
  ping <actor>               signed liveness check of one actor
  audit verify               verify the audit hash chain (exit 0 intact, 1 broken, 2 error)
  audit tail [-n N] [--subject PREFIX]   the latest audit records
${POLICY_USAGE}
${MODEL_USAGE}
${VAULT_USAGE}
${INTEGRITY_USAGE}
${INCIDENTS_USAGE}
${ATTEST_USAGE}
${GPU_USAGE}
${AGENT_USAGE}
${MCP_USAGE}
  models load <name>         load a promoted model into a sandboxed worker (signed)
  models unload <name>       stop a model's worker (signed)
  chat [--model M] [-m TEXT] terminal chat through the local HTTP API (one message with -m)
${GENERATE_USAGE}`;

type Verb = (s: CliSession, args: string[], opts: { json: boolean; note?: string; out?: string; state?: string; n?: string; subject?: string; model?: string; message?: string; confirm?: boolean; passphraseStdin?: boolean; acceptFindings?: boolean; generate?: Omit<GenerateOptions, 'json' | 'model' | 'out'> }) => Promise<number>;

const verbs: Record<string, Verb> = {
  ...policyVerbs,
  ...modelVerbs,
  ...vaultVerbs,
  ...integrityVerbs,
  ...incidentVerbs,
  ...attestVerbs,
  ...gpuVerbs,
  ...agentVerbs,
  ...mcpVerbs,
  'models load': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models load needs a model name');
    const r = await s.bus.callCommand(s.key, commandOp(inferenceManifest, 'load'), { name: args[0] }, 300_000);
    if (o.json) printJson(r);
    else {
      // `info` is the worker's own account (free-form in the schema): print what it says.
      const info: Record<string, unknown> = r.info && typeof r.info === 'object' ? { ...r.info } : {};
      process.stdout.write(`${r.name}: ${r.state}, ${r.sandboxed ? 'sandboxed' : 'UNSANDBOXED (development mode)'}, gpu ${String(info['gpu'] ?? false)}, ${typeof info['threads'] === 'number' ? info['threads'] : '?'} threads\n`);
    }
    return Exit.OK;
  },
  'models unload': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models unload needs a model name');
    const r = await s.bus.callCommand(s.key, commandOp(inferenceManifest, 'unload'), { name: args[0] }, 60_000);
    if (o.json) printJson(r);
    else process.stdout.write(r.unloaded ? `${args[0]} unloaded\n` : `${args[0]} was not loaded\n`);
    return r.unloaded ? Exit.OK : Exit.FOUND;
  },
  chat: async (_s, _a, o) => runChat({ json: o.json, ...(o.model !== undefined && { model: o.model }), ...(o.message !== undefined && { message: o.message }) }),
  generate: async (_s, args, o) => {
    if (args.length) throw new SecaiError(ErrorCode.USAGE, `generate takes options only, not '${args[0]!.slice(0, 64)}' (--prompt TEXT)`);
    return runGenerate({ json: o.json, ...o.generate, ...(o.model !== undefined && { model: o.model }), ...(o.out !== undefined && { out: o.out }) });
  },
  status: async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(supervisorManifest, 'status'), {});
    if (o.json) printJson(r);
    else process.stdout.write(renderStatus(r, formatDuration));
    return Exit.OK;
  },
  ping: async (s, args, o) => {
    const actor = args[0];
    if (!actor) throw new SecaiError(ErrorCode.USAGE, 'ping needs an actor name');
    const t0 = performance.now();
    const r = await s.bus.callCommand(s.key, standardPingCommand(actor), {});
    const ms = performance.now() - t0;
    if (o.json) printJson({ ...r, roundTripMs: Number(ms.toFixed(3)) });
    else process.stdout.write(`${r.actor}: pid ${r.pid}, state ${JSON.stringify(r.state)}, up ${formatDuration(r.uptimeMs)}, ${ms.toFixed(1)} ms${r.unpublishedEvents ? `, ${r.unpublishedEvents} events NOT published` : ''}\n`);
    return Exit.OK;
  },
  'audit verify': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(auditManifest, 'verify'), {}, 120_000);
    if (o.json) printJson(r);
    else if (r.ok) process.stdout.write(`audit chain intact: ${r.records} records\n`);
    else {
      process.stdout.write(`audit chain BROKEN at record ${r.brokenAt} (line ${r.line}): ${r.reason}\n`);
      if (r.expected !== undefined) process.stdout.write(`  expected: ${r.expected}\n  found:    ${r.found ?? '?'}\n`);
    }
    return r.ok ? Exit.OK : Exit.FOUND;
  },
  'audit tail': async (s, _a, o) => {
    const n = o.n === undefined ? 20 : Number(o.n);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new SecaiError(ErrorCode.USAGE, '-n must be an integer from 1 to 1000');
    const r = await s.bus.callCommand(s.key, commandOp(auditManifest, 'tail'), { n, ...(o.subject && { subject: o.subject }) });
    if (o.json) printJson(r);
    else for (const rec of r.records) process.stdout.write(`${String(rec.seq).padStart(6)}  ${new Date(rec.at).toISOString()}  ${rec.subject}  ${JSON.stringify(rec.payload).slice(0, 160)}\n`);
    return Exit.OK;
  },
};

/** The generate verb's own options, as given (runGenerate checks them). */
function generateOptions(v: Record<string, string | boolean | undefined>): Omit<GenerateOptions, 'json' | 'model' | 'out'> {
  const o: Record<string, string | boolean> = {};
  for (const k of ['prompt', 'negative', 'size', 'steps', 'guidance', 'seed', 'scheduler', 'init', 'strength', 'force'] as const) if (v[k] !== undefined) o[k] = v[k];
  return o;
}

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, n: { type: 'string', short: 'n' }, subject: { type: 'string' }, model: { type: 'string' }, message: { type: 'string', short: 'm' }, confirm: { type: 'boolean' }, note: { type: 'string' }, out: { type: 'string' }, state: { type: 'string' }, key: { type: 'string' }, mode: { type: 'string' }, tools: { type: 'string' }, 'passphrase-stdin': { type: 'boolean' }, 'accept-findings': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      // securectl generate
      prompt: { type: 'string' }, negative: { type: 'string' }, size: { type: 'string' }, steps: { type: 'string' }, guidance: { type: 'string' },
      seed: { type: 'string' }, scheduler: { type: 'string' }, init: { type: 'string' }, strength: { type: 'string' }, force: { type: 'boolean' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return Exit.ERROR;
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  // `models catalog sign` is a publisher's step: it needs the secret key file, never the appliance.
  const offline = policyOfflineVerbs[positionals.slice(0, 2).join(' ')] ?? (positionals.slice(0, 3).join(' ') === 'models catalog sign' ? catalogSign : undefined);
  if (offline && !values.help) return offline(positionals.slice(offline === catalogSign ? 3 : 2), { json });
  // Checking an exported bundle needs the file alone (and optionally the public key to pin), never the appliance.
  if (positionals.slice(0, 2).join(' ') === 'incidents verify-bundle' && !values.help) return verifyBundleVerb(positionals.slice(2), { json, ...(values.key !== undefined && { key: values.key }) });
  const two = positionals.slice(0, 2).join(' ');
  const [name, rest] = verbs[two] ? [two, positionals.slice(2)] : [positionals[0] ?? '', positionals.slice(1)];
  const verb = verbs[name];
  // `securectl help`, `--help` and a bare `securectl` print the usage; an unknown verb is an error.
  if (!verb || values.help) {
    const asked = values.help === true || name === 'help' || name === '';
    (asked ? process.stdout : process.stderr).write(USAGE + '\n');
    return asked ? Exit.OK : Exit.ERROR;
  }
  let session: CliSession | undefined;
  try {
    session = await openCliSession();
    return await verb(session, rest, { json, ...(values.n !== undefined && { n: values.n }), ...(values.subject !== undefined && { subject: values.subject }), ...(values.model !== undefined && { model: values.model }), ...(values.message !== undefined && { message: values.message }), ...(values.confirm === true && { confirm: true }), ...(values.note !== undefined && { note: values.note }), ...(values.out !== undefined && { out: values.out }), ...(values.state !== undefined && { state: values.state }), ...(values['passphrase-stdin'] === true && { passphraseStdin: true }), ...(values['accept-findings'] === true && { acceptFindings: true }), generate: generateOptions(values) });
  } catch (err) {
    printError(err, json);
    return Exit.ERROR;
  } finally {
    await session?.close().catch(() => {}); // lint-ok: the command's answer is already out; closing has nothing to add
  }
}

run(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => { printError(err, false); process.exit(Exit.ERROR); });
