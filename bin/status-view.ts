// The human-readable form of the supervisor's status reply.

export interface StatusReply {
  appliance: { pid: number; uptimeMs: number; home: string; headless: boolean; version: string; bus: { url: string; pid: number; restarts: number } };
  actors: { name: string; pid: number; running: boolean; ready: boolean; restarts: number; uptimeMs: number; state: unknown; status: string; lastEvent: string }[];
}

export function renderStatus(r: StatusReply, fmt: (ms: number) => string): string {
  const lines = [
    `appliance  pid ${r.appliance.pid}, up ${fmt(r.appliance.uptimeMs)}, ${r.appliance.headless ? 'headless' : 'with UI'}, home ${r.appliance.home}`,
    `bus        ${r.appliance.bus.url} (nats-server pid ${r.appliance.bus.pid}, ${r.appliance.bus.restarts} restarts)`,
    '',
    ['actor'.padEnd(14), 'state'.padEnd(28), 'pid'.padEnd(8), 'restarts'.padEnd(9), 'uptime'].join(' '),
  ];
  for (const a of r.actors) {
    const state = a.ready ? JSON.stringify(a.state) : a.running ? 'starting' : 'DOWN';
    lines.push([a.name.padEnd(14), state.slice(0, 28).padEnd(28), String(a.pid).padEnd(8), String(a.restarts).padEnd(9), a.ready ? fmt(a.uptimeMs) : '-'].join(' '));
  }
  return lines.join('\n') + '\n';
}
