// Chat history: each conversation is an encrypted vault record in the gateway's own namespace; a locked vault refuses (423).
import { serveOp } from '../../../bus/op-ref.js';
import { vaultManifest } from '../../../runtime/catalog.js';
import { check, s } from '../../../bus/schema.js';
import { ErrorCode, SecaiError } from '../../../common/errors.js';
import { readJson, sendJson, type Route } from '../http.js';
import type { GatewayDeps } from '../deps.js';


/** The UI makes ids (random, url-safe); anything else is refused before the vault is asked. */
export const CHAT_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** The largest conversation accepted: one HTTP body, one vault record, one bus message (the bus carries at most 1 MiB). */
export const MAX_CHAT_BYTES = 768 * 1024;
export const MAX_CHATS = 500;
const TITLE_MAX = 200;

const message = s.object({
  role: s.string({ enum: ['user', 'assistant'] }),
  content: s.string({ maxLength: MAX_CHAT_BYTES }),
  error: s.string({ maxLength: 1024 }),
}, ['error']);
/** What the browser sends: the whole conversation. */
export const conversationSchema = s.object({
  title: s.string({ minLength: 1, maxLength: TITLE_MAX }),
  model: s.string({ maxLength: 128 }),
  messages: s.array(message, 2000),
});

interface Message { role: 'user' | 'assistant'; content: string; error?: string }
export interface Conversation { title: string; model: string; messages: Message[] }
export interface StoredConversation extends Conversation { id: string; updatedAt: number }
interface ChatMeta { id: string; title: string; updatedAt: number }

const chatKey = (id: string) => `chats/${id}`;
const metaKey = (id: string) => `chats-meta/${id}`;

function chatId(raw: string | undefined): string {
  if (!raw || !CHAT_ID.test(raw)) throw new SecaiError(ErrorCode.USAGE, 'a chat id is 8 to 64 characters of A-Z a-z 0-9 _ -');
  return raw;
}

const encodeJson = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8');
const decodeJson = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString('utf8')) as T;

export function chatRoutes(d: GatewayDeps): Route[] {
  // Writes go put → ticket → commit: the ticket comes back only to the gateway's own inbox.
  /** A put with a value, a delete without one. */
  const write = async (key: string, value?: Uint8Array) => {
    const { ticket } = value ? await d.bus.call(serveOp(vaultManifest, 'put'), { key, value }) : await d.bus.call(serveOp(vaultManifest, 'delete'), { key });
    await d.bus.call(serveOp(vaultManifest, 'commit'), { ticket });
  };
  const read = async <T>(key: string): Promise<T> => {
    try {
      return decodeJson<T>((await d.bus.call(serveOp(vaultManifest, 'get'), { key })).value);
    } catch (err) {
      // The vault says UNKNOWN_OP for a key it does not hold.
      if ((err as SecaiError).code === ErrorCode.UNKNOWN_OP) throw new SecaiError(ErrorCode.CHAT_NOT_FOUND, 'no saved conversation with that id');
      throw err;
    }
  };
  const keys = async () => (await d.bus.call(serveOp(vaultManifest, 'list'), { prefix: 'chats' })).keys;

  return [
    {
      method: 'GET', path: '/api/chats', access: 'session',
      handler: async ({ res }) => {
        const all = await keys();
        const ids = all.filter((k) => k.startsWith('chats/')).map((k) => k.slice(6)).filter((id) => CHAT_ID.test(id));
        const metas = new Set(all.filter((k) => k.startsWith('chats-meta/')).map((k) => k.slice(11)));
        const chats = await Promise.all(ids.map(async (id): Promise<ChatMeta | null> => {
          try {
            // A conversation saved without its summary (a crash between the two writes) is read whole.
            const m = await read<ChatMeta | StoredConversation>(metas.has(id) ? metaKey(id) : chatKey(id));
            return { id, title: String(m.title).slice(0, TITLE_MAX), updatedAt: Number(m.updatedAt) || 0 };
          } catch (err) {
            if ((err as SecaiError).code === ErrorCode.CHAT_NOT_FOUND) return null;
            throw err;
          }
        }));
        sendJson(res, 200, { chats: chats.filter((c) => c !== null).sort((a, b) => b.updatedAt - a.updatedAt || a.id.localeCompare(b.id)) });
      },
    },
    {
      method: 'GET', path: '/api/chats/:id', access: 'session',
      handler: async ({ res, params }) => sendJson(res, 200, await read<StoredConversation>(chatKey(chatId(params.id)))),
    },
    {
      method: 'PUT', path: '/api/chats/:id', access: 'session',
      handler: async ({ req, res, params }) => {
        const id = chatId(params.id);
        const body = check<Conversation>(conversationSchema, await readJson(req, MAX_CHAT_BYTES), 'conversation');
        const all = await keys();
        if (!all.includes(chatKey(id)) && all.filter((k) => k.startsWith('chats/')).length >= MAX_CHATS) {
          throw new SecaiError(ErrorCode.INVALID_STATE, `${MAX_CHATS} conversations are saved: delete some first`);
        }
        const stored: StoredConversation = { id, title: body.title, model: body.model, messages: body.messages, updatedAt: Date.now() };
        await write(chatKey(id), encodeJson(stored));
        await write(metaKey(id), encodeJson({ id, title: stored.title, updatedAt: stored.updatedAt } satisfies ChatMeta));
        sendJson(res, 200, { id, title: stored.title, updatedAt: stored.updatedAt });
      },
    },
    {
      method: 'DELETE', path: '/api/chats/:id', access: 'session',
      handler: async ({ res, params }) => {
        const id = chatId(params.id);
        const all = await keys();
        if (!all.includes(chatKey(id)) && !all.includes(metaKey(id))) throw new SecaiError(ErrorCode.CHAT_NOT_FOUND, 'no saved conversation with that id');
        if (all.includes(chatKey(id))) await write(chatKey(id));
        if (all.includes(metaKey(id))) await write(metaKey(id));
        sendJson(res, 200, { deleted: true });
      },
    },
  ];
}
