// Prepares the bus for an appliance: identities, compiled ACL, server config, and the audit tap streams.
import { mkdirSync, writeFileSync } from 'node:fs';
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { compileAcl } from '../bus/acl.js';
import { ensureIdentity, type Identity } from '../bus/identities.js';
import type { ActorManifest } from '../bus/manifest.js';
import { renderServerConfig } from '../bus/server-config.js';
import { writeCallers } from '../bus/callers-file.js';
import { AUDIT_CONSUMER, AUDIT_STREAMS } from '../bus/subjects.js';
import type { HomePaths } from '../common/paths.js';



/** Writes nats.conf (and nats-nojs.conf, the same without JetStream) for `port` and returns every identity (created on first start, 0600). */
export function prepareBus(paths: HomePaths, manifests: readonly ActorManifest[], port: number): Map<string, Identity> {
  for (const d of [paths.home, paths.bus, paths.jetstream, paths.keys, paths.busKeys, paths.audit, paths.run]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const compiled = compileAcl(manifests);
  const ids = new Map<string, Identity>();
  for (const c of compiled) ids.set(c.name, ensureIdentity(paths.busKeys, c.name));
  const input = {
    port,
    storeDir: paths.jetstream,
    portsDir: paths.run,
    identities: compiled.map((c) => ({ ...c, publicKey: ids.get(c.name)!.publicKey })),
  };
  writeFileSync(paths.busConfig, renderServerConfig(input), { mode: 0o600 });
  writeFileSync(paths.busConfigNoJetStream, renderServerConfig({ ...input, jetstream: false }), { mode: 0o600 });
  writeCallers(paths.busCallers, compiled);
  return ids;
}

/** Creates (or updates) the tap streams and the audit actor's durable consumers. */
export async function ensureAuditStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const streams = [
    { ...AUDIT_STREAMS.events, no_ack: false },
    { ...AUDIT_STREAMS.commands, no_ack: true },
  ];
  for (const st of streams) {
    const cfg = {
      name: st.name,
      subjects: [...st.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 7 * 24 * 3600 * 1e9,
      max_bytes: 1024 * 1024 * 1024,
      no_ack: st.no_ack,
    };
    try {
      await jsm.streams.info(st.name);
      await jsm.streams.update(st.name, cfg);
    } catch {
      await jsm.streams.add(cfg);
    }
    // A short ack wait: when the audit actor dies mid-batch, the restarted one gets the batch again
    // within seconds (duplicates are dropped by stream sequence).
    const consumer = {
      durable_name: AUDIT_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 3 * 1e9,
      max_ack_pending: 10_000,
    };
    try {
      await jsm.consumers.info(st.name, AUDIT_CONSUMER);
      await jsm.consumers.update(st.name, AUDIT_CONSUMER, { ack_wait: consumer.ack_wait, max_ack_pending: consumer.max_ack_pending });
    } catch {
      await jsm.consumers.add(st.name, consumer);
    }
  }
}
