/**
 * The simulated provider's configuration: `CatalogProvider.options` and nothing else (no
 * per-request overrides, so a client cannot make the gateway misbehave). Documented in
 * sidecar/providers/README.md.
 */

/** Parsed `options` of a simulated provider, with defaults applied. */
export interface SimulatedOptions {
  /** Time to first token, ms. */
  latency_ms: number;
  /** Uniform extra delay 0..jitter added to the latency, ms. */
  latency_jitter_ms: number;
  /** Output pace; 0 emits everything at once. */
  tokens_per_second: number;
  /** Length of a generated reply in tokens (before `max_tokens`). */
  response_tokens: number;
  /** A fixed reply instead of generated text (still split into word tokens). */
  response_text: string | undefined;
  /** Reasoning tokens emitted first when the request asks for reasoning. */
  reasoning_tokens: number;
  /** Probability of failing before the first byte, by HTTP status (`"429"`, `"503"`, `"529"`) or `"connection"` / `"timeout"`. */
  failure_rates: Record<string, number>;
  /** Delay a simulated 429/503/529 asks for, ms. */
  retry_after_ms: number;
  /** Probability that a stream fails after `mid_stream_failure_after_tokens` tokens. */
  mid_stream_failure_rate: number;
  mid_stream_failure_after_tokens: number;
  /** Prompts estimated above this many tokens fail with a context-length error. */
  context_length: number | undefined;
  /** Prompt tokens reported as cache reads (capped at the prompt estimate). */
  cached_prompt_tokens: number;
  /** When to call tools: only when `tool_choice` requires it, or also on `auto`. */
  tool_calls: 'required' | 'auto';
  /** Fixed arguments per tool name; other tools get arguments generated from their schema. */
  tool_arguments: Record<string, Record<string, unknown>>;
  /** Prompts containing one of these phrases (case-insensitive) finish with `content_filter`. */
  content_filter_phrases: string[];
  /** Seed for failure draws; absent = a fresh random draw each time. */
  seed: number | undefined;
  /** Length of embedding vectors when the request does not ask for `dimensions`. */
  embedding_dimensions: number;
}

/** Defaults for every option (documented in sidecar/providers/README.md). */
export const SIMULATED_DEFAULTS: SimulatedOptions = {
  latency_ms: 150,
  latency_jitter_ms: 0,
  tokens_per_second: 120,
  response_tokens: 32,
  response_text: undefined,
  reasoning_tokens: 16,
  failure_rates: {},
  retry_after_ms: 1000,
  mid_stream_failure_rate: 0,
  mid_stream_failure_after_tokens: 8,
  context_length: undefined,
  cached_prompt_tokens: 0,
  tool_calls: 'required',
  tool_arguments: {},
  content_filter_phrases: [],
  seed: undefined,
  embedding_dimensions: 256,
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonNegative(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

function probability(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

/** Reads `CatalogProvider.options`; values of the wrong type fall back to the defaults. */
export function readSimulatedOptions(options: Record<string, unknown> | undefined): SimulatedOptions {
  const source = options ?? {};
  const failureRates: Record<string, number> = {};
  if (isRecord(source['failure_rates'])) {
    for (const [key, value] of Object.entries(source['failure_rates'])) failureRates[key] = probability(value);
  }
  const toolArguments: Record<string, Record<string, unknown>> = {};
  if (isRecord(source['tool_arguments'])) {
    for (const [name, value] of Object.entries(source['tool_arguments'])) if (isRecord(value)) toolArguments[name] = value;
  }
  const phrases = Array.isArray(source['content_filter_phrases'])
    ? source['content_filter_phrases'].filter((phrase): phrase is string => typeof phrase === 'string' && phrase !== '')
    : [];
  const contextLength = source['context_length'];
  const seed = source['seed'];
  return {
    latency_ms: nonNegative(source['latency_ms'], SIMULATED_DEFAULTS.latency_ms),
    latency_jitter_ms: nonNegative(source['latency_jitter_ms'], SIMULATED_DEFAULTS.latency_jitter_ms),
    tokens_per_second: nonNegative(source['tokens_per_second'], SIMULATED_DEFAULTS.tokens_per_second),
    response_tokens: Math.max(1, Math.floor(nonNegative(source['response_tokens'], SIMULATED_DEFAULTS.response_tokens))),
    response_text: typeof source['response_text'] === 'string' ? source['response_text'] : undefined,
    reasoning_tokens: Math.floor(nonNegative(source['reasoning_tokens'], SIMULATED_DEFAULTS.reasoning_tokens)),
    failure_rates: failureRates,
    retry_after_ms: nonNegative(source['retry_after_ms'], SIMULATED_DEFAULTS.retry_after_ms),
    mid_stream_failure_rate: probability(source['mid_stream_failure_rate']),
    mid_stream_failure_after_tokens: Math.floor(nonNegative(source['mid_stream_failure_after_tokens'], SIMULATED_DEFAULTS.mid_stream_failure_after_tokens)),
    context_length: typeof contextLength === 'number' && contextLength > 0 ? contextLength : undefined,
    cached_prompt_tokens: Math.floor(nonNegative(source['cached_prompt_tokens'], 0)),
    tool_calls: source['tool_calls'] === 'auto' ? 'auto' : 'required',
    tool_arguments: toolArguments,
    content_filter_phrases: phrases,
    seed: typeof seed === 'number' && Number.isFinite(seed) ? seed : undefined,
    embedding_dimensions: Math.max(1, Math.floor(nonNegative(source['embedding_dimensions'], SIMULATED_DEFAULTS.embedding_dimensions))),
  };
}
