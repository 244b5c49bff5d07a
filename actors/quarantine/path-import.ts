// Import by path from the browser: the policy engine must allow reading the path (path_access) before anything is copied.
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface PathDecision { decision: 'allow' | 'deny' | 'ask'; rule: string; reason?: string }

export interface PathImportDeps {
  /** `policy.decide` in the path_access domain (the policy actor; no answer means no import). */
  decide: (input: { path: string; access: 'read' }) => Promise<PathDecision>;
  /** Copies the decided real path into quarantine/work/<id>/ (following no link on it) and queues it; the original stays. */
  enqueue: (path: string) => Promise<{ id: string; name: string }>;
}

/**
 * The gateway holds no operator key, so a browser import is not a signed command: the policy's
 * `paths` section decides what it may read, on the real path (links resolved first, as the tool
 * firewall does), and `ask` counts as no. The entry itself must not be a link (never followed), and the
 * copy follows no link anywhere on the decided path (ingest): a folder on it swapped for a link between the
 * decision and the copy is refused, not read.
 */
export async function importByPath(deps: PathImportDeps, path: string): Promise<{ id: string; name: string }> {
  if (!isAbsolute(path) || path.includes('\0')) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'the import path must be absolute');
  let real: string;
  try {
    if (lstatSync(path).isSymbolicLink()) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'the import path is a symbolic link: links are never followed');
    real = realpathSync(path);
  } catch (err) {
    if (err instanceof SecaiError) throw err;
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, `${path.slice(0, 512)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const d = await deps.decide({ path: real, access: 'read' });
  if (d.decision !== 'allow') {
    throw new SecaiError(ErrorCode.POLICY_DENIED, `policy does not allow reading ${real.slice(0, 512)} (path_access, rule ${d.rule}${d.reason ? `: ${d.reason}` : ''})`);
  }
  return deps.enqueue(real);
}
