// securectl integrity status|diff|rebaseline: signed commands to the integrity monitor; a rebaseline quotes the diff it accepts.
import { commandOp } from '../bus/op-ref.js';
import { integrityManifest } from '../runtime/catalog.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { Exit, printJson, type CliSession } from './cli-common.js';

type Opts = { json: boolean; confirm?: boolean };
type IntegrityVerb = (s: CliSession, args: string[], o: Opts) => Promise<number>;

export const INTEGRITY_USAGE = `  integrity status           the integrity monitor's state and open findings (exit 0 trusted, 1 not)
  integrity diff             hash everything and list what differs from the signed baseline, with its digest
  integrity rebaseline --confirm DIGEST   accept exactly the diff with that digest as the new baseline`;

export const integrityVerbs: Record<string, IntegrityVerb> = {
  'integrity status': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(integrityManifest, 'status'), {});
    if (o.json) printJson(r);
    else {
      process.stdout.write(`integrity: ${r.state}, baseline generation ${r.generation} (${r.files} files)\n`);
      for (const f of r.findings) process.stdout.write(`  ${f.level.padEnd(17)} ${f.class.padEnd(20)} ${f.summary}\n`);
      for (const p of r.pending) process.stdout.write(`  pending until ${new Date(p.deadline).toISOString()}: ${p.path}\n`);
    }
    return r.state === 'trusted' ? Exit.OK : Exit.FOUND;
  },
  'integrity diff': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(integrityManifest, 'diff'), {}, 600_000);
    if (o.json) printJson(r);
    else {
      for (const c of r.changes) process.stdout.write(`${c.change.padEnd(8)} ${c.path}\n         old ${c.old ?? '-'}\n         new ${c.new ?? '-'}\n`);
      if (r.total > r.changes.length) process.stdout.write(`… and ${r.total - r.changes.length} more\n`);
      process.stdout.write(`${r.total} changes; accept them with: securectl integrity rebaseline --confirm ${r.digest}\n`);
    }
    return r.total === 0 ? Exit.OK : Exit.FOUND;
  },
  'integrity rebaseline': async (s, args, o) => {
    const digest = args[0];
    if (!o.confirm || !digest) throw new SecaiError(ErrorCode.USAGE, 'integrity rebaseline needs --confirm DIGEST (the digest securectl integrity diff printed)');
    const r = await s.bus.callCommand(s.key, commandOp(integrityManifest, 'rebaseline'), { confirm: digest }, 600_000);
    if (o.json) printJson(r);
    else process.stdout.write(`baseline generation ${r.generation}: ${r.accepted} changes accepted\n`);
    return Exit.OK;
  },
};
