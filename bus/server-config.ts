// Generates nats-server's config: loopback only, JetStream under SECAI_HOME/bus, one nkey user per identity.
import type { CompiledIdentity } from './acl.js';

export interface ServerConfigInput {
  port: number;
  storeDir: string;
  identities: readonly (CompiledIdentity & { publicKey: string })[];
  maxPayload?: number;
  portsDir: string;
}

/** nats-server reads JSON as a config file; the output is checked with `nats-server -t` in tests. */
export function renderServerConfig(input: ServerConfigInput): string {
  const config = {
    host: '127.0.0.1',
    port: input.port,
    // No monitoring, cluster, gateway, leafnode or websocket listeners: the client port is the only socket.
    max_payload: input.maxPayload ?? 1024 * 1024,
    max_connections: 256,
    ports_file_dir: input.portsDir,
    write_deadline: '10s',
    jetstream: { store_dir: input.storeDir, max_memory_store: 64 * 1024 * 1024, max_file_store: 4 * 1024 * 1024 * 1024 },
    authorization: {
      users: input.identities.map((id) => ({ nkey: id.publicKey, permissions: id.permissions })),
    },
  };
  return JSON.stringify(config, null, 2) + '\n';
}
