// Turns protocol chat messages into node-llama-cpp's chat history, ending with the model's empty turn to generate.
import type { ChatHistoryItem } from 'node-llama-cpp';
import type { ChatMessage } from '../protocol.js';

export function history(messages: ChatMessage[]): ChatHistoryItem[] {
  const h: ChatHistoryItem[] = messages.map((c): ChatHistoryItem =>
    c.role === 'system' ? { type: 'system', text: c.content }
      : c.role === 'user' ? { type: 'user', text: c.content }
        : { type: 'model', response: [c.content] });
  h.push({ type: 'model', response: [] });
  return h;
}
