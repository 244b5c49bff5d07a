// The Security page's incident list kept live: a list read once, then every transition the gateway streams applied in order.

export type IncidentState = 'open' | 'contained' | 'escalated' | 'acknowledged' | 'resolved';
export interface Step { action: string; status: 'pending' | 'done' | 'failed' | 'skipped'; detail: string; at: number | null }
export interface IncidentSummary {
  id: string; class: string; key: string; severity: string; state: IncidentState; summary: string; count: number;
  firstSeen: number; lastSeen: number; steps: Step[]; escalation: string | null; target: Record<string, unknown>;
}
/** One `incident` event of GET /api/incidents/events. */
export interface IncidentEvent { kind: 'opened' | 'contained' | 'escalated' | 'acknowledged' | 'resolved' | 'updated'; incident: IncidentSummary; reason: string; by?: string; note?: string }

/**
 * Events that arrive while the list is being read are kept and applied on top of it, in order: the list was read after
 * the stream was live, so the last event about an incident is its latest state whatever the list said.
 */
export interface Feed { incidents: IncidentSummary[] | null; pending: IncidentEvent[] }

export const emptyFeed = (): Feed => ({ incidents: null, pending: [] });

const newestFirst = (a: IncidentSummary, b: IncidentSummary) => b.lastSeen - a.lastSeen || (a.id < b.id ? 1 : -1);

function upsert(list: IncidentSummary[], i: IncidentSummary): IncidentSummary[] {
  return [...list.filter((x) => x.id !== i.id), i].sort(newestFirst);
}

export function withEvent(f: Feed, e: IncidentEvent): Feed {
  if (f.incidents === null) return { ...f, pending: [...f.pending, e].slice(-500) };
  return { ...f, incidents: upsert(f.incidents, e.incident) };
}

export function withList(f: Feed, list: IncidentSummary[]): Feed {
  return { incidents: f.pending.reduce((acc, e) => upsert(acc, e.incident), [...list].sort(newestFirst)), pending: [] };
}

/** What an operator may do next, as the incident machine allows it: acknowledge once contained or escalated, resolve once acknowledged. */
export function nextActs(state: IncidentState): ('ack' | 'resolve')[] {
  if (state === 'contained' || state === 'escalated') return ['ack'];
  if (state === 'acknowledged') return ['resolve'];
  return [];
}
