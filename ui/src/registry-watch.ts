// Decides, from what arrives on the live stream, when the Models page's registry list is stale: pure, no timers.
import type { AuditRecord } from './types.js';

/**
 * The registry's own events that change its list (actors/registry/manifest.ts `publishes`). Whoever
 * caused them (the quarantine, a web session, a signed `securectl models rm`), the registry says so.
 * `verify_failed` is not here: a failed check leaves the entry in the list.
 */
export const REGISTRY_CHANGES = ['secai.evt.registry.promoted', 'secai.evt.registry.removed'] as const;

/** Does this audit record mean the registry's list of models changed? Commands (`secai.cmd.registry.rm`) do not: only the event says it happened. */
export function changesRegistry(r: Pick<AuditRecord, 'subject'>): boolean {
  return (REGISTRY_CHANGES as readonly string[]).includes(r.subject);
}

/** What the page hears from the live stream (ui/src/live.ts). */
export type LiveEvent =
  | { type: 'audit'; record: Pick<AuditRecord, 'subject'> }
  | { type: 'gap' }
  | { type: 'status'; connected: boolean };

/** Whether the stream has been connected, and whether it is now. */
export interface WatchState { wasConnected: boolean; connected: boolean }

export const initialWatch: WatchState = { wasConnected: false, connected: false };

/**
 * One step: the next state, and whether the list must be read again. Besides a registry event, a
 * `gap` (records skipped in a burst) and a reconnection (records missed while the stream was down)
 * may hide one, so they count as a change too: reading the list once too often is cheap, showing a
 * removed model is not.
 */
export function watchRegistry(w: WatchState, e: LiveEvent): { state: WatchState; stale: boolean } {
  switch (e.type) {
    case 'audit': return { state: w, stale: changesRegistry(e.record) };
    case 'gap': return { state: w, stale: true };
    case 'status': return {
      state: { wasConnected: w.wasConnected || e.connected, connected: e.connected },
      // Only a return after a loss: the first connection is covered by the list the page has just read.
      stale: e.connected && !w.connected && w.wasConnected,
    };
  }
}
