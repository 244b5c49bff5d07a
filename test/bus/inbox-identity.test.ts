// Who will read a reply: the identity named by the reply subject's inbox prefix, and nothing for anything else.
import t from 'tap';
import { inboxIdentity, inboxPrefix } from '../../bus/subjects.js';

t.test('inboxIdentity — the identity of an inbox reply subject; undefined for anything else', async (t) => {
  t.equal(inboxIdentity(`${inboxPrefix('gateway')}.abc123.4`), 'gateway');
  t.equal(inboxIdentity('_INBOX.tool-firewall.x'), 'tool-firewall');
  for (const bad of [undefined, '', '_INBOX.gateway', '_INBOX..x', '_INBOX.Gateway.x', '_INBOX.9gw.x', 'secai.vault.get', ' _INBOX.gateway.x', `_INBOX.${'a'.repeat(49)}.x`]) {
    t.equal(inboxIdentity(bad), undefined, JSON.stringify(bad));
  }
});
