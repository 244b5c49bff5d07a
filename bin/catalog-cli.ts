// securectl models catalog | pull <id> | catalog sign <secret-key-file> [catalog.yaml]: the signed model catalog.
import { secaiEnv } from '../common/env.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { getSodium } from '../common/sodium.js';
import { parseConfig } from '../policy/load.js';
import { signCatalog, SIGNATURE_SUFFIX } from '../policy/catalog.js';
import { projectRoot } from '../common/paths.js';
import { quarantineManifest } from '../actors/quarantine/manifest.js';
import { commandOp } from '../bus/op-ref.js';
import { secaiConfigDir } from '../common/paths.js';
import type { CatalogListing } from '../actors/quarantine/catalog-import.js';
import { Exit, printError, printJson, type CliSession } from './cli-common.js';

type Opts = { json: boolean };
/** Starts an import and waits for its verdict (models-cli's importAndWait): 0 promoted, 1 rejected/held. */
export type WatchImport = (s: CliSession, start: () => Promise<{ id: string; name: string }>, o: Opts, timeoutMs: number) => Promise<number>;

const human = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${n} B`);

export function catalogVerbs(watch: WatchImport): Record<string, (s: CliSession, args: string[], o: Opts) => Promise<number>> {
  return {
    'models catalog': async (s, args, o) => {
      if (args.length) throw new SecaiError(ErrorCode.USAGE, `models catalog takes no argument (did you mean: securectl models catalog sign KEYFILE, or models pull ${args[0]}?)`);
      const r = await s.bus.callCommand(s.key, commandOp(quarantineManifest, 'catalog'), {});
      if (o.json) printJson(r);
      else {
        process.stdout.write(`${r.publisher} — signed by ${r.signer.name} (${r.signer.keyId}), catalog ${r.digest.slice(0, 16)}\n`);
        for (const m of r.models) {
          process.stdout.write(`${m.id.padEnd(30)} ${human(m.sizeBytes).padStart(10)}  ${m.license.padEnd(12)} ${m.pinVerified ? 'pin verified  ' : 'pin UNVERIFIED'}  ${m.name}\n`);
          process.stdout.write(`${''.padEnd(30)} ${m.sourceUrl}\n${''.padEnd(30)} sha256 ${m.sha256}\n`);
        }
      }
      return Exit.OK;
    },
    'models pull': async (s, args, o) => {
      if (!args[0]) throw new SecaiError(ErrorCode.USAGE, 'models pull needs a catalog id (securectl models catalog lists them)');
      const id = args[0];
      return watch(s, () => s.bus.callCommand(s.key, commandOp(quarantineManifest, 'import_catalog'), { id }, 600_000), o,
        secaiEnv().importTimeoutMs ?? 7 * 60 * 60_000);
      return watch(s, () => s.bus.command<{ id: string; name: string }>(s.key, 'quarantine', 'import_catalog', { id }, 600_000), o,
        secaiEnv().importTimeoutMs ?? 7 * 60 * 60_000);
    },
  };
}

/**
 * `securectl models catalog sign SECRET_KEY_FILE [CATALOG]`, offline: validates the catalog against its schema, then
 * writes CATALOG.sig (Ed25519 over the exact bytes). The key file holds the 64-byte libsodium secret key in base64
 * and must be readable by its owner alone. The catalog defaults to $SECAI_CONFIG/catalog.yaml (policy/ in a checkout).
 */
export async function catalogSign(args: string[], o: Opts): Promise<number> {
  try {
    const [keyFile, target] = args;
    if (!keyFile) throw new SecaiError(ErrorCode.USAGE, 'models catalog sign needs the publisher\'s secret key file');
    if (!existsSync(keyFile)) throw new SecaiError(ErrorCode.USAGE, `${keyFile}: no such file`);
    if ((statSync(keyFile).mode & 0o077) !== 0) throw new SecaiError(ErrorCode.PERMISSION, `${keyFile} is readable by others (mode ${(statSync(keyFile).mode & 0o777).toString(8)}): chmod 600 it first`);
    const file = target ?? join(secaiConfigDir(), 'catalog.yaml');
    if (!existsSync(file)) throw new SecaiError(ErrorCode.USAGE, `${file}: no such file`);
    const bytes = readFileSync(file);
    // A publisher must not sign what every appliance would refuse: the schema first (the allowlist is each appliance's own).
    try {
      parseConfig(new TextDecoder('utf-8', { fatal: true }).decode(bytes), 'catalog.schema.json', file);
    } catch (err) {
      throw new SecaiError(ErrorCode.CATALOG_INVALID, `not signed: ${(err as Error).message}`);
    }
    const { text, keyId } = await signCatalog(bytes, readFileSync(keyFile, 'utf8').trim());
    writeFileAtomic(file + SIGNATURE_SUFFIX, text, 0o644);
    const sodium = await getSodium();
    const publicKey = Buffer.from(sodium.crypto_sign_ed25519_sk_to_pk(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64'))).toString('base64');
    if (o.json) printJson({ ok: true, file, signature: file + SIGNATURE_SUFFIX, keyId, publicKey });
    else process.stdout.write(`signed ${file} with key ${keyId} (public key ${publicKey}) → ${file}${SIGNATURE_SUFFIX}\n`);
    return Exit.OK;
  } catch (err) {
    printError(err, o.json);
    return Exit.ERROR;
  }
}

export const CATALOG_USAGE = `  models catalog             the signed model catalog: id, size, license, source URL, SHA-256 pin
  models pull <id>           download a catalog entry through the airlock into quarantine, held to its pin (exit 0 promoted, 1 rejected, 2 error)
  models catalog sign KEYFILE [CATALOG]   (offline) sign catalog.yaml with a publisher's secret key (writes CATALOG.sig)`;
