// Every SECAI_* environment setting, parsed once, validated (a bad value is a clear startup error) and frozen.
import { ErrorCode, SecaiError } from './errors.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export interface SecaiEnv {
  /** SECAI_HOME, SECAI_CONFIG: as given (common/paths.ts resolves them and their defaults). */
  home: string | undefined;
  configDir: string | undefined;
  /** SECAI_BUS_URL: set by the supervisor for the processes it starts. */
  busUrl: string | undefined;
  /** SECAI_BUS_PORT: a fixed bus port (the image's nftables rule names it); unset, one is picked at start. */
  busPort: number | undefined;
  natsServer: string;
  /** SECAI_HTTP_PORT (0: pick a free one) and SECAI_HTTP_HOST (loopback only). */
  httpPort: number;
  httpHost: '127.0.0.1' | '::1';
  /** SECAI_MCP_PORT (0: pick a free one): the MCP firewall, on the same loopback host as the HTTP API. */
  mcpPort: number;
  headless: boolean;
  uiDir: string | undefined;
  logLevel: (typeof LOG_LEVELS)[number];
  logJson: boolean;
  /** SECAI_TEST=1: test-only switches may apply (only together with their policy switch, see docs/airlock.md). */
  test: boolean;
  testAirlockHosts: string;
  /** SECAI_TEST_AIRLOCK_CA: a PEM file trusted for the mapped test hosts only (docs/airlock.md). */
  testAirlockCa: string | undefined;
  policyAllowFlushMs: number;
  auditVerifyMs: number;
  /** SECAI_VAULT_IDLE_MS: overrides vault.idle_lock_minutes (tests). */
  vaultIdleMs: number | undefined;
  /** SECAI_VAULT_CRASH_AFTER=temp: crash after writing vault.json's temp file (crash-safety test). */
  vaultCrashAfter: 'temp' | undefined;
  quarantineDownloadMaxMs: number;
  quarantineSettleMs: number;
  importTimeoutMs: number | undefined;
  /** Fault handling (docs/recovery.md): supervisor ↔ actor heartbeat (0 = off), CLI answer deadline, free-space floor and check interval. */
  heartbeatMs: number;
  cliDeadlineMs: number;
  minFreeMb: number;
  storageCheckMs: number;
  /**
   * SECAI_TPM_TCTI: the TPM the attestor quotes, as a tpm2-tools TCTI (`swtpm:host=127.0.0.1,port=P` or
   * `device:/dev/tpmrm0`); unset, attestation runs declared software-only unless policy asks for a TPM.
   */
  tpmTcti: string | undefined;
  /** SECAI_ATTEST_INTERVAL_MS: overrides attestation.interval_seconds (tests). */
  attestIntervalMs: number | undefined;
  /** SECAI_GPU_ROOT: a folder standing in for `/` for the GPU watch's probes (tests run on recorded fixtures). */
  gpuRoot: string | undefined;
  /** CLI inputs: read by securectl and chat, never by actors. */
  passphrase: string | undefined;
  apiToken: string | undefined;
}

/** The web UI and HTTP API port (DESIGN.md: 127.0.0.1:8480). */
export const DEFAULT_HTTP_PORT = 8480;
/** The MCP firewall's port (DESIGN.md: 127.0.0.1:8496). */
export const DEFAULT_MCP_PORT = 8496;

const bad = (name: string, want: string, raw: string): SecaiError =>
  new SecaiError(ErrorCode.CONFIG_INVALID, `${name} must be ${want}, not '${raw.slice(0, 64)}'`);

function int(raw: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const v = raw[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw bad(name, `an integer from ${min} to ${max}`, v);
  return n;
}

function oneOf<T extends string>(raw: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const v = raw[name];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw bad(name, `one of ${allowed.join(', ')}`, v);
  return v as T;
}

const flag = (raw: NodeJS.ProcessEnv, name: string): boolean => oneOf(raw, name, ['0', '1'], '0') === '1';
const text = (raw: NodeJS.ProcessEnv, name: string): string | undefined => (raw[name] === '' ? undefined : raw[name]);

/** A TCTI string goes to tpm2-tools as one environment value: only a loopback swtpm socket or a TPM device node. */
function tcti(raw: NodeJS.ProcessEnv): string | undefined {
  const v = text(raw, 'SECAI_TPM_TCTI');
  if (v === undefined) return undefined;
  if (!/^(swtpm:host=127\.0\.0\.1,port=[0-9]{1,5}|device:\/dev\/tpm(rm)?[0-9]{1,2})$/.test(v)) {
    throw bad('SECAI_TPM_TCTI', "'swtpm:host=127.0.0.1,port=N' or 'device:/dev/tpmrmN'", v);
  }
  return v;
}

/** Parses and validates; throws SECAI_E_CONFIG_INVALID naming the variable. Pure: tests pass their own env. */
export function parseEnv(raw: NodeJS.ProcessEnv): SecaiEnv {
  const heartbeatMs = int(raw, 'SECAI_HEARTBEAT_MS', 0, 600_000) ?? 1000;
  // A heartbeat shorter than 50 ms would be all the appliance does.
  if (heartbeatMs > 0 && heartbeatMs < 50) throw bad('SECAI_HEARTBEAT_MS', '0 (off) or at least 50', String(heartbeatMs));
  return Object.freeze({
    home: text(raw, 'SECAI_HOME'),
    configDir: text(raw, 'SECAI_CONFIG'),
    busUrl: text(raw, 'SECAI_BUS_URL'),
    busPort: int(raw, 'SECAI_BUS_PORT', 1, 65535),
    natsServer: text(raw, 'SECAI_NATS_SERVER') ?? 'nats-server',
    httpPort: int(raw, 'SECAI_HTTP_PORT', 0, 65535) ?? DEFAULT_HTTP_PORT,
    // Nothing listens on anything but loopback: any other host is an error, not a silent fallback.
    httpHost: oneOf(raw, 'SECAI_HTTP_HOST', ['127.0.0.1', '::1'] as const, '127.0.0.1'),
    mcpPort: int(raw, 'SECAI_MCP_PORT', 0, 65535) ?? DEFAULT_MCP_PORT,
    headless: flag(raw, 'SECAI_HEADLESS'),
    uiDir: text(raw, 'SECAI_UI_DIR'),
    logLevel: oneOf(raw, 'SECAI_LOG_LEVEL', LOG_LEVELS, 'info'),
    logJson: flag(raw, 'SECAI_LOG_JSON'),
    test: flag(raw, 'SECAI_TEST'),
    testAirlockHosts: raw.SECAI_TEST_AIRLOCK_HOSTS ?? '',
    testAirlockCa: text(raw, 'SECAI_TEST_AIRLOCK_CA'),
    policyAllowFlushMs: int(raw, 'SECAI_POLICY_ALLOW_FLUSH_MS', 10, 3_600_000) ?? 10_000,
    auditVerifyMs: int(raw, 'SECAI_AUDIT_VERIFY_MS', 10, 7 * 24 * 3_600_000) ?? 5 * 60_000,
    vaultIdleMs: int(raw, 'SECAI_VAULT_IDLE_MS', 1, 7 * 24 * 3_600_000),
    vaultCrashAfter: raw.SECAI_VAULT_CRASH_AFTER ? oneOf(raw, 'SECAI_VAULT_CRASH_AFTER', ['temp'] as const, 'temp') : undefined,
    quarantineDownloadMaxMs: int(raw, 'SECAI_QUARANTINE_DOWNLOAD_MAX_MS', 100, 24 * 3_600_000) ?? 6 * 3_600_000,
    quarantineSettleMs: int(raw, 'SECAI_QUARANTINE_SETTLE_MS', 0, 3_600_000) ?? 1000,
    importTimeoutMs: int(raw, 'SECAI_IMPORT_TIMEOUT_MS', 1, 7 * 24 * 3_600_000),
    heartbeatMs,
    cliDeadlineMs: int(raw, 'SECAI_CLI_DEADLINE_MS', 100, 3_600_000) ?? 10_000,
    minFreeMb: int(raw, 'SECAI_MIN_FREE_MB', 0, 1 << 24) ?? 256,
    storageCheckMs: int(raw, 'SECAI_STORAGE_CHECK_MS', 50, 600_000) ?? 1000,
    tpmTcti: tcti(raw),
    attestIntervalMs: int(raw, 'SECAI_ATTEST_INTERVAL_MS', 50, 7 * 24 * 3_600_000),
    gpuRoot: text(raw, 'SECAI_GPU_ROOT'),
    passphrase: raw.SECAI_PASSPHRASE,
    apiToken: text(raw, 'SECAI_API_TOKEN'),
  });
}

let parsed: SecaiEnv | undefined;

/** This process's settings, parsed on first use (every entry point calls it at start, so a bad value stops it there). */
export function secaiEnv(): SecaiEnv {
  parsed ??= parseEnv(process.env);
  return parsed;
}
