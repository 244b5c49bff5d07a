// Generates nats-server's config: loopback only, JetStream under SECAI_HOME/bus, one nkey user per identity.
import type { CompiledIdentity } from './acl.js';
import { BUS_LIMITS, connectionSlots, hardOpenFileLimit } from './conn-limits.js';

export interface ServerConfigInput {
  port: number;
  storeDir: string;
  identities: readonly (CompiledIdentity & { publicKey: string })[];
  maxPayload?: number;
  portsDir: string;
  /** Connection slots; by default as many as the fd limit allows (bus/conn-limits.ts). */
  maxConnections?: number;
  /**
   * false: no JetStream (core NATS only). The supervisor runs this while the disk is full: nats-server 2.9.10
   * deadlocks in its file store when a JetStream write fails with ENOSPC, and every connection publishing a recorded
   * subject stalls with it; without JetStream those publishes fail at once and the events wait in the outboxes.
   */
  jetstream?: boolean;
}

/** nats-server reads JSON as a config file; the output is checked with `nats-server -t` in tests. */
export function renderServerConfig(input: ServerConfigInput): string {
  const config = {
    host: '127.0.0.1',
    port: input.port,
    // No monitoring, cluster, gateway, leafnode or websocket listeners: the client port is the only socket.
    max_payload: input.maxPayload ?? 1024 * 1024,
    // A slot is held from accept until CONNECT or the auth timeout: see bus/conn-limits.ts for the arithmetic.
    max_connections: input.maxConnections ?? connectionSlots(hardOpenFileLimit()),
    ports_file_dir: input.portsDir,
    write_deadline: '10s',
    ...(input.jetstream !== false && { jetstream: { store_dir: input.storeDir, max_memory_store: 64 * 1024 * 1024, max_file_store: 4 * 1024 * 1024 * 1024 } }),
    authorization: {
      timeout: BUS_LIMITS.authTimeoutS,
      users: input.identities.map((id) => ({ nkey: id.publicKey, permissions: id.permissions })),
    },
  };
  return JSON.stringify(config, null, 2) + '\n';
}
