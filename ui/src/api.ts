// The UI's only way out: same-origin HTTP to the gateway with the session cookie and the session's proof token.

export interface ErrorData { code: string; message: string }

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/**
 * This tab's session proof: handed out once by login/setup, kept in sessionStorage (this origin and
 * tab only: it survives a reload, a new tab signs in again), and sent in x-csrf-token on EVERY request.
 * The cookie reaches every port of 127.0.0.1; this token never leaves our page, so the cookie alone is nothing.
 */
let csrf = sessionStorage.getItem('secai.csrf') ?? '';
const unauthorizedListeners = new Set<() => void>();

export function setCsrf(token: string): void {
  csrf = token;
  if (token) sessionStorage.setItem('secai.csrf', token);
  else sessionStorage.removeItem('secai.csrf');
}

/** Headers that prove this tab's session, for requests made outside api() (streams, uploads). */
export function sessionHeaders(): Record<string, string> {
  return csrf ? { 'x-csrf-token': csrf } : {};
}

export function notifyUnauthorized(): void {
  unauthorizedListeners.forEach((f) => f());
}

export function onUnauthorized(f: () => void): () => void {
  unauthorizedListeners.add(f);
  return () => unauthorizedListeners.delete(f);
}

/**
 * A 401 means the session is gone, except a refused passphrase (re-authentication for unlock, panic,
 * model removal): the session is still good, and the page shows the error instead of signing out.
 * A refused proof (SECAI_E_CSRF) means this tab no longer holds its session: sign in again.
 */
function sessionLost(status: number, code: string | undefined): boolean {
  return (status === 401 && code !== 'SECAI_E_WRONG_PASSPHRASE') || code === 'SECAI_E_CSRF';
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (csrf) headers['x-csrf-token'] = csrf;
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin',
    ...(body !== undefined && { body: JSON.stringify(body) }),
    ...(signal && { signal }),
  });
  const text = await r.text();
  let data: unknown;
  try { data = text ? JSON.parse(text) : {}; } catch { data = {}; }
  if (!r.ok) {
    const e = (data as { error?: Partial<ErrorData> }).error;
    if (sessionLost(r.status, e?.code)) notifyUnauthorized();
    throw new ApiError(r.status, e?.code ?? `HTTP_${r.status}`, e?.message ?? r.statusText);
  }
  return data as T;
}

/**
 * Sends a file as the raw request body (the browser streams it from disk; never read into memory
 * here). XMLHttpRequest rather than fetch: only it reports upload progress.
 */
export function uploadFile<T>(path: string, file: Blob, onProgress?: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.setRequestHeader('accept', 'application/json');
    x.setRequestHeader('content-type', 'application/octet-stream');
    if (csrf) x.setRequestHeader('x-csrf-token', csrf);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    x.onerror = () => reject(new ApiError(0, 'NETWORK', 'the upload was interrupted'));
    x.onload = () => {
      let data: { error?: Partial<ErrorData> } = {};
      try { data = JSON.parse(x.responseText || '{}') as typeof data; } catch { /* lint-ok: not JSON; the status decides */ }
      if (x.status >= 200 && x.status < 300) { resolve(data as T); return; }
      if (sessionLost(x.status, data.error?.code)) notifyUnauthorized();
      reject(new ApiError(x.status, data.error?.code ?? `HTTP_${x.status}`, data.error?.message ?? x.statusText));
    };
    x.send(file);
  });
}

export const describeError = (err: unknown): string =>
  err instanceof ApiError ? `${err.message} (${err.code})` : err instanceof Error ? err.message : String(err);
