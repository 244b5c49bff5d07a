// An actor's policy section: fetched from the policy actor at start, refetched and applied on every reload that changed it.
import type { BusClient } from '../bus/client.js';
import { onEvent } from '../bus/events.js';
import { check } from '../bus/schema.js';
import { ErrorCode, SecaiError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { validateValue } from '../policy/load.js';
import { reloadedEvent, sectionReply, type ReloadedEvent } from '../policy/sections-contract.js';
import { sectionDigest, type PolicySections, type SectionName } from '../policy/sections.js';

export interface ConfigSection<K extends SectionName> {
  readonly name: K;
  /** The section in force for this actor (validated, frozen). */
  readonly value: PolicySections[K];
  readonly digest: string;
  /** The digest of the whole policy.yaml this section was last fetched from. */
  readonly policyDigest: string;
  /**
   * Refetches now and applies a change: for an actor that learns of a new policy from a decision's
   * `policyDigest` before the reloaded event arrives, so its limits and the decision come from one policy.
   */
  refresh(): Promise<void>;
  /** Stops following reloads. */
  close(): void;
}

type Apply<K extends SectionName> = (value: PolicySections[K], digest: string) => void | Promise<void>;

/** Section name → digest of what this process applies now: reported by ping (runtime/host.ts). */
const applied = new Map<string, string>();
export const appliedSections = (): Record<string, string> => Object.fromEntries(applied);

/** How long an actor waits at start for the policy actor to answer (it may start a moment later). */
const START_WAIT_MS = 30_000;

/**
 * Fetches one section, checks it (the reply schema, the section's own JSON Schema, the digest over what
 * arrived) and freezes it. The policy actor is the only responder the ACL lets serve `policy.section`.
 */
async function fetchSection<K extends SectionName>(bus: BusClient, name: K): Promise<{ value: PolicySections[K]; digest: string; policyDigest: string }> {
  const reply = check<{ name: string; digest: string; value: unknown; policyDigest: string }>(sectionReply, await bus.request('policy', 'section', { name }), 'policy.section reply');
  if (reply.name !== name) throw new SecaiError(ErrorCode.BAD_MESSAGE, `asked for policy section '${name}', got '${reply.name}'`);
  const value = validateValue<PolicySections[K]>(reply.value, `policy/${name}.schema.json`, `policy section ${name}`);
  if (sectionDigest(value) !== reply.digest) throw new SecaiError(ErrorCode.DIGEST_MISMATCH, `policy section '${name}' does not match its digest`);
  return { value, digest: reply.digest, policyDigest: reply.policyDigest };
}

/** One fetch at start (waiting for the policy actor), for a machine's initial context; `configSection` follows reloads. */
export async function readSection<K extends SectionName>(ctx: { bus: BusClient; log: Logger }, name: K): Promise<PolicySections[K]> {
  return (await fetchAtStart(ctx.bus, name, ctx.log)).value;
}

async function fetchAtStart<K extends SectionName>(bus: BusClient, name: K, log: Logger) {
  const deadline = Date.now() + START_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await fetchSection(bus, name);
    } catch (err) {
      // Only an absent policy actor is worth waiting for; a malformed answer stops the actor (fail closed).
      const code = (err as SecaiError).code;
      if ((code !== ErrorCode.NO_RESPONDER && code !== ErrorCode.TIMEOUT && code !== ErrorCode.REQUEST_TIMEOUT) || Date.now() > deadline) throw err;
      log.debug({ section: name }, 'policy actor not answering yet');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * `configSection(ctx, 'vault', apply)`: resolves with the section once fetched and applied; later, for each
 * `policy.reloaded` that names the section, refetches it and applies it again. The event only says *that*
 * the section changed (its publisher is checked by the bus ACL and its shape by onEvent); the values always
 * come from the policy actor's reply, so a stray event can at most cause a refetch. A refetch that fails
 * keeps the section in force and is logged.
 */
export async function configSection<K extends SectionName>(
  ctx: { bus: BusClient; log: Logger }, name: K, apply: Apply<K>,
): Promise<ConfigSection<K>> {
  let current = await fetchAtStart(ctx.bus, name, ctx.log);
  await apply(current.value, current.digest);
  applied.set(name, current.digest);
  // One refetch at a time, in order: an older answer never overwrites a newer one.
  let chain: Promise<void> = Promise.resolve();
  const refresh = (restart?: ReloadedEvent['restart'][number]): Promise<void> => {
    const run = chain.then(async () => {
      const next = await fetchSection(ctx.bus, name);
      const changed = next.digest !== current.digest;
      // The handle shows the new section before `apply` runs, so `apply` may read it (value and policyDigest).
      current = next;
      if (changed) {
        await apply(next.value, next.digest);
        applied.set(name, next.digest);
        ctx.log.info({ section: name, digest: next.digest, ...(restart && { restart }) }, 'policy section applied');
      }
    });
    // A failed refetch does not block the next one; its error goes to whoever awaits `run` (the event handler logs it).
    chain = run.catch(() => undefined); // lint-ok: reported through `run`
    return run;
  };
  const sub = onEvent(ctx.bus, 'policy', 'reloaded', reloadedEvent, ctx.log, async (ev) => {
    if (!ev.changed.includes(name)) return;
    await refresh(ev.restart.find((r) => r.section === name)).catch((err: unknown) => {
      ctx.log.error({ err, section: name }, 'policy section not applied: the previous one stays in force');
    });
  });
  return {
    name,
    get value() { return current.value; },
    get digest() { return current.digest; },
    get policyDigest() { return current.policyDigest; },
    refresh: () => refresh(),
    close: () => sub.unsubscribe(),
  };
}
