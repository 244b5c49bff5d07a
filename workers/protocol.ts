// The typed messages between an actor and its llm worker (Node IPC channel); errors cross as { code, message }.
import type { ErrorData } from '../common/errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Sampling and limits of one generation; temperature 0 is greedy and reproducible. */
export interface GenerateParams {
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  stop?: string[];
}

export type ToWorker =
  | { type: 'load'; modelPath: string; sha256: string; threads: number; contextSize: number; gpu: 'auto' | false }
  | ({ type: 'generate'; id: string; mode: 'chat'; messages: ChatMessage[] } & GenerateParams)
  | ({ type: 'generate'; id: string; mode: 'completion'; prompt: string } & GenerateParams)
  | { type: 'cancel'; id: string }
  | { type: 'shutdown' };

export interface WorkerInfo {
  /** 'cuda' | 'vulkan' | 'metal' | false (CPU), as node-llama-cpp detected it. */
  gpu: string | false;
  threads: number;
  contextSize: number;
  architecture: string;
  trainContextSize: number;
  loadMs: number;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export type FromWorker =
  | { type: 'started'; pid: number }
  | { type: 'loaded'; info: WorkerInfo }
  | { type: 'token'; id: string; text: string }
  | { type: 'done'; id: string; finishReason: FinishReason; usage: Usage; firstTokenMs: number; totalMs: number }
  /** `id` absent: the worker failed as a whole (load failed, bad message); it exits after sending it. */
  | { type: 'error'; id?: string; error: ErrorData };

const ROLES = new Set(['system', 'user', 'assistant']);

/** Validates a message arriving at the worker; anything else is refused (the parent is trusted but typed). */
export function parseToWorker(m: unknown): ToWorker | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const x = m as Record<string, unknown>;
  switch (x.type) {
    case 'load':
      return typeof x.modelPath === 'string' && typeof x.sha256 === 'string' && /^[0-9a-f]{64}$/.test(x.sha256)
        && Number.isInteger(x.threads) && Number.isInteger(x.contextSize) && (x.gpu === 'auto' || x.gpu === false)
        ? (x as ToWorker) : undefined;
    case 'generate': {
      if (typeof x.id !== 'string' || !Number.isInteger(x.maxTokens) || typeof x.temperature !== 'number') return undefined;
      if (x.mode === 'completion') return typeof x.prompt === 'string' ? (x as ToWorker) : undefined;
      if (x.mode === 'chat') {
        const ok = Array.isArray(x.messages) && x.messages.length > 0 && x.messages.every((c: unknown) =>
          !!c && typeof c === 'object' && ROLES.has((c as ChatMessage).role) && typeof (c as ChatMessage).content === 'string');
        return ok ? (x as ToWorker) : undefined;
      }
      return undefined;
    }
    case 'cancel':
      return typeof x.id === 'string' ? (x as ToWorker) : undefined;
    case 'shutdown':
      return x as ToWorker;
    default:
      return undefined;
  }
}
