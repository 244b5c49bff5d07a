// Vault actor process: wiring. The key, tickets and lifecycle live in machines/vault; effects in effects.ts; ops become machine events.
import { randomBytes } from 'node:crypto';
import type { HomePaths } from '../../common/paths.js';
import { vaultMachine, type BoxKeys } from '../../machines/vault/vault.machine.js';
import type { CallContext } from '../../bus/service.js';
import { getSodium } from '../../common/sodium.js';
import { assertStorageRoom } from '../../common/storage.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { ask } from '../../runtime/ask.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { attestationGate, type AttestationGate } from '../../runtime/attestation-gate.js';
import { vaultManifest } from './manifest.js';
import { configSection, readSection } from '../../runtime/config-section.js';
import { secaiEnv } from '../../common/env.js';
import type { VaultSection } from '../../policy/sections.js';
import { readVaultFile, rewrapDataKey, unwrapDataKey, writeVaultFile, type Argon2Limits } from './vault-crypto.js';
import { RecordStore } from './record-store.js';
import { provePassphrase, provideVault, upgradeVault, vaultFileOf } from './effects.js';

type Ctx = ActorContext<typeof vaultMachine>;
/** A key derivation (Argon2id MODERATE) takes about a second; a slow box gets a minute. */
const KDF_MS = 60_000;

/** policy.yaml `vault` as the machine holds it: the idle limit (SECAI_VAULT_IDLE_MS overrides it) and the Argon2id limits. */
const vaultConfig = (v: VaultSection) => ({ idleMs: secaiEnv().vaultIdleMs ?? v.idle_lock_minutes * 60_000, argon2: v.argon2 });

/** The data key, from the machine: present only in `unlocked`. */
function requireKey(ctx: Ctx): Uint8Array {
  const snap = ctx.actor.getSnapshot();
  if (snap.matches('unlocked') && snap.context.dataKey) return snap.context.dataKey;
  if (!snap.context.initialized) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault: run first-time setup');
  throw new SecaiError(ErrorCode.VAULT_LOCKED, 'the vault is locked');
}

/** The sealing key pair, made on first use (not at start: loading libsodium would slow every appliance start). */
async function boxOf(ctx: Ctx): Promise<BoxKeys> {
  const have = ctx.actor.getSnapshot().context.box;
  if (have) return have;
  ctx.actor.send({ type: 'vault.box', keys: (await getSodium()).crypto_box_keypair() });
  return ctx.actor.getSnapshot().context.box!;
}

async function unseal(ctx: Ctx, sealed: Uint8Array): Promise<string> {
  const sodium = await getSodium();
  const box = await boxOf(ctx);
  try {
    return sodium.to_string(sodium.crypto_box_seal_open(sealed, box.publicKey, box.privateKey));
  } catch {
    throw new SecaiError(ErrorCode.WRONG_PASSPHRASE, 'the sealed passphrase does not open (sealed for an earlier vault process?)');
  }
}

function status(ctx: Ctx, box?: BoxKeys) {
  const snap = ctx.actor.getSnapshot();
  const c = snap.context;
  return { state: String(snap.value), initialized: c.initialized, lockReason: c.lockReason, idleMs: c.idleMs, ...(box && { boxPublicKey: box.publicKey }) };
}

async function unlock(ctx: Ctx, gate: AttestationGate, passphrase: string) {
  if (ctx.actor.getSnapshot().matches('unlocked')) {
    // Already open: still prove the passphrase (login uses this), then keep alive.
    await provePassphrase(ctx.paths, passphrase).catch(async (err: unknown) => {
      await ctx.emit('unlock_failed', { code: toErrorData(err).code, at: Date.now() });
      throw err;
    });
    ctx.actor.send({ type: 'vault.keepalive' });
    return { ok: true };
  }
  // The data key is released only into an attested runtime (docs/attestation.md); a refusal is recorded like a wrong guess.
  await gate.require('vault unlock').catch(async (err: unknown) => {
    await ctx.emitOrLog('unlock_failed', { code: toErrorData(err).code, at: Date.now() });
    throw err;
  });
  return ask<{ ok: true }>(ctx.actor, { type: 'vault.unlock', passphrase }, KDF_MS);
}

const panic = (ctx: Ctx, req: { level: number; passphrase?: string | undefined; confirm?: boolean | undefined }, by: string) =>
  ask<{ level: number; removed: string[] }>(ctx.actor, {
    type: 'vault.panic', level: req.level, by,
    ...(req.passphrase !== undefined && { passphrase: req.passphrase }), ...(req.confirm !== undefined && { confirm: req.confirm }),
  }, KDF_MS);

/** put/delete stage a write in the machine; only the reply inbox's identity (call.caller) can commit it. */
const stage = (ctx: Ctx, call: CallContext, ticket: { op: 'put' | 'delete'; key: string; value?: Uint8Array }) =>
  ask<{ ticket: string }>(ctx.actor, { type: 'vault.stage', id: randomBytes(16).toString('hex'), now: Date.now(), ticket: { ns: call.caller, ...ticket } });

main(((): Parameters<typeof main<typeof vaultMachine, typeof vaultManifest>>[0] => {
  // One record store in this process, made with the first context: its index is written by one write at a time.
  let store: RecordStore | undefined;
  const recordsOf = (ctx: { paths: HomePaths }) => (store ??= new RecordStore(ctx.paths.vault));
  return {
    manifest: vaultManifest,
    machine: (ctx) => provideVault(vaultMachine, ctx, recordsOf(ctx)),
    input: async (ctx) => {
      // The section in force at start; `start` then follows reloads (policy actor, runtime/config-section.ts).
      return { initialized: readVaultFile(vaultFileOf(ctx.paths)) !== undefined, ...vaultConfig(await readSection(ctx, 'vault')) };
    },
    // Strict: the key, the tickets, the sealing pair and request ids never leave the process.
    publicContext: (c) => ({ initialized: c.initialized, lockReason: c.lockReason, idleMs: c.idleMs }),
    ops: (ctx, gate = attestationGate(ctx.bus, ctx.log)) => ({
      status: () => status(ctx),
      setup: async (req: { passphrase: string }) => {
        await gate.require('vault setup');
        return ask(ctx.actor, { type: 'vault.setup', passphrase: req.passphrase }, KDF_MS);
      },
      unlock: (req: { passphrase: string }) => unlock(ctx, gate, req.passphrase),
      verify_passphrase: async (req: { passphrase: string }) => {
        await provePassphrase(ctx.paths, req.passphrase);
        return { ok: true };
      },
      lock: () => ask(ctx.actor, { type: 'vault.lock', reason: 'requested' }),
      keepalive: () => {
        ctx.actor.send({ type: 'vault.keepalive' });
        return { ok: true };
      },
      change_passphrase: async (req: { old: string; new: string }) => {
        const file = readVaultFile(vaultFileOf(ctx.paths));
        if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault');
        const k = await unwrapDataKey(file, req.old);
        try {
          await upgradeVault(ctx, recordsOf(ctx), file, k, req.old);
          writeVaultFile(vaultFileOf(ctx.paths), await rewrapDataKey(file, k, req.new, ctx.actor.getSnapshot().context.argon2 as Argon2Limits));
        } finally {
          (await getSodium()).memzero(k);
        }
        await ctx.emit('passphrase_changed', { at: Date.now() });
        return { ok: true };
      },
      panic: (req: { level: number; passphrase?: string; confirm?: boolean }, call: CallContext) => panic(ctx, req, `bus:${call.caller}`),
      put: (req: { key: string; value: Uint8Array }, call: CallContext) => {
        // A new record on a full disk is refused up front (deletes still go through: they free space).
        assertStorageRoom(ctx.paths.home, 'a vault write');
        return stage(ctx, call, { op: 'put', key: req.key, value: new Uint8Array(req.value) });
      },
      delete: (req: { key: string }, call: CallContext) => stage(ctx, call, { op: 'delete', key: req.key }),
      commit: async (req: { ticket: string }, call: CallContext) => {
        const t = await ask<{ ns: string; op: 'put' | 'delete'; key: string; value?: Uint8Array }>(ctx.actor, { type: 'vault.take', ticket: req.ticket, ns: call.caller, now: Date.now() });
        const key = requireKey(ctx);
        if (t.op === 'put') await recordsOf(ctx).put(key, t.ns, t.key, t.value!);
        else await recordsOf(ctx).delete(key, t.ns, t.key);
        return { ok: true };
      },
      get: async (req: { key: string }, call: CallContext) => ({ value: await recordsOf(ctx).get(requireKey(ctx), call.caller, req.key) }),
      list: async (req: { prefix?: string }, call: CallContext) => ({ keys: await recordsOf(ctx).list(requireKey(ctx), call.caller, req.prefix ?? '') }),
    }),
    commands: (ctx, gate = attestationGate(ctx.bus, ctx.log)) => ({
      status: async () => status(ctx, await boxOf(ctx)),
      lock: () => ask(ctx.actor, { type: 'vault.lock', reason: 'operator' }),
      relock: (req: { reason?: string }) => ask(ctx.actor, { type: 'vault.relock', reason: `forced: ${req.reason ?? 'incident'}`.slice(0, 200) }),
      // The signed path of an owner whom web guesses have locked out: proof of the operator key, no throttle.
      unlock: async (req: { sealedPassphrase: Uint8Array }) => unlock(ctx, gate, await unseal(ctx, new Uint8Array(req.sealedPassphrase))),
      setup: async (req: { sealedPassphrase: Uint8Array }) => {
        await gate.require('vault setup');
        return ask(ctx.actor, { type: 'vault.setup', passphrase: await unseal(ctx, new Uint8Array(req.sealedPassphrase)) }, KDF_MS);
      },
      panic: async (req: { level: number; sealedPassphrase?: Uint8Array; confirm?: boolean }, call: CallContext) => {
        const passphrase = req.sealedPassphrase ? await unseal(ctx, new Uint8Array(req.sealedPassphrase)) : undefined;
        return panic(ctx, { level: req.level, passphrase, confirm: req.confirm }, `operator:${call.operator?.keyId ?? 'unknown'}`);
      },
    }),
    // A reload applies at once: the idle limit restarts if unlocked, argon2 applies at the next create or passphrase change.
    start: async (ctx) => {
      await configSection(ctx, 'vault', (v) => { ctx.actor.send({ type: 'vault.config', ...vaultConfig(v) }); });
    },
    // Stopping locks: the machine zeroes the key on its way to locked.
    stop: async (ctx) => {
      await ask(ctx.actor, { type: 'vault.lock', reason: 'stopping' }, 5000).catch((err: unknown) => ctx.log.warn({ err }, 'vault did not lock on stop'));
    },
  };
})());
