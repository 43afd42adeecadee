/**
 * OpenAI Chat Completions wire types, as compatible hosts really send them: every field the
 * adapter reads is optional or nullable, because Groq, Mistral, Azure, vLLM and Ollama each leave
 * different ones out (provider-wire-formats.md sections 1 and 4).
 */

/** `usage` on a response or a stream chunk. */
export interface OpenAIWireUsage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
  prompt_tokens_details?: { cached_tokens?: number | null; cache_write_tokens?: number | null } | null;
  completion_tokens_details?: { reasoning_tokens?: number | null } | null;
  /** DeepSeek's names for cache reads and misses. */
  prompt_cache_hit_tokens?: number | null;
  prompt_cache_miss_tokens?: number | null;
}

/** A tool call in a response message. Ollama may send `arguments` as an object. */
export interface OpenAIWireToolCall {
  id?: string | null;
  type?: string | null;
  function?: { name?: string | null; arguments?: string | Record<string, unknown> | null } | null;
}

/** A tool-call fragment in a stream delta. Mistral omits `index` and `type` and sends calls whole. */
export interface OpenAIWireToolCallDelta extends OpenAIWireToolCall {
  index?: number | null;
}

/** A non-streaming response. */
export interface OpenAIWireResponse {
  id?: string | null;
  model?: string | null;
  choices?: Array<{
    index?: number | null;
    message?: {
      role?: string | null;
      content?: string | null;
      refusal?: string | null;
      tool_calls?: OpenAIWireToolCall[] | null;
      /** Reasoning text: `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Groq). */
      reasoning_content?: string | null;
      reasoning?: string | null;
    } | null;
    finish_reason?: string | null;
  }> | null;
  usage?: OpenAIWireUsage | null;
  /** Groq repeats usage here with timings. */
  x_groq?: { usage?: OpenAIWireUsage | null } | null;
}

/** One streamed chunk. Azure's first chunk has `choices: []` and `prompt_filter_results`. */
export interface OpenAIWireChunk {
  id?: string | null;
  model?: string | null;
  choices?: Array<{
    index?: number | null;
    delta?: {
      role?: string | null;
      content?: string | null;
      refusal?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: OpenAIWireToolCallDelta[] | null;
    } | null;
    finish_reason?: string | null;
  }> | null;
  usage?: OpenAIWireUsage | null;
  x_groq?: { usage?: OpenAIWireUsage | null } | null;
  /** A mid-stream failure (the official SDK throws on it). */
  error?: OpenAIWireErrorObject | string | null;
}

/** The `error` object: OpenAI, Groq, Azure (with `innererror`), vLLM (numeric `code`). */
export interface OpenAIWireErrorObject {
  message?: string | null;
  type?: string | null;
  param?: string | null;
  code?: string | number | null;
  innererror?: { code?: string | null } | null;
}

/**
 * Every error body shape seen from compatible hosts: OpenAI's nested object, Mistral's and old
 * vLLM's flat object, Together/Fireworks' string, DeepInfra's FastAPI `detail`, Fireworks' `fault`.
 */
export interface OpenAIWireErrorBody {
  error?: OpenAIWireErrorObject | string | null;
  object?: string | null;
  message?: string | null;
  type?: string | null;
  code?: string | number | null;
  detail?: string | Array<{ loc?: unknown[]; msg?: string | null; type?: string | null }> | null;
  fault?: { faultstring?: string | null; detail?: { errorcode?: string | null } | null } | null;
}

/** `POST /embeddings` response. */
export interface OpenAIWireEmbeddingResponse {
  data?: Array<{ index?: number | null; embedding?: number[] | string | null }> | null;
  model?: string | null;
  usage?: { prompt_tokens?: number | null; total_tokens?: number | null } | null;
}

/** Legacy `POST /completions` response or stream chunk. */
export interface OpenAIWireTextCompletion {
  id?: string | null;
  choices?: Array<{ index?: number | null; text?: string | null; finish_reason?: string | null }> | null;
  usage?: OpenAIWireUsage | null;
  error?: OpenAIWireErrorObject | string | null;
}
