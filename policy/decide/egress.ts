// egress: the airlock must be on, the destination allowlisted (host, scheme, port, method, path) and the request clean.
import { isIP } from 'node:net';
import type { PolicyDoc } from '../types.js';
import { DEFAULT_DENY, deny, type Verdict } from './verdict.js';

export interface EgressInput {
  method: string;
  url: string;
  bodyBytes: number;
  /** Kinds the PII/credential scanner found in the URL, headers and body (the airlock scans). */
  findings: string[];
}

export const egressSchema = {
  type: 'object', additionalProperties: false, required: ['method', 'url', 'bodyBytes', 'findings'],
  properties: {
    method: { type: 'string', maxLength: 16 },
    url: { type: 'string', maxLength: 8192 },
    bodyBytes: { type: 'integer', minimum: 0 },
    findings: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 32 } },
  },
};

const DEFAULT_PORT: Record<string, number> = { 'https:': 443, 'http:': 80 };

export function decideEgress(policy: PolicyDoc, input: EgressInput): Verdict {
  const a = policy.airlock;
  if (!a.enabled) return deny('airlock.disabled', 'the airlock is disabled by policy');
  if (input.url.length > a.max_url_length) return deny('airlock.max_url_length', `URL longer than ${a.max_url_length}`);
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    return deny('airlock.url', 'URL does not parse');
  }
  if (url.username || url.password) return deny('airlock.url', 'credentials in the URL');
  // Hosts are compared as WHATWG URL parsing leaves them (lowercase, punycode); IP literals never match a name.
  const host = url.hostname;
  if (isIP(host.replace(/^\[|\]$/g, ''))) return deny('airlock.ip-literal', 'IP literal destinations are not allowed');
  const scheme = url.protocol.slice(0, -1);
  const port = url.port ? Number(url.port) : DEFAULT_PORT[url.protocol];
  const method = input.method.toUpperCase();
  if (input.bodyBytes > a.max_request_bytes) return deny('airlock.max_request_bytes', `body of ${input.bodyBytes} bytes`);
  for (const kind of input.findings) {
    if ((a.scan.block as readonly string[]).includes(kind)) return deny(`airlock.scan.${kind}`, `request carries ${kind}`);
  }
  const dest = a.destinations.find((d) => d.host === host);
  if (!dest) return deny(DEFAULT_DENY, `host '${host}' is not allowlisted`);
  if (!(dest.schemes as readonly string[]).includes(scheme)) return deny(dest.id, `scheme ${scheme} not allowed`);
  if (port === undefined || !dest.ports.includes(port)) return deny(dest.id, `port ${port} not allowed`);
  if (!dest.methods.includes(method)) return deny(dest.id, `method ${method} not allowed`);
  if (!url.pathname.startsWith(dest.path_prefix)) return deny(dest.id, `path outside ${dest.path_prefix}`);
  return { decision: 'allow', rule: dest.id };
}
