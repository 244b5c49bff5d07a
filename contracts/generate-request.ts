// The inference actor's generate request as its callers build it (the gateway's OpenAI and Ollama routes).
import type { ChatMessage } from '../workers/protocol.js';

/** One generation: a chat or a completion, with sampling and limits; `client` and `requestId` identify the caller's request. */
export interface GenerateRequest {
  model: string;
  mode: 'chat' | 'completion';
  messages?: ChatMessage[];
  prompt?: string;
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  /** Constrain the output to JSON matching this schema (the subset in workers/json-schema-subset.ts; docs/inference.md). */
  jsonSchema?: Record<string, unknown>;
  client?: string;
  requestId: string;
}
