/**
 * The adapter contract, version 1. Every wire protocol (`openai-compatible`, `anthropic`, `gemini`,
 * `azure-openai`, `simulated`) implements `ProviderAdapter`; the executor knows nothing else.
 *
 * Rules every adapter keeps:
 * - Usage that the provider did not report is `undefined`, never 0.
 * - Errors are `ProviderCallError` with a classification; nothing else escapes `generate`/`stream`.
 * - `stream` resolves only once the upstream accepted the request (2xx headers); a failure before
 *   that rejects, so the executor can still fall back. After that, failures are `error` parts.
 * - The abort signal cancels the upstream request (socket closed), in both modes.
 * - Unsupported request features become `warnings`, not exceptions.
 */
import type { CatalogProvider, PlanAttempt, ProtocolKind } from '../../engine/index.ts';

// ---------------------------------------------------------------------------------------------
// The request as the gateway accepted it (OpenAI / OpenRouter chat body, validated).
// ---------------------------------------------------------------------------------------------

export type ChatContentPart =
  | { type: 'text'; text: string; cache_control?: { type: 'ephemeral'; ttl?: string } }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } }
  | { type: 'input_audio'; input_audio: { data: string; format: string } }
  | { type: 'file'; file: { filename?: string; file_data?: string; file_id?: string } };

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type ChatMessage =
  | { role: 'system' | 'developer'; content: string | ChatContentPart[]; name?: string }
  | { role: 'user'; content: string | ChatContentPart[]; name?: string }
  | {
      role: 'assistant';
      content?: string | ChatContentPart[] | null;
      name?: string;
      tool_calls?: ChatToolCall[];
      reasoning?: string | null;
    }
  | { role: 'tool'; content: string | ChatContentPart[]; tool_call_id: string };

export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean };
}

export type ChatToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export type ChatResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean } };

export interface ReasoningOptions {
  effort?: 'max' | 'xhigh' | 'high' | 'medium' | 'low' | 'minimal' | 'none';
  max_tokens?: number;
  exclude?: boolean;
  enabled?: boolean;
}

/** Sampling and generation fields forwarded to providers (absent = provider default). */
export interface ChatRequest {
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  repetition_penalty?: number;
  min_p?: number;
  top_a?: number;
  seed?: number;
  logit_bias?: Record<string, number>;
  logprobs?: boolean;
  top_logprobs?: number;
  stop?: string | string[];
  tools?: ChatTool[];
  tool_choice?: ChatToolChoice;
  parallel_tool_calls?: boolean;
  response_format?: ChatResponseFormat;
  reasoning?: ReasoningOptions;
  user?: string;
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

/** Unified finish reasons (OpenAI's vocabulary plus `error`). */
export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'error';

/** Token usage as reported; `undefined` means the provider did not say. */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  /** Prompt tokens read from cache. */
  cached_tokens?: number;
  /** Prompt tokens written to cache. */
  cache_write_tokens?: number;
  /** Completion tokens spent reasoning (included in completion_tokens). */
  reasoning_tokens?: number;
}

export interface GenerateResult {
  /** Upstream response id. */
  upstream_id?: string;
  message: {
    content: string | null;
    tool_calls?: ChatToolCall[];
    reasoning?: string | null;
  };
  finish_reason: FinishReason;
  /** The provider's own finish reason, verbatim. */
  native_finish_reason: string | null;
  usage: Usage;
  warnings: string[];
}

/** Typed parts of a stream, in order. */
export type StreamPart =
  | { type: 'text-delta'; delta: string }
  | { type: 'reasoning-delta'; delta: string }
  /** First delta of a call carries id and name; later ones only argument fragments. */
  | { type: 'tool-call-delta'; index: number; id?: string; name?: string; arguments_delta: string }
  | { type: 'finish'; finish_reason: FinishReason; native_finish_reason: string | null; usage: Usage; upstream_id?: string }
  /** A failure after the upstream accepted the request. The stream ends after it. */
  | { type: 'error'; error: ProviderCallError };

export interface StreamResult {
  parts: AsyncIterable<StreamPart>;
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * What the executor may do after an error:
 * - `retryable`: retry the same endpoint (with backoff) or fall back (connection, timeout, 408, 409, 429, 5xx, 529).
 * - `context_length`: fall back only to a candidate with a larger context window.
 * - `content_policy`: fall back (another provider may accept it).
 * - `fallback`: do not retry this endpoint, but another may serve (404 from this provider, 402 quota).
 * - `final`: return to the client, no retry, no fallback (400 invalid request: it fails everywhere;
 *   401/403: the credential is wrong or lacks access, which the operator must see, not have hidden).
 */
export type ErrorClass = 'retryable' | 'context_length' | 'content_policy' | 'fallback' | 'final';

export class ProviderCallError extends Error {
  override readonly name = 'ProviderCallError';
  /** Upstream HTTP status; undefined for connection errors and timeouts. */
  readonly status: number | undefined;
  readonly errorClass: ErrorClass;
  /** Upstream error body, truncated, with credentials redacted. */
  readonly raw: string | undefined;
  /** Delay the upstream asked for, ms. */
  readonly retryAfterMs: number | undefined;
  /** `connection`, `timeout`, `http`, `malformed`, `aborted`. */
  readonly kind: 'connection' | 'timeout' | 'http' | 'malformed' | 'aborted';

  constructor(init: {
    message: string;
    kind: ProviderCallError['kind'];
    errorClass: ErrorClass;
    status?: number;
    raw?: string;
    retryAfterMs?: number;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.kind = init.kind;
    this.errorClass = init.errorClass;
    this.status = init.status;
    this.raw = init.raw;
    this.retryAfterMs = init.retryAfterMs;
  }
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

export interface AdapterCall {
  /** The validated request; `model`, `models`, `provider` and gateway-only fields already removed. */
  request: ChatRequest;
  /** Where to send it: provider, upstream model name, timeouts, parameters to drop. */
  attempt: PlanAttempt;
  provider: CatalogProvider;
  /** The provider's secret, resolved by the sidecar; never logged. Undefined for keyless providers. */
  credential: string | undefined;
  /** Aborts the upstream call: client disconnect, or a deadline. */
  signal: AbortSignal;
}

export interface ProviderAdapter {
  readonly protocol: ProtocolKind;
  /** Non-streaming call. Rejects with ProviderCallError. */
  generate(call: AdapterCall): Promise<GenerateResult>;
  /** Streaming call. Rejects with ProviderCallError before the upstream accepted; then yields parts. */
  stream(call: AdapterCall): Promise<StreamResult>;
  /** `POST /embeddings`, for protocols that have it (absent: the route answers that the endpoint cannot). */
  embed?(call: EmbeddingCall): Promise<EmbeddingResult>;
  /** Legacy `POST /completions`, non-streaming. */
  complete?(call: TextCompletionCall): Promise<TextCompletionResult>;
  /** Legacy `POST /completions`, streaming: `text-delta` parts, then `finish` (or `error`), as `stream`. */
  completeStream?(call: TextCompletionCall): Promise<StreamResult>;
}

// ---------------------------------------------------------------------------------------------
// Embeddings and legacy completions (optional per adapter)
// ---------------------------------------------------------------------------------------------

/** The `POST /embeddings` body as the gateway accepted it (`model` removed). */
export interface EmbeddingRequest {
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  user?: string;
}

/** What `embed` returns. */
export interface EmbeddingResult {
  upstream_id?: string;
  /** One vector per input, in input order; a base64 string when `encoding_format` was `base64`. */
  data: Array<{ index: number; embedding: number[] | string }>;
  /** `prompt_tokens` only; undefined when the provider does not count (Gemini). */
  usage: Usage;
  warnings: string[];
}

/** `AdapterCall` with an embeddings request. */
export interface EmbeddingCall extends Omit<AdapterCall, 'request'> {
  request: EmbeddingRequest;
}

/** The legacy `POST /completions` body as the gateway accepted it (`model` removed). */
export interface TextCompletionRequest {
  prompt: string | string[];
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  stop?: string | string[];
  seed?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  logit_bias?: Record<string, number>;
  suffix?: string;
  echo?: boolean;
  user?: string;
}

/** What `complete` returns. */
export interface TextCompletionResult {
  upstream_id?: string;
  /** One choice per prompt, in prompt order. */
  choices: Array<{ index: number; text: string; finish_reason: FinishReason; native_finish_reason: string | null }>;
  usage: Usage;
  warnings: string[];
}

/** `AdapterCall` with a legacy completions request. */
export interface TextCompletionCall extends Omit<AdapterCall, 'request'> {
  request: TextCompletionRequest;
}

/** Adapters by protocol. */
export type AdapterRegistry = Partial<Record<ProtocolKind, ProviderAdapter>>;
