// Detections derived from the other actors' own events: each function reads one event's real payload and says whether it is an incident's cause.
import type { Detection } from '../../contracts/detection.js';
import { ErrorCode } from '../../common/errors.js';

type D = Detection | null;
const cut = (s: string, n = 1024) => s.slice(0, n);

/**
 * A refused signed command (every actor publishes `command_rejected`). A command from a key that holds a role
 * too small for it is an operator reaching past their role: policy_bypass_attempt. Everything else (a forged or
 * invalid signature, an unknown key, a replayed nonce, an envelope out of its window or signed for another subject)
 * is someone without a valid operator key trying to act as one: unauthorized_access. An expired envelope counts: a
 * replay of a captured envelope after the nonce window surfaces as EXPIRED.
 */
export function fromCommandRejected(actor: string, e: { subject: string; code: string; reason: string; keyId: string; nonce: string }, at: number): D {
  const bypass = e.code === ErrorCode.UNAUTHORIZED;
  return {
    class: bypass ? 'policy_bypass_attempt' : 'unauthorized_access',
    key: cut(`command:${e.keyId || 'no-key'}`, 256),
    summary: cut(`${actor} refused a signed command on ${e.subject}: ${e.code} (${e.reason})`),
    severity: 'high',
    evidence: { actor, subject: e.subject, code: e.code, reason: e.reason, keyId: e.keyId, nonce: e.nonce },
    target: e.keyId ? { identity: cut(e.keyId, 64) } : {},
    at,
  };
}

/** The login throttle tripped (a client's lockout or the global ceiling): someone is guessing the passphrase. */
export function fromGuessBurst(e: { client: string; scope: string; failures: number; total: number; windowMs: number; at: number }): D {
  return {
    class: 'unauthorized_access', key: cut(`login:${e.scope === 'global' ? 'global' : e.client}`, 256),
    summary: cut(`passphrase guessing: ${e.failures} failures (${e.scope}, ${e.total} in ${e.windowMs} ms)`),
    severity: 'high', evidence: { ...e }, target: {}, at: e.at,
  };
}

/** `audit verify` found the chain broken (an edited, truncated or rolled-back record). */
export function fromChainBroken(e: { records: number; brokenAt?: number; line?: number; reason?: string; expected?: string; found?: string; at: number }): D {
  return {
    class: 'integrity_violation', key: 'audit-chain',
    summary: cut(`the audit chain is broken${e.line !== undefined ? ` at line ${e.line}` : ''}: ${e.reason ?? 'no reason given'}`),
    severity: 'critical', evidence: { ...e }, target: {}, at: Math.trunc(e.at),
  };
}

/** A registry model no longer matches the signed manifest (re-hash before load, or `models verify`). */
export function fromVerifyFailed(e: { name: string; ok: boolean; sha256: string; actual: unknown; reason: string }, at: number): D {
  if (e.ok) return null;
  return {
    class: 'manifest_mismatch', key: cut(`model:${e.name}`, 256), summary: cut(`model ${e.name} does not match the signed manifest: ${e.reason}`),
    severity: 'high', evidence: { name: e.name, expected: e.sha256, actual: e.actual, reason: e.reason }, target: { model: cut(e.name, 128) }, at,
  };
}

/** Inference refused to load a model whose digest does not match (other refusals, e.g. an invalid file, are not incidents). */
export function fromModelRefused(e: { name: string; code: string; reason: string }, at: number): D {
  if (e.code !== ErrorCode.DIGEST_MISMATCH) return null;
  return {
    class: 'manifest_mismatch', key: cut(`model:${e.name}`, 256), summary: cut(`inference refused ${e.name}: ${e.reason}`),
    severity: 'high', evidence: { ...e }, target: { model: cut(e.name, 128) }, at,
  };
}

/** A refused egress request (the airlock's own verdict; an allowed or asked one is not an incident). */
export function fromEgress(e: { decision: string; rule: string; reason?: string; method: string; origin: string; findings: unknown[] }, at: number): D {
  if (e.decision !== 'deny') return null;
  return {
    class: 'forbidden_airlock_request', key: cut(`origin:${e.origin}`, 256),
    summary: cut(`the airlock refused ${e.method} ${e.origin} (rule ${e.rule})${e.reason ? `: ${e.reason}` : ''}`),
    severity: 'medium', evidence: { decision: e.decision, rule: e.rule, reason: e.reason ?? '', method: e.method, origin: e.origin, findings: e.findings.slice(0, 16) },
    target: {}, at,
  };
}

interface StageResult { stage?: unknown; verdict?: unknown; reason?: unknown; evidence?: unknown }

/**
 * A quarantine verdict whose behavioral stage (6) failed or warned: the model misbehaves under test. A hit of the
 * injection-marker detector (the model obeyed an injected instruction) is prompt_injection; the rest
 * model_behavior_anomaly. The hits decide, not the evidence's text: every run's evidence names the prompt_injection
 * category and its prompts, so a text search would call every stage-6 failure an injection.
 */
export function fromVerdict(e: { id: string; name: string; outcome: string; reason: string; results: Record<string, unknown>[] }, at: number): D {
  const b = (e.results as StageResult[]).find((r) => r.stage === 'behavioral');
  if (!b || (b.verdict !== 'fail' && b.verdict !== 'warn')) return null;
  const probes = (b.evidence as { probes?: { hits?: { detector?: unknown }[] }[] } | undefined)?.probes;
  const injection = Array.isArray(probes) && probes.some((p) => Array.isArray(p?.hits) && p.hits.some((h) => h?.detector === 'injection_marker'));
  return {
    class: injection ? 'prompt_injection' : 'model_behavior_anomaly', key: cut(`model:${e.name}`, 256),
    summary: cut(`stage 6 (behavioral) ${String(b.verdict)} for ${e.name}: ${String(b.reason ?? '')}`),
    severity: b.verdict === 'fail' ? 'high' : 'medium',
    evidence: { job: e.id, outcome: e.outcome, verdict: b.verdict, reason: String(b.reason ?? ''), findings: b.evidence ?? {} },
    target: { model: cut(e.name, 128) }, at,
  };
}

/** The supervisor saw an identity publish or subscribe outside its ACL (the nats-server's permission violation). */
export function fromPermissionViolation(e: { identity: string; subject: string; kind: string }, at: number): D {
  return {
    class: 'policy_bypass_attempt', key: cut(`identity:${e.identity}`, 256),
    summary: cut(`${e.identity} tried to ${e.kind} ${e.subject} outside its ACL`),
    severity: 'high', evidence: { ...e }, target: { identity: cut(e.identity, 64) }, at,
  };
}
