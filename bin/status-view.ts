// The human-readable form of the supervisor's status reply.

export interface HealthReply {
  ok: boolean;
  state: 'ok' | 'degraded' | 'degraded_storage';
  reasons: string[];
  storage: { state: 'ok' | 'degraded_storage'; freeMb: number; minFreeMb: number };
}

export interface StatusReply {
  appliance: { pid: number; uptimeMs: number; home: string; headless: boolean; version: string; bus: { url: string; pid: number; restarts: number; responsive: boolean }; unpublishedEvents?: number };
  health: HealthReply;
  actors: { name: string; pid: number; running: boolean; ready: boolean; restarts: number; uptimeMs: number; state: unknown; status: string; lastEvent: string; unpublishedEvents?: number; slot: string; reason: string }[];
}

export function renderStatus(r: StatusReply, fmt: (ms: number) => string): string {
  const lines = [
    `appliance  pid ${r.appliance.pid}, up ${fmt(r.appliance.uptimeMs)}, ${r.appliance.headless ? 'headless' : 'with UI'}, home ${r.appliance.home}`,
    `bus        ${r.appliance.bus.url} (nats-server pid ${r.appliance.bus.pid}, ${r.appliance.bus.restarts} restarts${r.appliance.bus.responsive ? '' : ', NOT ANSWERING'})`,
    `health     ${r.health.ok ? 'ok' : r.health.state.toUpperCase()}, storage ${r.health.storage.state} (${Math.round(r.health.storage.freeMb)} MiB free, minimum ${r.health.storage.minFreeMb})`,
    ...r.health.reasons.map((x) => `           - ${x}`),
    '',
    ['actor'.padEnd(14), 'slot'.padEnd(13), 'state'.padEnd(28), 'pid'.padEnd(8), 'restarts'.padEnd(9), 'uptime'].join(' '),
  ];
  for (const a of r.actors) {
    const state = a.ready ? JSON.stringify(a.state) : a.reason || '-';
    lines.push([a.name.padEnd(14), (a.slot === 'ready' ? 'ready' : a.slot.toUpperCase()).padEnd(13), state.slice(0, 28).padEnd(28), String(a.pid).padEnd(8), String(a.restarts).padEnd(9), a.ready ? fmt(a.uptimeMs) : '-'].join(' '));
  }
  // Shown only when something was lost: an event that could not be published is a gap in the audit record.
  const lost = [
    ...(r.appliance.unpublishedEvents ? [`supervisor ${r.appliance.unpublishedEvents}`] : []),
    ...r.actors.filter((a) => a.unpublishedEvents).map((a) => `${a.name} ${a.unpublishedEvents}`),
  ];
  if (lost.length) lines.push('', `events NOT published (see the actors' logs): ${lost.join(', ')}`);
  return lines.join('\n') + '\n';
}
