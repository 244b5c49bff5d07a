// The quarantine actor's bus contract: imports, per-stage progress, final verdicts with evidence, and job reports.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const id = s.string({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const stageName = s.string({ enum: ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion', 'promote'] });
const verdict = s.string({ enum: ['pass', 'warn', 'fail', 'error'] });
const outcome = s.string({ enum: ['queued', 'scanning', 'promoted', 'rejected', 'held'] });
const report = s.object({
  id, name: s.string({ maxLength: 255 }), kind: s.string({ enum: ['file', 'folder'] }), origin: s.record(), size: s.integer({ minimum: 0 }),
  state: outcome, reason: s.string({ maxLength: 4096 }), results: s.array(s.record(), 16), entry: s.any(),
  queuedAt: s.string({ maxLength: 64 }), finishedAt: s.any(), location: s.any(),
});
const summary = s.object({ id, name: s.string({ maxLength: 255 }), state: outcome, reason: s.string({ maxLength: 4096 }), queuedAt: s.string({ maxLength: 64 }), sha256: s.any() });
const importRequest = s.object({ path: s.string({ minLength: 1, maxLength: 4096 }), url: s.string({ minLength: 1, maxLength: 2048 }) }, ['path', 'url']);
const importReply = s.object({ id, name: s.string({ maxLength: 255 }) });

export const quarantineManifest = defineManifest({
  name: 'quarantine',
  kind: 'actor',
  description: 'Scans every model dropped into quarantine/incoming or imported, stage by stage, and promotes it to the registry only if every required stage passes.',
  entry: 'actors/quarantine/main.js',
  serves: {
    list: { request: s.empty(), reply: s.object({ jobs: s.array(summary, 1000) }), description: 'Jobs (latest 1000) with their state.' },
    get: { request: s.object({ id }), reply: report, description: 'One job\'s full report (every stage result with evidence).' },
  },
  commands: {
    import: { request: importRequest, reply: importReply, description: 'Queue a local path (copied first) or a URL (via the airlock) for scanning.', roles: ['operator'] },
    list: { request: s.empty(), reply: s.object({ jobs: s.array(summary, 1000) }), description: 'Jobs with their state.', roles: ['operator', 'auditor'] },
    get: { request: s.object({ id }), reply: report, description: 'One job\'s full report.', roles: ['operator', 'auditor'] },
  },
  publishes: {
    /** Progress: one per stage start, percent steps of long stages, and each stage's verdict. */
    stage: s.object({ id, stage: stageName, verdict, percent: s.integer({ minimum: 0, maximum: 100 }), note: s.string({ maxLength: 1024 }) }, ['verdict']),
    /** The final verdict with every stage result: the evidence goes into the audit chain. */
    verdict: s.object({ id, name: s.string({ maxLength: 255 }), outcome: s.string({ enum: ['promoted', 'rejected', 'held'] }), reason: s.string({ maxLength: 4096 }), sha256: s.any(), results: s.array(s.record(), 16) }),
    job_queued: s.object({ id, name: s.string({ maxLength: 255 }), kind: s.string({ enum: ['file', 'folder'] }), size: s.integer({ minimum: 0 }), origin: s.record() }),
    /** Something in incoming/ was refused before a job started (symlink, special file, too large). */
    refused: s.object({ name: s.string({ maxLength: 255 }), reason: s.string({ maxLength: 1024 }) }),
  },
  // URL imports download through the airlock (the only egress path); redirects are re-checked by stage 1 rules.
  requests: ['registry.promote', 'airlock.fetch'],
  subscribes: [],
});
