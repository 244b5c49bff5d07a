// securectl models import|list|verify|rm|report|jobs (and catalog|pull, catalog-cli.ts): the quarantine and the registry from the terminal.
import { commandOp } from '../bus/op-ref.js';
import { registryManifest } from '../actors/registry/manifest.js';
import { secaiEnv } from '../common/env.js';
import { resolve } from 'node:path';
import { decode } from '../bus/codec.js';
import { check } from '../bus/schema.js';
import { eventSubject } from '../bus/subjects.js';
import { quarantineManifest } from '../actors/quarantine/manifest.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, printJson, type CliSession } from './cli-common.js';
import { CATALOG_USAGE, catalogVerbs } from './catalog-cli.js';

type Opts = { json: boolean };
type ModelVerb = (s: CliSession, args: string[], o: Opts) => Promise<number>;

interface StageEvent { id: string; stage: string; verdict?: string; percent: number; note: string }
interface VerdictEvent { id: string; name: string; outcome: 'promoted' | 'rejected' | 'held'; reason: string; sha256: string | null; results: { stage: string; verdict: string; reason: string }[] }
interface Entry { name: string; sha256: string; size: number; format: string; kind: string; promotedAt: string; merkleRoot: string | null }

const STAGE_ORDER = ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion', 'promote'];

function bar(ev: StageEvent): string {
  const idx = Math.max(0, STAGE_ORDER.indexOf(ev.stage));
  const overall = Math.min(100, Math.floor(((idx + ev.percent / 100) / STAGE_ORDER.length) * 100));
  const filled = Math.round(overall / 5);
  return `[${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${String(overall).padStart(3)}%  ${ev.stage}${ev.verdict ? `: ${ev.verdict}` : ` ${ev.percent}%`}`;
}

const human = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

const URL_TARGET = /^[a-z][a-z0-9+.-]*:/i;

/** Waits for the job's verdict from the quarantine's events (subscribed before the import, so none is missed). */
function importAndWait(s: CliSession, target: string, o: Opts, timeoutMs: number): Promise<number> {
  const isUrl = URL_TARGET.test(target);
  return watchImport(s, () => s.bus.callCommand(s.key, commandOp(quarantineManifest, 'import'), isUrl ? { url: target } : { path: resolve(target) }, quarantineManifest.commands.import.timeoutMs), o, timeoutMs);
}

/** Starts an import with `start` and follows its job to the verdict: 0 promoted, 1 rejected or held. */
async function watchImport(s: CliSession, start: () => Promise<{ id: string; name: string }>, o: Opts, timeoutMs: number): Promise<number> {
  const events: (StageEvent | VerdictEvent)[] = [];
  let wake: (() => void) | undefined;
  // Only events that match the quarantine's declared schemas count (the ACL lets only it publish them).
  const subs = (['stage', 'verdict'] as const).map((e) => s.bus.nc.subscribe(eventSubject('quarantine', e), {
    callback: (err, m) => {
      if (err) return;
      try {
        events.push(check<StageEvent | VerdictEvent>(quarantineManifest.publishes[e], decode(m.data, 1 << 20), `quarantine.${e}`));
        wake?.();
      } catch { /* lint-ok: a malformed event decides nothing */ }
    },
  }));
  await s.bus.nc.flush();
  try {
    const job = await start();
    if (!o.json) process.stderr.write(`quarantine job ${job.id}: ${job.name}\n`);
    const tty = process.stderr.isTTY;
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    let lastStage = '';
    for (;;) {
      while (seen < events.length) {
        const ev = events[seen++]!;
        if (ev.id !== job.id) continue;
        if ('outcome' in ev) {
          if (tty && !o.json) process.stderr.write('\n');
          return report(ev, o);
        }
        // On a terminal the bar redraws in place; in a log, one line per stage start and per stage verdict.
        if (!o.json && tty) process.stderr.write(`\r${bar(ev).padEnd(70)}`);
        else if (!o.json && (ev.verdict || ev.stage !== lastStage)) process.stderr.write(`${bar(ev)}${ev.verdict ? `  ${ev.note}` : ''}\n`);
        lastStage = ev.stage;
      }
      // The appliance went away: no verdict will come.
      if (s.bus.nc.isClosed()) throw new SecaiError(ErrorCode.NOT_RUNNING, `the connection to the appliance closed before the verdict for ${job.id}`);
      if (Date.now() > deadline) throw new SecaiError(ErrorCode.TIMEOUT, `no verdict for ${job.id} within ${timeoutMs / 1000} s (it may still be scanning: securectl models report ${job.id})`);
      await new Promise<void>((res) => { wake = res; setTimeout(res, 1000); });
    }
  } finally {
    for (const sub of subs) sub.unsubscribe();
  }
}

function report(v: VerdictEvent, o: Opts): number {
  if (o.json) printJson(v);
  else {
    process.stdout.write(`${v.name}: ${v.outcome.toUpperCase()} — ${v.reason}\n`);
    for (const r of v.results) process.stdout.write(`  ${r.stage.padEnd(12)} ${r.verdict.padEnd(5)} ${r.reason}\n`);
    if (v.sha256) process.stdout.write(`  sha256 ${v.sha256}\n`);
  }
  return v.outcome === 'promoted' ? Exit.OK : Exit.FOUND;
}

export const modelVerbs: Record<string, ModelVerb> = {
  ...catalogVerbs(watchImport),
  'models import': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models import needs a path or an https URL');
    // A URL import's verdict waits for its download too (the quarantine's limit is 6 h by default).
    const isUrl = URL_TARGET.test(args[0]);
    return importAndWait(s, args[0], o, secaiEnv().importTimeoutMs ?? (isUrl ? 7 : 1) * 60 * 60_000);
  },
  'models list': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(registryManifest, 'list'), {});
    if (o.json) printJson(r);
    else if (!r.models.length) process.stdout.write('no promoted models\n');
    else for (const m of r.models) process.stdout.write(`${m.name.padEnd(32)} ${m.format.padEnd(12)} ${human(m.size).padStart(10)}  ${m.sha256.slice(0, 16)}  ${m.promotedAt}${m.suspended ? `  SUSPENDED by ${m.suspended.by}` : ''}\n`);
    return Exit.OK;
  },
  'models verify': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(registryManifest, 'verify'), args[0] ? { name: args[0] } : {}, 600_000);
    if (o.json) printJson(r);
    else for (const x of r.results) process.stdout.write(`${x.name}: ${x.ok ? 'OK' : 'FAILED'} — ${x.reason}\n`);
    return r.results.every((x) => x.ok) ? Exit.OK : Exit.FOUND;
  },
  'models rm': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models rm needs a model name');
    const r = await s.bus.callCommand(s.key, commandOp(registryManifest, 'rm'), { name: args[0] });
    if (o.json) printJson(r);
    else process.stdout.write(`removed ${r.name} (${r.sha256.slice(0, 16)})\n`);
    return Exit.OK;
  },
  'models unsuspend': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models unsuspend needs a model name or SHA-256');
    const r = await s.bus.callCommand(s.key, commandOp(registryManifest, 'unsuspend'), { model: args[0] });
    if (o.json) printJson(r);
    else process.stdout.write(`unsuspended ${r.names.join(', ') || r.sha256.slice(0, 16)} (suspended by ${r.wasSuspendedBy.by}: ${r.wasSuspendedBy.reason})\n`);
    return Exit.OK;
  },
  'models report': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models report needs a job id');
    const r = await s.bus.callCommand(s.key, commandOp(quarantineManifest, 'get'), { id: args[0] });
    if (o.json) printJson(r);
    else {
      process.stdout.write(`${r.name}: ${r.state} — ${r.reason}\n`);
      // Stage results are free-form records in the schema (evidence differs per stage): print what is there.
      for (const x of r.results) process.stdout.write(`  ${String(x['stage']).padEnd(12)} ${String(x['verdict']).padEnd(5)} ${String(x['reason'])}\n`);
    }
    return r.state === 'promoted' ? Exit.OK : Exit.FOUND;
  },
  'models cancel': async (s, args, o) => {
    if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models cancel needs a job id');
    const r = await s.bus.callCommand(s.key, commandOp(quarantineManifest, 'cancel'), { id: args[0] });
    if (o.json) printJson(r);
    else process.stdout.write(`cancelled the download of job ${args[0]}\n`);
    return Exit.OK;
  },
  'models purge': async (s, args, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(quarantineManifest, 'purge'), args[0] ? { id: args[0] } : {}, 120_000);
    if (o.json) printJson(r);
    else process.stdout.write(`dropped ${r.purged.length} rejected payload(s), ${human(r.freedBytes)} freed; their reports stay (securectl models report <id>)\n`);
    return Exit.OK;
  },
  'models jobs': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(quarantineManifest, 'list'), {});
    if (o.json) printJson(r);
    else for (const j of r.jobs) process.stdout.write(`${j.id}  ${j.state.padEnd(9)} ${j.name}  ${j.reason.slice(0, 100)}\n`);
    return Exit.OK;
  },
};

export const MODEL_USAGE = `  models import <path|url>   scan a model in quarantine, with a progress bar (exit 0 promoted, 1 rejected/held, 2 error)
  models list                promoted models (signed registry manifest)
  models verify [name]       re-hash promoted models against the signed manifest (exit 0 ok, 1 mismatch)
  models rm <name>           remove a model from the registry
  models unsuspend <name|sha256>  clear an incident's suspension of a model (admin, operator)
  models report <id>         a quarantine job's report (every stage with its evidence)
  models jobs                quarantine jobs and their state
  models cancel <id>         cancel a URL import still downloading (the job ends rejected)
  models purge [id]          drop the payload of one rejected artifact, or of all; reports and hashes stay
${CATALOG_USAGE}`;
