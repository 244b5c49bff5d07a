// Vault actor process: holds the data key only while unlocked, serves records per caller namespace, performs panics.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fromPromise } from 'xstate';
import { vaultMachine } from '../../machines/vault/vault.machine.js';
import type { CallContext } from '../../bus/service.js';
import { getSodium } from '../../common/sodium.js';
import { ErrorCode, SecaiError, toErrorData } from '../../common/errors.js';
import { main, type ActorContext } from '../../runtime/host.js';
import { vaultManifest } from './manifest.js';
import { loadVaultPolicy, type VaultPolicy } from './vault-policy.js';
import { createVault, readVaultFile, rewrapDataKey, unwrapDataKey, writeVaultFile } from './vault-crypto.js';
import { RecordStore } from './record-store.js';
import { wipeAll, wipeKeys } from './wipe.js';
import { consumeSetupCode } from '../../common/setup-code.js';

type Ctx = ActorContext<typeof vaultMachine>;

let policy: VaultPolicy;
let vaultFile: string;
let store: RecordStore;
/** The data key, present only while unlocked; zeroed (not just dropped) on lock. */
let dataKey: Uint8Array | undefined;
let idleMs = 30 * 60_000;
/** Per-process X25519 key pair for passphrases in signed commands (audited): never written anywhere. */
let box: { publicKey: Uint8Array; privateKey: Uint8Array } | undefined;

async function unseal(sealed: Uint8Array): Promise<string> {
  const sodium = await getSodium();
  box ??= sodium.crypto_box_keypair();
  try {
    return sodium.to_string(sodium.crypto_box_seal_open(sealed, box.publicKey, box.privateKey));
  } catch {
    throw new SecaiError(ErrorCode.WRONG_PASSPHRASE, 'the sealed passphrase does not open (sealed for an earlier vault process?)');
  }
}

async function forgetKey(): Promise<void> {
  if (!dataKey) return;
  const sodium = await getSodium();
  sodium.memzero(dataKey);
  dataKey = undefined;
}

/**
 * The caller's namespace is the identity named by its reply inbox (serveManifest answers only into the
 * inbox of an identity that may ask). Only that identity can READ a reply sent there (ACL), so get/list
 * cannot leak to anyone else; because a sender could still name another's inbox, writes go through a
 * ticket that is sent only to that inbox (see commit).
 */
function callerOf(call: CallContext): string {
  return call.caller;
}

function requireKey(ctx: Ctx): Uint8Array {
  const snap = ctx.actor.getSnapshot();
  if (snap.matches('uninitialized') || snap.matches('initializing')) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault: run first-time setup');
  if (!snap.matches('unlocked') || !dataKey) throw new SecaiError(ErrorCode.VAULT_LOCKED, 'the vault is locked');
  return dataKey;
}

interface Ticket { ns: string; op: 'put' | 'delete'; key: string; value?: Uint8Array; expires: number }
const tickets = new Map<string, Ticket>();
const TICKET_MS = 10_000;

function stage(t: Omit<Ticket, 'expires'>): { ticket: string } {
  const now = Date.now();
  for (const [id, x] of tickets) if (x.expires < now) tickets.delete(id);
  if (tickets.size >= 1000) throw new SecaiError(ErrorCode.NOT_READY, 'too many staged vault writes');
  const id = randomBytes(16).toString('hex');
  tickets.set(id, { ...t, expires: now + TICKET_MS });
  return { ticket: id };
}

function status(ctx: Ctx, withBox = false) {
  const snap = ctx.actor.getSnapshot();
  return { state: String(snap.value), initialized: snap.context.initialized, lockReason: snap.context.lockReason, idleMs, ...(withBox && box && { boxPublicKey: box.publicKey }) };
}

const settled = (s: { matches(v: string): boolean }) => !s.matches('unlocking') && !s.matches('initializing') && !s.matches('locking') && !s.matches('starting');

async function unlock(ctx: Ctx, passphrase: string) {
  const snap = ctx.actor.getSnapshot();
  if (snap.matches('uninitialized')) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault: run first-time setup');
  if (snap.matches('unlocked')) {
    // Already open: still prove the passphrase (login uses this), then keep alive.
    const file = readVaultFile(vaultFile);
    if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault');
    const k = await unwrapDataKey(file, passphrase).catch(async (err: unknown) => {
      await ctx.emit('unlock_failed', { code: toErrorData(err).code, at: Date.now() });
      throw err;
    });
    (await getSodium()).memzero(k);
    ctx.actor.send({ type: 'vault.keepalive' });
    return { ok: true };
  }
  const after = await ctx.sendAndWait({ type: 'vault.unlock', passphrase }, settled, 60_000);
  if (!after.matches('unlocked')) {
    const e = after.context.lastError ?? { code: ErrorCode.WRONG_PASSPHRASE, message: 'wrong passphrase' };
    await ctx.emit('unlock_failed', { code: e.code, at: Date.now() });
    throw new SecaiError(e.code, e.message);
  }
  return { ok: true };
}

async function setup(ctx: Ctx, passphrase: string) {
  if (!ctx.actor.getSnapshot().matches('uninitialized')) throw new SecaiError(ErrorCode.INVALID_STATE, 'the vault is already set up');
  const after = await ctx.sendAndWait({ type: 'vault.setup', passphrase }, settled, 60_000);
  if (!after.matches('unlocked')) {
    const e = after.context.lastError ?? { code: ErrorCode.INTERNAL, message: 'setup failed' };
    throw new SecaiError(e.code, e.message);
  }
  return { ok: true };
}

/** Proves a passphrase by unwrapping the data key with it, then zeroes the key: the vault's state does not move. */
async function provePassphrase(passphrase: string, noVault: string): Promise<void> {
  const file = readVaultFile(vaultFile);
  if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, noVault);
  (await getSodium()).memzero(await unwrapDataKey(file, passphrase));
}

async function panic(ctx: Ctx, req: { level: number; passphrase?: string; confirm?: boolean }, by: string) {
  const refuse = async (code: string, message: string): Promise<never> => {
    await ctx.emit('panic_refused', { level: req.level, code, by, at: Date.now() }).catch(() => {});
    throw new SecaiError(code, message);
  };
  if (req.level === 1) {
    await ctx.emit('panicked', { level: 1, by, at: Date.now() });
    if (ctx.actor.getSnapshot().matches('unlocked')) await ctx.sendAndWait({ type: 'vault.relock', reason: 'panic' }, settled);
    return { level: 1, removed: [] };
  }
  if (req.confirm !== true) await refuse(ErrorCode.USAGE, `panic level ${req.level} destroys data: it needs confirm`);
  if (!req.passphrase) await refuse(ErrorCode.USAGE, `panic level ${req.level} needs the passphrase`);
  try {
    await provePassphrase(req.passphrase!, 'no vault to destroy');
  } catch (err) {
    await refuse(toErrorData(err).code, toErrorData(err).message);
  }
  // The audit chain must hold the record of the wipe before anything is destroyed: emit waits for the stream's ack.
  await ctx.emit('panicked', { level: req.level, by, at: Date.now() });
  await forgetKey();
  const removed = req.level === 2 ? wipeKeys(ctx.paths) : wipeAll(ctx.paths);
  tickets.clear();
  ctx.actor.send({ type: 'vault.wiped' });
  await ctx.emit('wiped', { level: req.level, removed, at: Date.now() }).catch((err: unknown) => ctx.log.error({ err }, 'wiped event not acknowledged'));
  ctx.log.warn({ level: req.level, removed }, 'panic wipe done');
  return { level: req.level, removed };
}

main({
  manifest: vaultManifest,
  machine: (ctx) => {
    policy = loadVaultPolicy(ctx.configDir);
    vaultFile = join(ctx.paths.vault, 'vault.json');
    store = new RecordStore(join(ctx.paths.vault, 'records'));
    const initialized = readVaultFile(vaultFile) !== undefined;
    idleMs = Number(process.env.SECAI_VAULT_IDLE_MS ?? policy.idle_lock_minutes * 60_000);
    return vaultMachine.provide({
      actors: {
        createVault: fromPromise(async ({ input }) => {
          if (readVaultFile(vaultFile)) throw new SecaiError(ErrorCode.INVALID_STATE, 'a vault already exists');
          const { mkdirSync } = await import('node:fs');
          mkdirSync(ctx.paths.vault, { recursive: true, mode: 0o700 });
          const made = await createVault(input.passphrase, policy.argon2);
          writeVaultFile(vaultFile, made.file);
          // The first-run code dies with the first vault, whichever path created it (web form or signed command).
          consumeSetupCode(ctx.paths.run);
          await forgetKey();
          dataKey = made.dataKey;
          await ctx.emit('initialized', { at: Date.now() });
        }),
        openVault: fromPromise(async ({ input }) => {
          const file = readVaultFile(vaultFile);
          if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault');
          const k = await unwrapDataKey(file, input.passphrase);
          await forgetKey();
          dataKey = k;
        }),
      },
      actions: {
        forgetKey: () => void forgetKey(),
        reportUnlocked: () => void ctx.emit('unlocked', { at: Date.now() }).catch(() => {}),
        reportLocked: ({ context }) => void ctx.emit('locked', { reason: context.lockReason ?? 'requested', at: Date.now() }).catch(() => {}),
      },
      guards: { hasVault: () => initialized },
      delays: { idleLimit: idleMs },
    });
  },
  publicContext: (c) => ({ initialized: c.initialized, lockReason: c.lockReason, idleMs }),
  ops: (ctx) => ({
    status: () => status(ctx),
    setup: (req: { passphrase: string }) => setup(ctx, req.passphrase),
    unlock: (req: { passphrase: string }) => unlock(ctx, req.passphrase),
    verify_passphrase: async (req: { passphrase: string }) => {
      await provePassphrase(req.passphrase, 'no vault');
      return { ok: true };
    },
    lock: async () => {
      if (ctx.actor.getSnapshot().matches('unlocked')) await ctx.sendAndWait({ type: 'vault.lock', reason: 'requested' }, settled);
      return { ok: true };
    },
    keepalive: () => {
      ctx.actor.send({ type: 'vault.keepalive' });
      return { ok: true };
    },
    change_passphrase: async (req: { old: string; new: string }) => {
      const file = readVaultFile(vaultFile);
      if (!file) throw new SecaiError(ErrorCode.VAULT_UNINITIALIZED, 'no vault');
      const k = await unwrapDataKey(file, req.old);
      try {
        writeVaultFile(vaultFile, await rewrapDataKey(file, k, req.new, policy.argon2));
      } finally {
        (await getSodium()).memzero(k);
      }
      await ctx.emit('passphrase_changed', { at: Date.now() });
      return { ok: true };
    },
    panic: (req: { level: number; passphrase?: string; confirm?: boolean }, call: CallContext) => panic(ctx, req, `bus:${call.caller}`),
    put: (req: { key: string; value: Uint8Array }, call: CallContext) => {
      requireKey(ctx);
      return stage({ ns: callerOf(call), op: 'put', key: req.key, value: new Uint8Array(req.value) });
    },
    delete: (req: { key: string }, call: CallContext) => {
      requireKey(ctx);
      return stage({ ns: callerOf(call), op: 'delete', key: req.key });
    },
    commit: async (req: { ticket: string }, call: CallContext) => {
      const t = tickets.get(req.ticket);
      tickets.delete(req.ticket);
      const ns = callerOf(call);
      if (!t || t.expires < Date.now() || t.ns !== ns) throw new SecaiError(ErrorCode.PERMISSION, 'unknown or expired vault ticket');
      const key = requireKey(ctx);
      if (t.op === 'put') await store.put(key, t.ns, t.key, t.value!);
      else store.delete(t.ns, t.key);
      return { ok: true };
    },
    get: async (req: { key: string }, call: CallContext) => ({ value: await store.get(requireKey(ctx), callerOf(call), req.key) }),
    list: (req: { prefix?: string }, call: CallContext) => {
      requireKey(ctx);
      return { keys: store.list(callerOf(call), req.prefix ?? '') };
    },
  }),
  commands: (ctx) => ({
    status: async () => {
      // Made on first use, not at start: loading libsodium would slow every appliance start.
      box ??= (await getSodium()).crypto_box_keypair();
      return status(ctx, true);
    },
    lock: async () => {
      if (ctx.actor.getSnapshot().matches('unlocked')) await ctx.sendAndWait({ type: 'vault.lock', reason: 'operator' }, settled);
      return { ok: true };
    },
    relock: async (req: { reason?: string }) => {
      if (ctx.actor.getSnapshot().matches('unlocked')) await ctx.sendAndWait({ type: 'vault.relock', reason: `forced: ${req.reason ?? 'incident'}`.slice(0, 200) }, settled);
      return { ok: true };
    },
    // The signed path of an owner whom web guesses have locked out: proof of the operator key, no throttle.
    unlock: async (req: { sealedPassphrase: Uint8Array }) => unlock(ctx, await unseal(new Uint8Array(req.sealedPassphrase))),
    setup: async (req: { sealedPassphrase: Uint8Array }) => setup(ctx, await unseal(new Uint8Array(req.sealedPassphrase))),
    panic: async (req: { level: number; sealedPassphrase?: Uint8Array; confirm?: boolean }, call: CallContext) => {
      const by = `operator:${call.operator?.keyId ?? 'unknown'}`;
      const passphrase = req.sealedPassphrase ? await unseal(new Uint8Array(req.sealedPassphrase)) : undefined;
      return panic(ctx, { level: req.level, ...(passphrase !== undefined && { passphrase }), ...(req.confirm !== undefined && { confirm: req.confirm }) }, by);
    },
  }),
  stop: async () => { await forgetKey(); },
});
