#!/usr/bin/env node
// securectl: signed operator commands to the running appliance. Every verb takes --json.
import { parseArgs } from 'node:util';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, formatDuration, openCliSession, printError, printJson, type CliSession } from './cli-common.js';
import { renderStatus, type StatusReply } from './status-view.js';
import { POLICY_USAGE, policyOfflineVerbs, policyVerbs } from './policy-cli.js';
import { MODEL_USAGE, modelVerbs } from './models-cli.js';
import { runChat } from './chat.js';
import { VAULT_USAGE, vaultVerbs } from './vault-cli.js';

const USAGE = `usage: securectl <verb> [--json]
  status                     every actor's state (signed command to the supervisor)
  ping <actor>               signed liveness check of one actor
  audit verify               verify the audit hash chain (exit 0 intact, 1 broken, 2 error)
  audit tail [-n N] [--subject PREFIX]   the latest audit records
${POLICY_USAGE}
${MODEL_USAGE}
${VAULT_USAGE}
  models load <name>         load a promoted model into a sandboxed worker (signed)
  models unload <name>       stop a model's worker (signed)
  chat [--model M] [-m TEXT] terminal chat through the local HTTP API (one message with -m)`;

type Verb = (s: CliSession, args: string[], opts: { json: boolean; n?: string; subject?: string; model?: string; message?: string; confirm?: boolean; passphraseStdin?: boolean }) => Promise<number>;

const verbs: Record<string, Verb> = {
  ...policyVerbs,
  ...modelVerbs,
  ...vaultVerbs,
  'models load': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models load needs a model name');
    const r = await s.bus.command<{ name: string; state: string; sandboxed: boolean; info?: { gpu?: unknown; threads?: number } }>(s.key, 'inference', 'load', { name: args[0] }, 300_000);
    if (o.json) printJson(r);
    else process.stdout.write(`${r.name}: ${r.state}, ${r.sandboxed ? 'sandboxed' : 'UNSANDBOXED (development mode)'}, gpu ${String(r.info?.gpu ?? false)}, ${r.info?.threads ?? '?'} threads\n`);
    return Exit.OK;
  },
  'models unload': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models unload needs a model name');
    const r = await s.bus.command<{ unloaded: boolean }>(s.key, 'inference', 'unload', { name: args[0] }, 60_000);
    if (o.json) printJson(r);
    else process.stdout.write(r.unloaded ? `${args[0]} unloaded\n` : `${args[0]} was not loaded\n`);
    return r.unloaded ? Exit.OK : Exit.FOUND;
  },
  chat: async (_s, _a, o) => runChat({ json: o.json, ...(o.model !== undefined && { model: o.model }), ...(o.message !== undefined && { message: o.message }) }),
  status: async (s, _a, o) => {
    const r = await s.bus.command<StatusReply>(s.key, 'supervisor', 'status');
    if (o.json) printJson(r);
    else process.stdout.write(renderStatus(r, formatDuration));
    return Exit.OK;
  },
  ping: async (s, args, o) => {
    const actor = args[0];
    if (!actor) throw new SecaiError(ErrorCode.USAGE, 'ping needs an actor name');
    const t0 = performance.now();
    const r = await s.bus.command<{ actor: string; pid: number; uptimeMs: number; state: unknown }>(s.key, actor, 'ping');
    const ms = performance.now() - t0;
    if (o.json) printJson({ ...r, roundTripMs: Number(ms.toFixed(3)) });
    else process.stdout.write(`${r.actor}: pid ${r.pid}, state ${JSON.stringify(r.state)}, up ${formatDuration(r.uptimeMs)}, ${ms.toFixed(1)} ms\n`);
    return Exit.OK;
  },
  'audit verify': async (s, _a, o) => {
    const r = await s.bus.command<{ ok: boolean; records: number; reason?: string; brokenAt?: number; line?: number; expected?: string; found?: string }>(s.key, 'audit', 'verify', {}, 120_000);
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
    const r = await s.bus.command<{ records: { seq: number; at: number; subject: string; payload: unknown }[] }>(s.key, 'audit', 'tail', { n, ...(o.subject && { subject: o.subject }) });
    if (o.json) printJson(r);
    else for (const rec of r.records) process.stdout.write(`${String(rec.seq).padStart(6)}  ${new Date(rec.at).toISOString()}  ${rec.subject}  ${JSON.stringify(rec.payload).slice(0, 160)}\n`);
    return Exit.OK;
  },
};

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, n: { type: 'string', short: 'n' }, subject: { type: 'string' }, model: { type: 'string' }, message: { type: 'string', short: 'm' }, confirm: { type: 'boolean' }, 'passphrase-stdin': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return Exit.ERROR;
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  const offline = policyOfflineVerbs[positionals.slice(0, 2).join(' ')];
  if (offline && !values.help) return offline(positionals.slice(2), { json });
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
    return await verb(session, rest, { json, ...(values.n !== undefined && { n: values.n }), ...(values.subject !== undefined && { subject: values.subject }), ...(values.model !== undefined && { model: values.model }), ...(values.message !== undefined && { message: values.message }), ...(values.confirm === true && { confirm: true }), ...(values['passphrase-stdin'] === true && { passphraseStdin: true }) });
  } catch (err) {
    printError(err, json);
    return Exit.ERROR;
  } finally {
    await session?.close().catch(() => {});
  }
}

run(process.argv.slice(2)).then((code) => process.exit(code));
