// Import by path from the browser: the policy engine must allow reading the path (path_access) before anything is copied.
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ErrorCode, SecaiError } from '../../common/errors.js';

export interface PathDecision { decision: 'allow' | 'deny' | 'ask'; rule: string; reason?: string }

export interface PathImportDeps {
  /** `policy.decide` in the path_access domain (the policy actor; no answer means no import). */
  decide: (input: { path: string; access: 'read' }) => Promise<PathDecision>;
  /** Copies the decided real path into quarantine/work/<id>/ (following no link on it) and queues it; the original stays. */
  enqueue: (path: string) => Promise<{ id: string; name: string }>;
  /** Why a path was refused, for the owner's log: never part of the reply to the caller. */
  refused?: (detail: { path: string; why: string }) => void;
}

/**
 * The one answer to every refused path (missing, unreadable, a link, in a folder the appliance may not
 * list, or not allowed by policy): a caller that may read only what the policy allows must not learn
 * whether anything else exists, nor where a link leads.
 */
export const PATH_REFUSED = 'this path cannot be imported: it does not exist, cannot be read, is a symbolic link, or the policy (path_access) does not allow reading it';

/**
 * The gateway holds no operator key, so a browser import is not a signed command: the policy's
 * `paths` section decides what it may read, on the real path (links resolved first, as the tool
 * firewall does), and `ask` counts as no. The entry itself must not be a link (never followed), and the
 * copy follows no link anywhere on the decided path (ingest): a folder on it swapped for a link between the
 * decision and the copy is refused, not read.
 *
 * Not an oracle: every refusal after the format checks is PATH_REFUSED, and the work is the same
 * either way: one lstat and realpath, then always one policy decision (on the real path, or on the path
 * as given when it does not resolve), so a missing path is not answered faster than a denied one.
 */
export async function importByPath(deps: PathImportDeps, path: string): Promise<{ id: string; name: string }> {
  if (!isAbsolute(path) || path.includes('\0')) throw new SecaiError(ErrorCode.IMPORT_REFUSED, 'the import path must be absolute');
  let real: string | undefined;
  let why: string | undefined;
  try {
    if (lstatSync(path).isSymbolicLink()) why = 'the entry is a symbolic link (never followed)';
    else real = realpathSync(path);
  } catch (err) {
    why = `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  const decided = real ?? resolve(path);
  const d = await deps.decide({ path: decided, access: 'read' });
  if (why === undefined && d.decision !== 'allow') why = `policy path_access ${d.decision}: ${decided.slice(0, 512)} (rule ${d.rule}${d.reason ? `: ${d.reason}` : ''})`;
  if (why !== undefined || real === undefined) {
    deps.refused?.({ path: path.slice(0, 512), why: why ?? 'unresolved' });
    throw new SecaiError(ErrorCode.IMPORT_REFUSED, PATH_REFUSED);
  }
  return deps.enqueue(real);
}
