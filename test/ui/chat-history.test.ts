// The Chat page's history helpers: ids the gateway accepts, titles from the first question.
import t from 'tap';
import { CHAT_ID } from '../../actors/gateway/routes/chats.js';
import { chatTitle, newChatId } from '../../ui/src/chat-history.js';

t.test('ui chat history — new ids are unique and of the shape the gateway accepts', async (t) => {
  const ids = new Set(Array.from({ length: 100 }, () => newChatId()));
  t.equal(ids.size, 100);
  for (const id of ids) t.ok(CHAT_ID.test(id), id);
});

t.test('ui chat history — the title is the first question on one line, at most 60 characters', async (t) => {
  t.equal(chatTitle([]), 'New chat');
  t.equal(chatTitle([{ role: 'assistant', content: 'hi' }]), 'New chat');
  t.equal(chatTitle([{ role: 'user', content: '  what\nis   this?  ' }, { role: 'user', content: 'second' }]), 'what is this?');
  const long = chatTitle([{ role: 'user', content: 'x'.repeat(100) }]);
  t.equal(long.length, 60);
  t.ok(long.endsWith('…'));
});
