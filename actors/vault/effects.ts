// The vault machine's effects with real files and libsodium: create/open the vault, announce and carry out a panic.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromPromise } from 'xstate';
import type { vaultMachine, PanicRequest, VaultContext } from '../../machines/vault/vault.machine.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { consumeSetupCode } from '../../common/setup-code.js';
import { getSodium } from '../../common/sodium.js';
import type { HomePaths } from '../../common/paths.js';
import type { Logger } from '../../common/log.js';
import { RecordStore } from './record-store.js';
import { createVault, readVaultFile, unwrapDataKey, upgradeVaultFile, writeVaultFile, type Argon2Limits, type VaultFile } from './vault-crypto.js';
import { wipeAll, wipeKeys } from './wipe.js';

export interface VaultEffectsDeps {
  paths: HomePaths;
  log: Logger;
  emit(event: string, payload: unknown): Promise<void>;
  emitOrLog(event: string, payload: unknown): Promise<boolean>;
  /** Lock and panic records: queued in order and published when the bus/storage can take them (never waited on). */
  emitEssential(event: string, payload: unknown): void;
}

export const vaultFileOf = (paths: HomePaths): string => join(paths.vault, 'vault.json');

/** Proves a passphrase by unwrapping the data key with it, then zeroes the key: nothing changes state. */
export async function provePassphrase(paths: HomePaths, passphrase: string, noVault = 'no vault'): Promise<void> {
  const file = readVaultFile(vaultFileOf(paths));
  if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, noVault);
  (await getSodium()).memzero(await unwrapDataKey(file, passphrase));
}

/**
 * A vault from before the record index (vault.json version 1) gets one: the record files there now are indexed, then
 * vault.json is wrapped again as version 2. At the unlock, and before a passphrase change (which writes version 2).
 */
export async function upgradeVault(d: { paths: HomePaths; log: Logger }, records: RecordStore, file: VaultFile, dataKey: Uint8Array, passphrase: string): Promise<void> {
  if (file.version !== 1) return;
  const count = await records.adopt(dataKey);
  writeVaultFile(vaultFileOf(d.paths), await upgradeVaultFile(file, dataKey, passphrase));
  d.log.info({ records: count }, 'vault upgraded: its records are indexed against rollback');
}

/** The machine with its effects: everything that touches a disk, a key derivation or the bus. */
export function provideVault(machine: typeof vaultMachine, d: VaultEffectsDeps, records: RecordStore): typeof vaultMachine {
  const file = vaultFileOf(d.paths);
  return machine.provide({
    actors: {
      createVault: fromPromise(async ({ input }) => {
        if (readVaultFile(file)) throw new SecaiError(ErrorCode.INVALID_STATE, 'a vault already exists');
        mkdirSync(d.paths.vault, { recursive: true, mode: 0o700 });
        const made = await createVault(input.passphrase, input.argon2 as Argon2Limits);
        // The index first: a vault.json without its index would refuse every record as rolled back.
        await records.create(made.dataKey);
        writeVaultFile(file, made.file);
        // The first-run code dies with the first vault, whichever path created it (web form or signed command).
        consumeSetupCode(d.paths.run);
        await d.emit('initialized', { at: Date.now() });
        return made.dataKey;
      }),
      openVault: fromPromise(async ({ input }) => {
        const f = readVaultFile(file);
        if (!f) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault');
        const key = await unwrapDataKey(f, input.passphrase);
        try {
          await upgradeVault(d, records, f, key, input.passphrase);
        } catch (err) {
          key.fill(0);
          throw err;
        }
        return key;
      }),
      announcePanic: fromPromise(async ({ input }: { input: PanicRequest }) => {
        const at = Date.now();
        // Panic never waits on the audit trail (a full disk must not stop it): the record goes through the ordered outbox.
        if (input.level === 1) return d.emitEssential('panicked', { level: 1, by: input.by, at });
        const refuse = async (code: string, message: string): Promise<never> => {
          await d.emitOrLog('panic_refused', { level: input.level, code, by: input.by, at });
          throw new SecaiError(code, message);
        };
        if (input.confirm !== true) await refuse(ErrorCode.USAGE, `panic level ${input.level} destroys data: it needs confirm`);
        if (!input.passphrase) await refuse(ErrorCode.USAGE, `panic level ${input.level} needs the passphrase`);
        try {
          await provePassphrase(d.paths, input.passphrase!, 'no vault to destroy');
        } catch (err) {
          await refuse(toErrorData(err).code, toErrorData(err).message);
        }
        // Queued before anything is destroyed, in order with the rest; recorded at once normally, when storage returns otherwise.
        d.emitEssential('panicked', { level: input.level, by: input.by, at: Date.now() });
      }),
      wipe: fromPromise(async ({ input }) => {
        const removed = input.level === 2 ? wipeKeys(d.paths) : wipeAll(d.paths);
        d.emitEssential('wiped', { level: input.level, removed, at: Date.now() });
        d.log.warn({ level: input.level, removed }, 'panic wipe done');
        return { removed };
      }),
    },
    actions: {
      // libsodium's memzero on a JS array is this same overwrite; sodium need not be loaded to lock.
      zeroKey: ({ context }: { context: VaultContext }) => void context.dataKey?.fill(0),
      reportUnlocked: () => void d.emitOrLog('unlocked', { at: Date.now() }),
      reportUnlockFailed: ({ context }: { context: VaultContext }) =>
        void d.emitOrLog('unlock_failed', { code: context.lastError?.code ?? ErrorCode.WRONG_PASSPHRASE, at: Date.now() }),
      reportLocked: ({ context }: { context: VaultContext }) => d.emitEssential('locked', { reason: context.lockReason ?? 'requested', at: Date.now() }),
    },
  });
}
