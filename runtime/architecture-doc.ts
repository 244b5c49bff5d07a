// Renders the generated part of docs/architecture.md from the manifests, so the doc cannot drift from the ACL.
import { compileAcl } from '../bus/acl.js';
import type { ActorManifest } from '../bus/manifest.js';
import { effectiveManifest } from '../bus/standard-ops.js';
import { commandSubject, eventSubject, serveSubject } from '../bus/subjects.js';

export const BEGIN = '<!-- generated from the manifests by `npm run docs`; do not edit by hand -->';
export const END = '<!-- end of generated part -->';

export function renderArchitecture(manifests: readonly ActorManifest[]): string {
  const eff = manifests.map(effectiveManifest);
  const acl = new Map(compileAcl(manifests).map((c) => [c.name, c]));
  const out: string[] = [BEGIN, '', '### Identities', '', '| identity | kind | process entry | job |', '|---|---|---|---|'];
  for (const m of eff) out.push(`| \`${m.name}\` | ${m.kind} | ${m.entry ? `\`${m.entry.replace(/\.js$/, '.ts')}\`` : '—'} | ${m.description} |`);

  out.push('', '### Who may ask whom (request/reply)', '', '| requester | subject | served by |', '|---|---|---|');
  for (const m of eff) for (const r of m.requests) {
    const [a, op] = r.split('.') as [string, string];
    out.push(a === '*' ? `| \`${m.name}\` | \`secai.<actor>.${op}\` | every actor |` : `| \`${m.name}\` | \`${serveSubject(a, op)}\` | \`${a}\` |`);
  }

  out.push('', '### Who may subscribe whose events', '', '| subscriber | events |', '|---|---|');
  for (const m of eff) {
    const subs = [...m.subscribes.map((r) => `\`secai.evt.${r}\``), ...(m.watchesState ? ['`secai.state.*`'] : [])];
    if (subs.length) out.push(`| \`${m.name}\` | ${subs.join(', ')} |`);
  }

  for (const m of eff) {
    out.push('', `### \`${m.name}\``, '', m.description, '');
    const serves = Object.entries(m.serves);
    if (serves.length) {
      out.push('| serves | what |', '|---|---|');
      for (const [op, spec] of serves) out.push(`| \`${serveSubject(m.name, op)}\` | ${spec.description} |`);
      out.push('');
    }
    const cmds = Object.entries(m.commands);
    if (cmds.length) {
      out.push('| signed command | roles | what |', '|---|---|---|');
      for (const [op, spec] of cmds) out.push(`| \`${commandSubject(m.name, op)}\` | ${spec.roles.join(', ')} | ${spec.description} |`);
      out.push('');
    }
    const evs = Object.keys(m.publishes);
    if (evs.length) out.push(`Publishes: ${evs.map((e) => `\`${eventSubject(m.name, e)}\``).join(', ')}.`, '');
    const perm = acl.get(m.name)!.permissions;
    out.push(`NATS permissions (compiled): publish ${perm.publish.allow.length} subjects, subscribe ${perm.subscribe.allow.length}; everything else is denied.`);
  }
  out.push('', END);
  return out.join('\n');
}

/** Replaces the generated part of a document (or appends it when the markers are missing). */
export function spliceGenerated(doc: string, generated: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) return doc.trimEnd() + '\n\n' + generated + '\n';
  return doc.slice(0, a) + generated + doc.slice(b + END.length);
}
