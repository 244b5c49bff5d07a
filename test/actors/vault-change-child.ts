// Child process for the crash test: changes a vault's passphrase; SECAI_VAULT_CRASH_AFTER makes it die mid-way.
import { readVaultFile, rewrapDataKey, unwrapDataKey, writeVaultFile } from '../../actors/vault/vault-crypto.js';

const [file, oldP, newP] = process.argv.slice(2) as [string, string, string];
const v = readVaultFile(file)!;
const k = await unwrapDataKey(v, oldP);
writeVaultFile(file, await rewrapDataKey(v, k, newP, 'interactive'));
process.stdout.write('changed\n');
