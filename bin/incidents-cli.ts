// securectl incidents verbs: list, show, ack, resolve, export (signed commands to the incident actor) and verify-bundle (offline).
import { readFileSync } from 'node:fs';
import { commandOp } from '../bus/op-ref.js';
import { incidentManifest } from '../actors/incident/manifest.js';
import { verifyBundleFile } from '../actors/incident/bundle.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, printError, printJson, type CliSession } from './cli-common.js';

type Opts = { json: boolean; note?: string; out?: string; state?: string; key?: string; n?: string };
type IncidentVerb = (s: CliSession, args: string[], o: Opts) => Promise<number>;

const STATES = ['open', 'contained', 'escalated', 'acknowledged', 'resolved', 'unresolved'] as const;
const when = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
const needId = (args: string[], verb: string) => {
  if (!args[0]) throw new SecaiError(ErrorCode.USAGE, `incidents ${verb} needs an incident id (securectl incidents list)`);
  return args[0];
};

export const incidentVerbs: Record<string, IncidentVerb> = {
  'incidents list': async (s, _a, o) => {
    if (o.state !== undefined && !(STATES as readonly string[]).includes(o.state)) throw new SecaiError(ErrorCode.USAGE, `--state is one of ${STATES.join(', ')}`);
    const limit = o.n === undefined ? 100 : Number(o.n);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SecaiError(ErrorCode.USAGE, '-n must be an integer from 1 to 1000');
    const r = await s.bus.callCommand(s.key, commandOp(incidentManifest, 'list'), { limit, ...(o.state && { state: o.state as (typeof STATES)[number] }) });
    if (o.json) printJson(r);
    else {
      if (!r.incidents.length) process.stdout.write('no incidents\n');
      for (const i of r.incidents) {
        process.stdout.write(`${i.id}  ${i.state.padEnd(12)} ${i.severity.padEnd(8)} ${i.class.padEnd(26)} x${String(i.count).padEnd(6)} ${when(i.lastSeen)}  ${i.summary.slice(0, 100)}\n`);
      }
      if (r.rejectedFiles) process.stdout.write(`WARNING: ${r.rejectedFiles} incident file(s) did not verify and were moved aside (see the integrity_violation incident)\n`);
    }
    return Exit.OK;
  },
  'incidents show': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(incidentManifest, 'get'), { id: needId(args, 'show') });
    if (o.json) {
      printJson(r);
      return Exit.OK;
    }
    const i = r.incident;
    const out = [
      `${i.id}: ${i.class} (${i.severity}), ${i.state}`, `  ${i.summary}`,
      `  seen ${i.count} time(s), first ${when(i.firstSeen)}, last ${when(i.lastSeen)}; key ${i.key}`,
      ...(i.escalation ? [`  ESCALATED: ${i.escalation}`] : []),
      '  containment:', ...(i.steps.length ? i.steps.map((st) => `    ${st.action.padEnd(16)} ${st.status.padEnd(8)} ${st.detail}`) : ['    (none in policy)']),
      '  timeline:', ...r.timeline.map((t) => `    ${when(Number(t['at']))}  ${String(t['state']).padEnd(12)} ${String(t['reason'] ?? '')}${t['by'] ? ` (by ${String(t['by'])}${t['note'] ? `: ${String(t['note'])}` : ''})` : ''}`),
      `  evidence (${r.evidence.length} of ${i.count} kept):`, ...r.evidence.map((d) => `    ${when(d.at)}  ${JSON.stringify(d.evidence).slice(0, 200)}`),
    ];
    process.stdout.write(out.join('\n') + '\n');
    return Exit.OK;
  },
  'incidents ack': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(incidentManifest, 'ack'), { id: needId(args, 'ack'), ...(o.note !== undefined && { note: o.note }) });
    if (o.json) printJson(r);
    else process.stdout.write(`${r.id}: ${r.state}\n`);
    return Exit.OK;
  },
  'incidents resolve': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(incidentManifest, 'resolve'), { id: needId(args, 'resolve'), ...(o.note !== undefined && { note: o.note }) });
    if (o.json) printJson(r);
    else process.stdout.write(`${r.id}: ${r.state}\n`);
    return Exit.OK;
  },
  'incidents export': async (s, args, o) => {
    const id = needId(args, 'export');
    const bundle = await s.bus.callCommand(s.key, commandOp(incidentManifest, 'export'), { id });
    const out = o.out ?? `incident-${id}.bundle.json`;
    writeFileAtomic(out, `${JSON.stringify(bundle, null, 2)}\n`, 0o600);
    const audit = bundle.body['audit'] as { records?: unknown[]; truncatedAfter?: number; error?: string } | undefined;
    const records = (audit?.records ?? []).length;
    const partial = audit?.error ? `the audit records are incomplete: ${audit.error}` :
      audit?.truncatedAfter !== undefined ? `more audit records of the span are in the chain after seq ${audit.truncatedAfter} (a bundle carries at most 512 KiB of them)` : undefined;
    if (o.json) printJson({ ok: true, file: out, fingerprint: bundle.fingerprint, auditRecords: records, ...(partial && { partial }) });
    else process.stdout.write(`${out}: incident ${id} with ${records} audit records, signed by key ${bundle.fingerprint}\n${partial ? `note: ${partial}\n` : ''}verify offline: securectl incidents verify-bundle ${out}\n`);
    return Exit.OK;
  },
};

/**
 * `securectl incidents verify-bundle FILE [--key PUB]`: needs no appliance. Exit 0 the bundle verifies, 1 it was
 * changed (or signed by another key than the pinned one), 2 it cannot be read.
 */
export async function verifyBundleVerb(args: string[], o: { json: boolean; key?: string }): Promise<number> {
  try {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'incidents verify-bundle needs a bundle file');
    const pinned = o.key === undefined ? undefined : readFileSync(o.key, 'utf8');
    const v = verifyBundleFile(args[0], pinned);
    if (o.json) printJson(v);
    else process.stdout.write(v.ok ? `bundle OK: incident ${v.incident}, signed by key ${v.fingerprint}${pinned ? ' (pinned)' : ' (compare it with keys/incident.ed25519.pub, or pin it with --key)'}\n` : `bundle REFUSED: ${v.reason}\n`);
    return v.ok ? Exit.OK : Exit.FOUND;
  } catch (err) {
    printError(err, o.json);
    return Exit.ERROR;
  }
}

export const INCIDENTS_USAGE = `  incidents list [--state S] [-n N]   incidents, newest first (S: open, contained, escalated, acknowledged, resolved, unresolved)
  incidents show ID          one incident: containment steps, timeline, evidence
  incidents ack ID [--note TEXT]      acknowledge a contained or escalated incident (signed; your key id is recorded)
  incidents resolve ID [--note TEXT]  resolve an acknowledged incident (signed)
  incidents export ID [--out FILE]    a signed forensic bundle: the incident, its evidence, the related audit records
  incidents verify-bundle FILE [--key PUB]
                             check a bundle offline, no appliance needed (exit 0 valid, 1 tampered, 2 error)`;
