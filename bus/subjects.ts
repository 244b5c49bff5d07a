// The only place SecAI subjects are spelled. Everything else builds them through these helpers.

const TOKEN = /^[a-z][a-z0-9_-]{0,47}$/;

/** Actor names and ops are single subject tokens: no dots, no wildcards, lowercase. */
export function isToken(s: string): boolean {
  return TOKEN.test(s);
}

function token(s: string, what: string): string {
  if (!isToken(s)) throw new Error(`invalid ${what} '${s}': want ${TOKEN.source}`);
  return s;
}

/** Request/reply served by `actor`. */
export const serveSubject = (actor: string, op: string) => `secai.${token(actor, 'actor')}.${token(op, 'op')}`;
/** Facts `actor` publishes (also tapped into the audit chain). */
export const eventSubject = (actor: string, event: string) => `secai.evt.${token(actor, 'actor')}.${token(event, 'event')}`;
/** Signed operator commands to `actor`. */
export const commandSubject = (actor: string, op: string) => `secai.cmd.${token(actor, 'actor')}.${token(op, 'op')}`;
/** XState snapshots of `actor`, one per transition. */
export const stateSubject = (actor: string) => `secai.state.${token(actor, 'actor')}`;
/** Reply inbox prefix: no identity may subscribe another's. */
export const inboxPrefix = (actor: string) => `_INBOX.${token(actor, 'actor')}`;
const INBOX = /^_INBOX\.([a-z][a-z0-9_-]{0,47})(?:\.[A-Za-z0-9_-]{1,64}){1,4}$/;
/**
 * The identity whose inbox a reply subject is in (`_INBOX.<identity>.<token>[.<token>…]`, no wildcards),
 * or undefined for anything else. Only that identity may READ replies there (ACL); NATS does not check
 * the reply subject on publish, so it names who will read the answer, not who asked.
 */
export function inboxIdentity(replyTo: string | undefined): string | undefined {
  return INBOX.exec(replyTo ?? '')?.[1];
}

export const ALL_EVENTS = 'secai.evt.>';
export const ALL_COMMANDS = 'secai.cmd.>';
export const ALL_STATES = 'secai.state.*';

/** A subject pattern for the events of an actor: `quarantine.*` or `quarantine.stage`. */
export function eventPattern(ref: string): string {
  const [actor, event, ...rest] = ref.split('.');
  if (!actor || !event || rest.length) throw new Error(`invalid event reference '${ref}': want <actor>.<event|*>`);
  if (actor !== '*') token(actor, 'actor');
  if (event !== '*') token(event, 'event');
  return `secai.evt.${actor}.${event}`;
}

export interface ParsedSubject {
  kind: 'serve' | 'event' | 'command' | 'state';
  actor: string;
  op: string;
}

export function parseSubject(subject: string): ParsedSubject | undefined {
  const p = subject.split('.');
  if (p[0] !== 'secai') return undefined;
  if (p.length === 4 && (p[1] === 'evt' || p[1] === 'cmd') && isToken(p[2]!) && isToken(p[3]!)) {
    return { kind: p[1] === 'evt' ? 'event' : 'command', actor: p[2]!, op: p[3]! };
  }
  if (p.length === 3 && p[1] === 'state' && isToken(p[2]!)) return { kind: 'state', actor: p[2]!, op: '' };
  if (p.length === 3 && isToken(p[1]!) && isToken(p[2]!)) return { kind: 'serve', actor: p[1]!, op: p[2]! };
  return undefined;
}

/** JetStream streams of the subject-level audit tap (see actors/audit). */
export const AUDIT_STREAMS = {
  events: { name: 'AUDIT_EVT', subjects: [ALL_EVENTS] },
  // no_ack: commands are requests; a stream ack would race the actor's reply to the requester.
  commands: { name: 'AUDIT_CMD', subjects: [ALL_COMMANDS] },
} as const;

/** The audit actor's durable consumer on each tap stream. */
export const AUDIT_CONSUMER = 'audit';
