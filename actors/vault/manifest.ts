// The vault's bus contract: lifecycle ops for auth and the gateway, a record API for every actor (own namespace only), panic.
import { defineManifest } from '../../bus/manifest.js';
import { s } from '../../bus/schema.js';

const passphrase = s.string({ minLength: 1, maxLength: 1024 });
const recordKey = s.string({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._:/-]+$' });
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;
const ok = s.object({ ok: s.boolean() });
const status = s.object({
  state: s.string({ maxLength: 32 }), initialized: s.boolean(), lockReason: s.any(), idleMs: s.integer({ minimum: 0 }),
  boxPublicKey: s.bytes(32),
}, ['boxPublicKey']);
const panicRequest = s.object({ level: s.integer({ minimum: 1, maximum: 3 }), passphrase, confirm: s.boolean() }, ['passphrase', 'confirm']);
const panicReply = s.object({ level: s.integer(), removed: s.array(s.string({ maxLength: 4096 }), 64) });
/**
 * Signed commands are copied into the audit chain, so securectl never puts a passphrase in one: it
 * seals it (crypto_box_seal) to the vault process's in-memory key from `status` (gone at restart).
 */
const panicCommand = s.object({ level: s.integer({ minimum: 1, maximum: 3 }), sealedPassphrase: s.bytes(2048), confirm: s.boolean() }, ['sealedPassphrase', 'confirm']);
const sealed = s.object({ sealedPassphrase: s.bytes(2048) });
const ticket = s.object({ ticket: s.string({ maxLength: 64 }) });
const level = s.integer({ minimum: 1, maximum: 3 });

export const vaultManifest = defineManifest({
  name: 'vault',
  kind: 'actor',
  description: 'Encrypted storage (Argon2id-wrapped data key, XChaCha20-Poly1305 secretstream), auto-lock, records per actor namespace, panic wipe.',
  entry: 'actors/vault/main.js',
  serves: {
    status: { request: s.empty(), reply: status, description: 'Lifecycle state (uninitialized, locked, unlocked …) and why it last locked.' },
    setup: { request: s.object({ passphrase }), reply: ok, description: 'First run: creates the vault under a passphrase and unlocks it (auth only).', timeoutMs: 30_000 },
    unlock: { request: s.object({ passphrase }), reply: ok, description: 'Unlocks (or, when unlocked, verifies the passphrase and keeps alive).', timeoutMs: 30_000 },
    // Auth alone requests it (ACL), inside its passphrase throttle: re-authentication for a destructive web action.
    verify_passphrase: { request: s.object({ passphrase }), reply: ok, timeoutMs: 30_000, description: 'Checks the passphrase against the wrapped key (locked or unlocked); changes nothing.' },
    lock: { request: s.empty(), reply: ok, description: 'Locks now: the data key is zeroed in memory.' },
    keepalive: { request: s.empty(), reply: ok, description: 'Restarts the idle timer of an unlocked vault.' },
    change_passphrase: {
      request: s.object({ old: passphrase, new: passphrase }), reply: ok, timeoutMs: 30_000,
      description: 'Re-wraps the data key under a new passphrase (atomic: a crash keeps the old one valid).',
    },
    panic: { request: panicRequest, reply: panicReply, description: 'Panic level 1 lock, 2 destroy keys, 3 full wipe (2 and 3 need the passphrase and confirm).', timeoutMs: 60_000 },
    // The record API. The namespace is the caller's identity, read from its reply inbox (see docs/vault.md).
    put: { request: s.object({ key: recordKey, value: s.bytes(MAX_RECORD_BYTES) }), reply: ticket, maxBytes: MAX_RECORD_BYTES + 4096, description: 'Stages a record; commit makes it durable.' },
    delete: { request: s.object({ key: recordKey }), reply: ticket, description: 'Stages a deletion; commit performs it.' },
    commit: { request: ticket, reply: ok, description: 'Performs a staged put/delete; the ticket went only to the caller’s own inbox.' },
    get: { request: s.object({ key: recordKey }), reply: s.object({ value: s.bytes(MAX_RECORD_BYTES) }), description: 'Reads one record of the caller’s namespace.' },
    list: { request: s.object({ prefix: s.string({ maxLength: 200 }) }, ['prefix']), reply: s.object({ keys: s.array(recordKey, 10_000) }), description: 'Record keys of the caller’s namespace.' },
  },
  commands: {
    status: { request: s.empty(), reply: status, description: 'Lifecycle state, signed.', roles: ['admin', 'auditor'] },
    lock: { request: s.empty(), reply: ok, description: 'Locks now.', roles: ['admin'] },
    relock: { request: s.object({ reason: s.string({ maxLength: 200 }) }, ['reason']), reply: ok, description: 'Forced relock (incident recorder).', roles: ['admin', 'incident'] },
    panic: { request: panicCommand, reply: panicReply, description: 'Panic, as a signed operator command (securectl panic; passphrase sealed).', roles: ['admin'], timeoutMs: 60_000 },
    // Outside the web login throttle on purpose: a local process that cannot sign cannot block the owner (issue #12 item 6).
    unlock: { request: sealed, reply: ok, description: 'Unlocks with a sealed passphrase (securectl vault unlock); not throttled by web guesses.', roles: ['admin'], timeoutMs: 60_000 },
    // The signature proves the operator: no setup code needed. Consumes any pending code.
    setup: { request: sealed, reply: ok, description: 'First run: creates the vault under a sealed passphrase (securectl vault setup).', roles: ['admin'], timeoutMs: 60_000 },
  },
  publishes: {
    initialized: s.object({ at: s.number() }),
    unlocked: s.object({ at: s.number() }),
    unlock_failed: s.object({ code: s.string({ maxLength: 64 }), at: s.number() }),
    locked: s.object({ reason: s.string({ maxLength: 200 }), at: s.number() }),
    passphrase_changed: s.object({ at: s.number() }),
    panicked: s.object({ level, by: s.string({ maxLength: 128 }), at: s.number() }),
    panic_refused: s.object({ level, code: s.string({ maxLength: 64 }), by: s.string({ maxLength: 128 }), at: s.number() }),
    wiped: s.object({ level, removed: s.array(s.string({ maxLength: 4096 }), 64), at: s.number() }),
  },
  // Its policy.yaml section(s), at start and after each reload that changes them (runtime/config-section.ts).
  // Unlock and setup go on only in an attested runtime (runtime/attestation-gate.ts).
  requests: ['policy.section', 'attestor.status'],
  subscribes: ['policy.reloaded', 'attestor.attested', 'attestor.failed'],
});
