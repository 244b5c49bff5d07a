// Stage 1, source policy: a URL origin is canonicalized and must name an allowlisted host (and path prefix) exactly; a local drop is labelled.
import { isIP } from 'node:net';
import { guarded, stageResult } from './stage-result.js';
import type { StageRunner } from './types.js';

export interface SourceEntry {
  host: string;
  /** Also allow hosts under it (`cdn.<host>`): a suffix match on a dot boundary, never a substring. */
  subdomains: boolean;
  /**
   * Only URLs under this path: `/org/` or `/org/repo`, matched on whole segments (`/org/` never matches
   * `/org-evil/`), case-sensitively, on the URL's path after normalization. Absent: the whole host.
   */
  path_prefix?: string;
  /**
   * Only as the target of a redirect from another allowed URL, never as the URL asked for: for content
   * stores (CDNs) whose paths name no repository, so that a path prefix cannot be bypassed through them.
   */
  redirect_only?: boolean;
  /** What the source is (shown in the catalog). */
  note?: string;
}

export interface SourcesAllowlist {
  sources: readonly SourceEntry[];
  /** IP literals are refused unless listed here exactly (canonical form: dotted quad, or IPv6 without brackets). */
  ip_literals: readonly string[];
}

export interface SourceOptions {
  allowlist: SourcesAllowlist;
  /** How a local drop (no origin to check) is judged: labelled either way. */
  local: 'pass' | 'warn';
}

type Refusal = { ok: false; rule: string; reason: string };
export type CanonicalUrl = { ok: true; url: string; host: string; segments: string[] } | Refusal;

const bad = (rule: string, reason: string): Refusal => ({ ok: false, rule, reason });

/** Canonicalizes an origin URL or says which rule refuses it. Pure: no DNS, no network. */
export function canonicalizeUrl(raw: string): CanonicalUrl {
  if (typeof raw !== 'string' || raw.length === 0) return bad('empty', 'no URL');
  if (raw.length > 2048) return bad('too_long', 'the URL is longer than 2048 characters');
  // Checked on the raw text: the WHATWG parser would silently "fix" these into something else.
  if (/[\u0000-\u0020\u007f]/.test(raw)) return bad('control_or_space', 'the URL contains spaces or control characters');
  if (/[^\u0021-\u007e]/.test(raw)) return bad('non_ascii', 'the URL contains non-ASCII characters (IDN and confusable hosts are refused)');
  if (raw.includes('\\')) return bad('backslash', 'the URL contains a backslash');
  if (raw.includes('#')) return bad('fragment', 'the URL has a fragment');
  if (/%(2e|2f|5c|00|40|3a|25)/i.test(raw)) return bad('encoded_separator', 'the URL percent-encodes a dot, slash, backslash, colon, @, % or NUL');
  if (!/^https:\/\/[^/]/i.test(raw)) return bad('scheme', 'only https:// URLs are accepted');
  const authority = raw.slice('https://'.length).split(/[/?]/, 1)[0] ?? '';
  if (/(^|[.@])xn--/i.test(authority)) return bad('punycode', 'the host is an IDN (punycode) name');
  let u: URL;
  try { u = new URL(raw); } catch { return bad('unparseable', 'the URL does not parse'); }
  if (u.protocol !== 'https:') return bad('scheme', 'only https:// URLs are accepted');
  if (u.username || u.password || authority.includes('@')) return bad('userinfo', 'the URL carries user information (user:pass@host)');
  if (u.port !== '' || /:(?!443$)\d*$/.test(authority.replace(/^\[.*\]/, ''))) return bad('port', 'the URL names a port: only the default https port is accepted');
  const host = u.hostname.toLowerCase();
  if (host.endsWith('.')) return bad('trailing_dot', 'the host ends with a dot');
  if (host.split('.').some((l) => l.startsWith('xn--'))) return bad('punycode', 'the host is an IDN (punycode) name');
  const segments = pathSegments(u.pathname);
  if (!Array.isArray(segments)) return segments;
  return { ok: true, url: u.href, host, segments };
}

/**
 * The decoded segments of a URL path that the WHATWG parser has already normalized (`.` and `..` resolved).
 * Refused: an empty segment (`//`: servers collapse it, so `/org//x` could be served as `/org/x` or not) and
 * an escape that does not decode or decodes to a separator, a dot segment or a control character.
 * Percent-encoded letters are decoded (`/%6Frg/` is `/org/`): the server decodes them too.
 */
function pathSegments(pathname: string): string[] | Refusal {
  const raw = pathname.split('/').slice(1);
  if (raw.at(-1) === '') raw.pop(); // a trailing slash names the same place
  const out: string[] = [];
  for (const seg of raw) {
    if (seg === '') return bad('empty_segment', 'the URL path has an empty segment (//)');
    let d: string;
    try { d = decodeURIComponent(seg); } catch { return bad('bad_encoding', 'the URL path has a percent-escape that does not decode'); }
    if (d === '.' || d === '..' || /[/\\\u0000-\u001f\u007f]/.test(d)) return bad('encoded_separator', 'a URL path segment decodes to a separator, a dot segment or a control character');
    out.push(d);
  }
  return out;
}

/** The segments of a policy path prefix (`/org/`, `/org/repo`): validated by the schema, split the same way. */
export const prefixSegments = (prefix: string): string[] => prefix.split('/').filter((p) => p !== '');

/** How an entry reads in a rule and in the catalog: `huggingface.co/org/`, `*.hf.co`, `huggingface.co`. */
export function entryLabel(e: SourceEntry): string {
  const host = `${e.subdomains ? '*.' : ''}${e.host.toLowerCase()}`;
  return e.path_prefix === undefined ? host : `${host}/${prefixSegments(e.path_prefix).join('/')}/`;
}

/** An IP literal host in canonical form, or null (the parser already turned 0x7f.1 into 127.0.0.1). */
function ipLiteral(host: string): string | null {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(h) ? h : null;
}

export type SourceDecision = { allowed: true; url: string; host: string; rule: string } | { allowed: false; url: string | null; rule: string; reason: string };

const hostMatches = (e: SourceEntry, host: string): boolean => {
  const h = e.host.toLowerCase();
  return host === h || (e.subdomains && host.endsWith(`.${h}`));
};

/**
 * Whether `raw` may be fetched. `hop` says whether it is the URL asked for (`origin`, also what stage 1
 * judges) or where an allowed URL redirected (`redirect`): `redirect_only` entries match only the latter.
 */
export function checkSource(raw: string, list: SourcesAllowlist, hop: 'origin' | 'redirect' = 'origin'): SourceDecision {
  const c = canonicalizeUrl(raw);
  if (!c.ok) return { allowed: false, url: null, rule: c.rule, reason: c.reason };
  const ip = ipLiteral(c.host);
  if (ip) {
    return list.ip_literals.includes(ip)
      ? { allowed: true, url: c.url, host: ip, rule: `ip_literals: ${ip}` }
      : { allowed: false, url: c.url, rule: 'ip_literal', reason: `${ip} is an IP literal that is not allowlisted` };
  }
  const onHost = list.sources.filter((e) => hostMatches(e, c.host));
  const usable = onHost.filter((e) => hop === 'redirect' || !e.redirect_only);
  for (const e of usable) {
    const want = e.path_prefix === undefined ? [] : prefixSegments(e.path_prefix);
    if (want.length <= c.segments.length && want.every((p, i) => c.segments[i] === p)) {
      return { allowed: true, url: c.url, host: c.host, rule: `sources: ${entryLabel(e)}` };
    }
  }
  if (onHost.length && !usable.length) {
    return { allowed: false, url: c.url, rule: 'redirect_only', reason: `${c.host} is allowlisted only as the target of a redirect from an allowed URL (redirect_only), not to be asked for directly` };
  }
  if (usable.length) {
    return { allowed: false, url: c.url, rule: 'path_not_allowlisted', reason: `${c.host}/${c.segments.join('/').slice(0, 200)} is not under an allowlisted path of ${c.host} (${usable.map(entryLabel).join(', ').slice(0, 300)})` };
  }
  return { allowed: false, url: c.url, rule: 'not_allowlisted', reason: `${c.host} is not in sources.allowlist` };
}

export const sourceStage: StageRunner<SourceOptions> = (artifact, options, progress) =>
  guarded('source', async (started) => {
    progress(100);
    if (artifact.origin.type === 'local') {
      return stageResult('source', started, options.local, 'local import, no provenance', { origin: 'local', label: 'local import, no provenance', policy: options.local });
    }
    // A browser upload is a local import that came through the gateway: judged by the same policy.
    if (artifact.origin.type === 'upload') {
      return stageResult('source', started, options.local, 'browser upload, no provenance', { origin: 'upload', label: 'browser upload, no provenance', policy: options.local });
    }
    const d = checkSource(artifact.origin.url, options.allowlist);
    return d.allowed
      ? stageResult('source', started, 'pass', `${d.host} is allowlisted (${d.rule})`, { origin: 'url', url: d.url, host: d.host, rule: d.rule })
      : stageResult('source', started, 'fail', `origin refused: ${d.reason}`, { origin: 'url', given: artifact.origin.url.slice(0, 512), canonical: d.url, rule: d.rule });
  });
