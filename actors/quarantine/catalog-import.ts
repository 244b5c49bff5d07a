// The signed model catalog in the quarantine: `catalog` lists its entries, `import_catalog` starts a URL import
// of one entry through the airlock with the entry's SHA-256 pin attached, which stage 3 then holds the file to.
import { CATALOG_SIGNERS } from '../../policy/catalog-signers.js';
import { catalogEntry, loadCatalog, type CatalogEntry, type CatalogOptions, type LoadedCatalog } from '../../policy/catalog.js';
import type { CatalogPin } from '../../machines/quarantine/quarantine.machine.js';
import type { QuarantinePolicy } from './policy.js';
import { checkSource } from './stages/source.js';

/** One entry as the bus carries it (camelCase like every other reply). */
export interface CatalogItem {
  id: string; name: string; family: string; format: string; sizeBytes: number; license: string;
  sourceUrl: string; sha256: string; pinVerified: boolean; pinSource: string; tags: string[]; description?: string;
}

export interface CatalogListing {
  publisher: string;
  signer: { name: string; keyId: string };
  /** SHA-256 of catalog.yaml: the catalog version each import records. */
  digest: string;
  models: CatalogItem[];
}

/** Trusted publishers: the built-in ones and policy's `quarantine.catalog_signers`; source URLs judged by stage 1's own rule. */
export function catalogOptions(policy: Pick<QuarantinePolicy, 'catalogSigners' | 'source'>): CatalogOptions {
  return {
    signers: [...CATALOG_SIGNERS, ...policy.catalogSigners],
    checkSource: (url) => {
      const d = checkSource(url, policy.source.allowlist);
      return d.allowed ? null : d.reason;
    },
  };
}

const item = (e: CatalogEntry): CatalogItem => ({
  id: e.id, name: e.name, family: e.family, format: e.format, sizeBytes: e.size_bytes, license: e.license,
  sourceUrl: e.source_url, sha256: e.sha256, pinVerified: e.pin_verified, pinSource: e.pin_source, tags: [...e.tags],
  ...(e.description !== undefined && { description: e.description }),
});

export interface CatalogDeps {
  configDir: string;
  policy: () => Pick<QuarantinePolicy, 'catalogSigners' | 'source'>;
  /** The quarantine's URL import, given the entry's pin to carry into the job (stage 3 checks it). */
  importUrl: (url: string, pin: CatalogPin) => Promise<{ id: string; name: string }>;
}

/**
 * Read on every call (a few KiB and one signature check): a catalog re-signed by the publisher applies
 * without a restart, and a tampered one is refused from the next call on, never served from memory.
 */
async function current(d: CatalogDeps): Promise<LoadedCatalog> {
  return loadCatalog(d.configDir, catalogOptions(d.policy()));
}

export function catalogOps(d: CatalogDeps) {
  return {
    catalog: async (): Promise<CatalogListing> => {
      const c = await current(d);
      return { publisher: c.catalog.publisher, signer: { ...c.signer }, digest: c.digest, models: c.catalog.models.map(item) };
    },
    import_catalog: async (req: { id: string }): Promise<{ id: string; name: string; catalogId: string }> => {
      const c = await current(d);
      const e = catalogEntry(c, req.id);
      const job = await d.importUrl(e.source_url, { id: e.id, sha256: e.sha256, catalogDigest: c.digest });
      return { ...job, catalogId: e.id };
    },
  };
}
