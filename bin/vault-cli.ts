// securectl vault and panic verbs: signed commands to the vault actor; passphrases travel sealed.
import { commandOp } from '../bus/op-ref.js';
import { vaultManifest } from '../actors/vault/manifest.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import { getSodium } from '../common/sodium.js';
import { Exit, formatDuration, printJson, type CliSession } from './cli-common.js';
import { readPassphrase } from './passphrase-input.js';

type Opts = { json: boolean; confirm?: boolean; passphraseStdin?: boolean };
type VaultVerb = (s: CliSession, args: string[], o: Opts) => Promise<number>;

/** Minimum for a new passphrase, as the web setup form asks. */
const MIN_PASSPHRASE = 12;

/** Commands are copied into the audit chain: a passphrase travels sealed to the vault process's in-memory key. */
async function sealPassphrase(s: CliSession, passphrase: string): Promise<Uint8Array> {
  const st = await s.bus.callCommand(s.key, commandOp(vaultManifest, 'status'), {});
  if (!st.boxPublicKey) throw new SecaiError(ErrorCode.NOT_READY, 'the vault offers no key to seal the passphrase to');
  const sodium = await getSodium();
  return sodium.crypto_box_seal(sodium.from_string(passphrase), new Uint8Array(st.boxPublicKey));
}

export const vaultVerbs: Record<string, VaultVerb> = {
  // The owner's path past a web lockout: the signature proves the operator key, and no web throttle applies.
  'vault unlock': async (s, _a, o) => {
    const sealedPassphrase = await sealPassphrase(s, await readPassphrase({ stdin: o.passphraseStdin === true }));
    await s.bus.callCommand(s.key, commandOp(vaultManifest, 'unlock'), { sealedPassphrase }, 60_000);
    if (o.json) printJson({ ok: true, state: 'unlocked' });
    else process.stdout.write('vault unlocked\n');
    return Exit.OK;
  },
  // First run without the web form: the signature proves the operator, so no setup code is asked (and the pending one dies).
  'vault setup': async (s, _a, o) => {
    const passphrase = await readPassphrase({ stdin: o.passphraseStdin === true });
    if (passphrase.length < MIN_PASSPHRASE) throw new SecaiError(ErrorCode.USAGE, `use a passphrase of at least ${MIN_PASSPHRASE} characters`);
    await s.bus.callCommand(s.key, commandOp(vaultManifest, 'setup'), { sealedPassphrase: await sealPassphrase(s, passphrase) }, 60_000);
    if (o.json) printJson({ ok: true, state: 'unlocked' });
    else process.stdout.write('vault created and unlocked\n');
    return Exit.OK;
  },
  'vault status': async (s, _a, o) => {
    const r = await s.bus.callCommand(s.key, commandOp(vaultManifest, 'status'), {});
    const { boxPublicKey: _omit, ...shown } = r;
    if (o.json) printJson(shown);
    else process.stdout.write(`vault: ${r.state}${r.lockReason ? ` (last locked: ${r.lockReason})` : ''}, auto-lock after ${formatDuration(r.idleMs)} idle\n`);
    return Exit.OK;
  },
  'vault lock': async (s, _a, o) => {
    await s.bus.callCommand(s.key, commandOp(vaultManifest, 'lock'), {});
    if (o.json) printJson({ ok: true });
    else process.stdout.write('vault locked\n');
    return Exit.OK;
  },
  panic: async (s, args, o) => {
    const level = Number(args[0]);
    if (level !== 1 && level !== 2 && level !== 3) throw new SecaiError(ErrorCode.USAGE, 'panic needs a level: 1 (lock), 2 (destroy keys) or 3 (full wipe)');
    let sealedPassphrase: Uint8Array | undefined;
    if (level > 1) {
      if (!o.confirm) throw new SecaiError(ErrorCode.USAGE, `panic ${level} destroys data and cannot be undone: add --confirm`);
      sealedPassphrase = await sealPassphrase(s, await readPassphrase({ stdin: o.passphraseStdin === true }));
    }
    const r = await s.bus.callCommand(s.key, commandOp(vaultManifest, 'panic'), {
      level, ...(sealedPassphrase && { sealedPassphrase, confirm: true }),
    }, 60_000);
    if (o.json) printJson(r);
    else process.stdout.write(`panic level ${r.level} done${r.removed.length ? `: removed ${r.removed.join(', ')}` : ': vault locked, sessions ended'}\n`);
    return Exit.OK;
  },
};

export const VAULT_USAGE = `  vault status               the vault's state (uninitialized, locked, unlocked) and why it last locked
  vault lock                 lock the vault now (the data key is zeroed in memory)
  vault unlock [--passphrase-stdin]
                             unlock (signed; not throttled by web login guesses: the owner's way past a lockout)
  vault setup [--passphrase-stdin]
                             first run: create the vault (signed: needs no setup code)
  panic 1|2|3 [--confirm] [--passphrase-stdin]
                             1 lock; 2 destroy the vault keys; 3 wipe vault, registry, quarantine, keys
                             (2 and 3 need --confirm and the passphrase: SECAI_PASSPHRASE, stdin or a prompt)`;
