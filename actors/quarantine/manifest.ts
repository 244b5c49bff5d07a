// The quarantine actor's bus contract: imports, per-stage progress, final verdicts with evidence, and job reports.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';
import { UPLOAD_CHUNK_BYTES, UPLOAD_ID_PATTERN, UPLOAD_NAME_PATTERN } from '../../contracts/quarantine-upload.js';


const id = s.string({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const stageName = s.string({ enum: ['source', 'format', 'integrity', 'provenance', 'static_scan', 'behavioral', 'diffusion', 'promote'] });
const verdict = s.string({ enum: ['pass', 'warn', 'fail', 'error'] });
const outcome = s.string({ enum: ['downloading', 'queued', 'scanning', 'promoted', 'rejected', 'held'] });
const report = s.object({
  id, name: s.string({ maxLength: 255 }), kind: s.string({ enum: ['file', 'folder'] }), origin: s.record(), size: s.integer({ minimum: 0 }),
  state: outcome, reason: s.string({ maxLength: 4096 }), results: s.array(s.record(), 16), entry: s.any(),
  queuedAt: s.string({ maxLength: 64 }), finishedAt: s.any(), location: s.any(),
  purged: s.object({ at: s.string({ maxLength: 64 }), bytes: s.integer({ minimum: 0 }), by: s.string({ maxLength: 256 }) }),
}, ['purged']);
const purgeReply = s.object({ purged: s.array(s.object({ id, bytes: s.integer({ minimum: 0 }) }), 100_000), freedBytes: s.integer({ minimum: 0 }) });
const summary = s.object({ id, name: s.string({ maxLength: 255 }), state: outcome, reason: s.string({ maxLength: 4096 }), queuedAt: s.string({ maxLength: 64 }), sha256: s.any() });
const importRequest = s.object({ path: s.string({ minLength: 1, maxLength: 4096 }), url: s.string({ minLength: 1, maxLength: 2048 }) }, ['path', 'url']);
const importReply = s.object({ id, name: s.string({ maxLength: 255 }) });
const cancelReply = s.object({ cancelled: s.boolean() });
const uploadId = s.string({ minLength: 32, maxLength: 32, pattern: UPLOAD_ID_PATTERN });
const source = s.object({
  host: s.string({ maxLength: 253 }), subdomains: s.boolean(), pathPrefix: s.string({ maxLength: 512 }), redirectOnly: s.boolean(),
  label: s.string({ maxLength: 1024 }), note: s.string({ maxLength: 1024 }),
}, ['note', 'pathPrefix', 'redirectOnly']);

const catalogId = s.string({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' });
const catalogItem = s.object({
  id: catalogId, name: s.string({ maxLength: 128 }), family: s.string({ maxLength: 64 }), format: s.string({ maxLength: 16 }),
  sizeBytes: s.integer({ minimum: 1 }), license: s.string({ maxLength: 64 }), sourceUrl: s.string({ maxLength: 2048 }),
  sha256: s.string({ minLength: 64, maxLength: 64, pattern: '^[0-9a-f]{64}$' }), pinVerified: s.boolean(), pinSource: s.string({ maxLength: 512 }),
  tags: s.array(s.string({ maxLength: 32 }), 16), description: s.string({ maxLength: 1024 }),
}, ['description']);
const catalogReply = s.object({
  publisher: s.string({ maxLength: 128 }), signer: s.object({ name: s.string({ maxLength: 64 }), keyId: s.string({ maxLength: 16 }) }),
  digest: s.string({ maxLength: 64 }), models: s.array(catalogItem, 256),
});
const catalogImportReply = s.object({ id, name: s.string({ maxLength: 255 }), catalogId });

export const quarantineManifest = defineManifest({
  name: 'quarantine',
  kind: 'actor',
  description: 'Scans every model dropped into quarantine/incoming or imported, stage by stage, and promotes it to the registry only if every required stage passes.',
  entry: 'actors/quarantine/main.js',
  serves: {
    list: { request: s.empty(), reply: s.object({ jobs: s.array(summary, 1000) }), description: 'Jobs (latest 1000) with their state.' },
    get: { request: s.object({ id }), reply: report, description: 'One job\'s full report (every stage result with evidence).' },
    // The web UI's imports (only the gateway requests these; see docs/quarantine.md). An upload is bound to the identity that began it.
    upload_begin: {
      request: s.object({ name: s.string({ minLength: 1, maxLength: 128, pattern: UPLOAD_NAME_PATTERN }), size: s.integer({ minimum: 1 }) }),
      reply: s.object({ uploadId }), description: 'Starts a browser upload of one model file of the declared size (policy max_file_bytes).',
    },
    upload_chunk: {
      request: s.object({ uploadId, offset: s.integer({ minimum: 0 }), data: s.bytes(UPLOAD_CHUNK_BYTES, 1) }),
      reply: s.object({ received: s.integer({ minimum: 0 }) }), maxBytes: UPLOAD_CHUNK_BYTES + 4096,
      description: 'The next bytes of an upload, in order (offset = bytes received so far); a wrong chunk discards the upload.',
    },
    upload_end: { request: s.object({ uploadId }), reply: importReply, timeoutMs: 600_000, description: 'All declared bytes arrived: queue the file for scanning (origin upload).' },
    upload_abort: { request: s.object({ uploadId }), reply: s.object({ aborted: s.boolean() }), description: 'Discards an upload in progress.' },
    import_path: {
      request: s.object({ path: s.string({ minLength: 1, maxLength: 4096 }) }), reply: importReply, timeoutMs: 600_000,
      description: 'Queue a local path (copied first) if policy path_access allows reading it.',
    },
    // Concurrent: starting one download (up to 4 redirect hops) must not wait behind another's start.
    import_url: {
      request: s.object({ url: s.string({ minLength: 1, maxLength: 2048 }) }), reply: importReply, timeoutMs: 600_000, concurrent: true,
      description: 'Start a URL import: source-checked, started through the airlock (fails closed when it is off); replies once the server answered, then the job downloads in the background (state downloading).',
    },
    cancel: { request: s.object({ id }), reply: cancelReply, description: 'Cancel a URL import still downloading (its job ends rejected, the partial file removed).' },
    // The signed model catalog (catalog.yaml + .sig; docs/catalog.md): refused whole (SECAI_E_CATALOG_INVALID) unless a trusted publisher signed it.
    catalog: { request: s.empty(), reply: catalogReply, description: 'The verified model catalog: each entry with its source URL, license, size and SHA-256 pin.' },
    import_catalog: {
      request: s.object({ id: catalogId }), reply: catalogImportReply, timeoutMs: 600_000, concurrent: true,
      description: 'Start a URL import of one catalog entry (as import_url) carrying its SHA-256 pin: stage 3 rejects a file that does not match it.',
    },
    // The upload limit travels with the catalog so that the browser can refuse a file over it before sending a byte.
    sources: {
      request: s.empty(),
      reply: s.object({ sources: s.array(source, 1024), ipLiterals: s.array(s.string({ maxLength: 64 }), 1024), maxFileBytes: s.integer({ minimum: 1 }) }),
      description: 'The allowlisted model sources in force (sources.allowlist.yaml), for the catalog, and the largest file accepted (policy max_file_bytes).',
    },
  },
  commands: {
    import: { request: importRequest, reply: importReply, description: 'Queue a local path (copied first) or start a URL import (via the airlock; the job downloads in the background) for scanning.', roles: ['operator'], timeoutMs: 600_000 },
    cancel: { request: s.object({ id }), reply: cancelReply, description: 'Cancel a URL import still downloading (securectl models cancel).', roles: ['operator'] },
    list: { request: s.empty(), reply: s.object({ jobs: s.array(summary, 1000) }), description: 'Jobs with their state.', roles: ['operator', 'auditor'] },
    catalog: { request: s.empty(), reply: catalogReply, description: 'The verified model catalog (securectl models catalog).', roles: ['operator', 'auditor'] },
    import_catalog: {
      request: s.object({ id: catalogId }), reply: catalogImportReply, roles: ['operator'], timeoutMs: 600_000,
      description: 'Download one catalog entry through the airlock into quarantine, held to its SHA-256 pin (securectl models pull ID).',
    },
    get: { request: s.object({ id }), reply: report, description: 'One job\'s full report.', roles: ['operator', 'auditor'] },
    purge: {
      request: s.object({ id }, ['id']), reply: purgeReply, roles: ['operator'],
      description: 'Drop the payload of one rejected artifact, or of all (securectl models purge [id]); reports and hashes stay.',
    },
  },
  publishes: {
    /** Progress: one per stage start, percent steps of long stages, and each stage's verdict. */
    stage: s.object({ id, stage: stageName, verdict, percent: s.integer({ minimum: 0, maximum: 100 }), note: s.string({ maxLength: 1024 }) }, ['verdict']),
    /** The final verdict with every stage result: the evidence goes into the audit chain. */
    verdict: s.object({ id, name: s.string({ maxLength: 255 }), outcome: s.string({ enum: ['promoted', 'rejected', 'held'] }), reason: s.string({ maxLength: 4096 }), sha256: s.any(), results: s.array(s.record(), 16) }),
    /** Rejected payloads dropped (retention policy or the operator); their reports stay. */
    purged: s.object({ ids: s.array(id, 100_000), freedBytes: s.integer({ minimum: 0 }), by: s.string({ maxLength: 256 }) }),
    job_queued: s.object({ id, name: s.string({ maxLength: 255 }), kind: s.string({ enum: ['file', 'folder'] }), size: s.integer({ minimum: 0 }), origin: s.record() }),
    /** Something in incoming/ was refused before a job started (symlink, special file, too large). */
    refused: s.object({ name: s.string({ maxLength: 255 }), reason: s.string({ maxLength: 1024 }) }),
  },
  // URL imports stream through the airlock (the only egress path); redirects are re-checked by stage 1 rules.
  // A browser import by path asks the policy engine (path_access) first.
  requests: ['registry.promote', 'airlock.download', 'airlock.download_next', 'airlock.download_cancel', 'policy.decide', 'policy.section'],
  // Its policy.yaml section(s), at start and after each reload that changes them (runtime/config-section.ts).
  subscribes: ['policy.reloaded'],
});
