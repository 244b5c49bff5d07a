// Chat history helpers (pure): conversation ids the gateway accepts and a title from the first question.

/** A random id of the shape the gateway accepts (8–64 of A-Z a-z 0-9 _ -). */
export function newChatId(): string {
  return crypto.randomUUID();
}

/** The first user message, on one line, at most 60 characters; "New chat" when there is none. */
export function chatTitle(messages: readonly { role: string; content: string }[]): string {
  const first = messages.find((m) => m.role === 'user')?.content.replace(/\s+/g, ' ').trim() ?? '';
  if (!first) return 'New chat';
  return first.length > 60 ? `${first.slice(0, 59)}…` : first;
}
