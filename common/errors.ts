// The one error class of SecAI OS: a stable code (listed in docs/errors.md) plus a message.

export const ErrorCode = {
  BAD_MESSAGE: 'SECAI_E_BAD_MESSAGE',
  SCHEMA: 'SECAI_E_SCHEMA',
  PAYLOAD_TOO_LARGE: 'SECAI_E_PAYLOAD_TOO_LARGE',
  UNKNOWN_OP: 'SECAI_E_UNKNOWN_OP',
  TIMEOUT: 'SECAI_E_TIMEOUT',
  NO_RESPONDER: 'SECAI_E_NO_RESPONDER',
  PERMISSION: 'SECAI_E_PERMISSION',
  INTERNAL: 'SECAI_E_INTERNAL',
  NOT_READY: 'SECAI_E_NOT_READY',
  INVALID_STATE: 'SECAI_E_INVALID_STATE',
  ENVELOPE_INVALID: 'SECAI_E_ENVELOPE_INVALID',
  SIGNATURE_INVALID: 'SECAI_E_SIGNATURE_INVALID',
  KEY_UNKNOWN: 'SECAI_E_KEY_UNKNOWN',
  UNAUTHORIZED: 'SECAI_E_UNAUTHORIZED',
  REPLAYED: 'SECAI_E_REPLAYED',
  EXPIRED: 'SECAI_E_EXPIRED',
  AUDIT_CHAIN_BROKEN: 'SECAI_E_AUDIT_CHAIN_BROKEN',
  AUDIT_KEY_REQUIRED: 'SECAI_E_AUDIT_KEY_REQUIRED',
  CONFIG_INVALID: 'SECAI_E_CONFIG_INVALID',
  BUS_START: 'SECAI_E_BUS_START',
  NOT_RUNNING: 'SECAI_E_NOT_RUNNING',
  USAGE: 'SECAI_E_USAGE',
  METHOD_NOT_ALLOWED: 'SECAI_E_METHOD_NOT_ALLOWED',
  HTTP_HOST: 'SECAI_E_HTTP_HOST',
  // inference (issue 3)
  MODEL_INVALID: 'SECAI_E_MODEL_INVALID',
  MODEL_NOT_LOADED: 'SECAI_E_MODEL_NOT_LOADED',
  SANDBOX_UNAVAILABLE: 'SECAI_E_SANDBOX_UNAVAILABLE',
  GPU_UNAVAILABLE: 'SECAI_E_GPU_UNAVAILABLE',
  WORKER_CRASHED: 'SECAI_E_WORKER_CRASHED',
  WORKER_PROTOCOL: 'SECAI_E_WORKER_PROTOCOL',
  CONTEXT_OVERFLOW: 'SECAI_E_CONTEXT_OVERFLOW',
  CANCELLED: 'SECAI_E_CANCELLED',
  DIGEST_MISMATCH: 'SECAI_E_DIGEST_MISMATCH',
  // quarantine and registry (issue 2)
  MODEL_NOT_FOUND: 'SECAI_E_MODEL_NOT_FOUND',
  MODEL_EXISTS: 'SECAI_E_MODEL_EXISTS',
  REGISTRY_TAMPERED: 'SECAI_E_REGISTRY_TAMPERED',
  IMPORT_REFUSED: 'SECAI_E_IMPORT_REFUSED',
  AIRLOCK_UNAVAILABLE: 'SECAI_E_AIRLOCK_UNAVAILABLE',
  JOB_NOT_FOUND: 'SECAI_E_JOB_NOT_FOUND',
  HOME_UNSAFE: 'SECAI_E_HOME_UNSAFE',
  REQUEST_TIMEOUT: 'SECAI_E_REQUEST_TIMEOUT',
  TOO_MANY_STREAMS: 'SECAI_E_TOO_MANY_STREAMS',
  UPLOAD_NOT_FOUND: 'SECAI_E_UPLOAD_NOT_FOUND',
  // the signed model catalog (issue 13)
  CATALOG_INVALID: 'SECAI_E_CATALOG_INVALID',
  CATALOG_UNKNOWN: 'SECAI_E_CATALOG_UNKNOWN',
  // vault and auth (issue 4)
  VAULT_LOCKED: 'SECAI_E_VAULT_LOCKED',
  VAULT_UNINITIALIZED: 'SECAI_E_VAULT_UNINITIALIZED',
  VAULT_CORRUPT: 'SECAI_E_VAULT_CORRUPT',
  WRONG_PASSPHRASE: 'SECAI_E_WRONG_PASSPHRASE',
  RATE_LIMITED: 'SECAI_E_RATE_LIMITED',
  CSRF: 'SECAI_E_CSRF',
  CROSS_ORIGIN: 'SECAI_E_CROSS_ORIGIN',
  CHAT_NOT_FOUND: 'SECAI_E_CHAT_NOT_FOUND',
  SETUP_CODE: 'SECAI_E_SETUP_CODE',
  // policy engine, tool firewall, airlock (issue 5)
  EGRESS_DENIED: 'SECAI_E_EGRESS_DENIED',
  EGRESS_FAILED: 'SECAI_E_EGRESS_FAILED',
  POLICY_DENIED: 'SECAI_E_POLICY_DENIED',
  // containment (issue 15)
  AIRLOCK_DISABLED: 'SECAI_E_AIRLOCK_DISABLED',
  MODEL_SUSPENDED: 'SECAI_E_MODEL_SUSPENDED',
  // incidents (issue 15)
  INCIDENT_NOT_FOUND: 'SECAI_E_INCIDENT_NOT_FOUND',
  INCIDENT_TAMPERED: 'SECAI_E_INCIDENT_TAMPERED',
  // faults (issue 19)
  STORAGE_FULL: 'SECAI_E_STORAGE_FULL',
  // detect and contain (issue 15)
  NOT_ATTESTED: 'SECAI_E_NOT_ATTESTED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** How errors cross the bus and worker IPC: plain data, turned back into SecaiError on arrival. */
export interface ErrorData {
  code: string;
  message: string;
}

export class SecaiError extends Error {
  override readonly name = 'SecaiError';
  readonly code: string;

  constructor(code: ErrorCode | string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message };
  }

  static fromData(data: ErrorData): SecaiError {
    return new SecaiError(data.code, data.message);
  }
}

/** Any thrown value as error data; unknown failures become INTERNAL without leaking stack traces. */
export function toErrorData(err: unknown): ErrorData {
  if (err instanceof SecaiError) return err.toData();
  return { code: ErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err) };
}
