// Who will read a reply: the identity named by the reply subject's inbox prefix, and nothing for anything else.
import t from 'tap';
import { inboxIdentity, inboxPrefix } from '../../bus/subjects.js';

t.test('inboxIdentity — the identity of an inbox reply subject; undefined for anything else', async (t) => {
  t.equal(inboxIdentity(`${inboxPrefix('gateway')}.abc123.4`), 'gateway');
  t.equal(inboxIdentity('_INBOX.tool-firewall.x'), 'tool-firewall');
  t.equal(inboxIdentity('_INBOX.cli.Yb9Ftq2Ld8sKp0wQm3Zr1A.Xy7k'), 'cli', 'a muxed request inbox: base and token');
  for (const bad of [undefined, '', '_INBOX.gateway', '_INBOX..x', '_INBOX.Gateway.x', '_INBOX.9gw.x', 'secai.vault.get', ' _INBOX.gateway.x', `_INBOX.${'a'.repeat(49)}.x`,
    // Wildcards, empty tokens and trailing junk name no single inbox.
    '_INBOX.gateway.>', '_INBOX.gateway.*', '_INBOX.gateway.a.>', '_INBOX.gateway.a..b', '_INBOX.gateway.a.', '_INBOX.gateway.a b', '_INBOX.gateway.a.b.c.d.e']) {
    t.equal(inboxIdentity(bad), undefined, JSON.stringify(bad));
  }
});
