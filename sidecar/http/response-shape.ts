/**
 * Responses and stream chunks in OpenRouter's shape: `gen-` ids, the served model and provider,
 * usage always present.
 */
import type { PlanAttempt } from '../../engine/index.ts';
import type { CostDetails } from '../accounting/cost.ts';
import type { GenerateResult, StreamPart, TextCompletionResult, Usage } from '../providers/spec.ts';
import type { AttemptRecord } from '../store/generation-record.ts';
import type { ErrorEnvelope } from './errors.ts';

/** OpenRouter's `usage` object. */
export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  completion_tokens_details: { reasoning_tokens: number };
  /** USD; present once a cost function is configured. */
  cost?: number;
  /** OpenRouter's breakdown plus ours (see accounting's `computeCost`). */
  cost_details?: WireCostDetails;
}

/** `usage.cost_details` on the wire: USD as numbers, as OpenRouter sends them. */
export interface WireCostDetails {
  upstream_inference_cost: number;
  upstream_inference_prompt_cost: number;
  upstream_inference_completions_cost: number;
  components: Record<keyof CostDetails['components'], number>;
  usage_incomplete: boolean;
  unknown_usage: string[];
  insured: boolean;
  pricing_tier: number | null;
}

/** The served attempt's cost breakdown for the wire. */
export function wireCostDetails(details: CostDetails): WireCostDetails {
  const components = {} as Record<keyof CostDetails['components'], number>;
  for (const name in details.components) {
    const key = name as keyof CostDetails['components'];
    components[key] = Number(details.components[key]);
  }
  return {
    upstream_inference_cost: Number(details.upstream_inference_cost),
    upstream_inference_prompt_cost: Number(details.upstream_inference_prompt_cost),
    upstream_inference_completions_cost: Number(details.upstream_inference_completions_cost),
    components,
    usage_incomplete: details.usage_incomplete,
    unknown_usage: details.unknown_usage,
    insured: details.insured,
    pricing_tier: details.pricing_tier,
  };
}

/**
 * Usage as the wire needs it. OpenAI clients expect numbers, so a count the provider did not report
 * is sent as 0 here; the generation record keeps it `undefined`.
 */
export function wireUsage(usage: Usage, cost: string | undefined, details?: CostDetails): WireUsage {
  const prompt = usage.prompt_tokens ?? 0;
  const completion = usage.completion_tokens ?? 0;
  const wire: WireUsage = {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: usage.reasoning_tokens ?? 0 },
  };
  if (usage.cache_write_tokens !== undefined) wire.prompt_tokens_details.cache_write_tokens = usage.cache_write_tokens;
  if (cost !== undefined) wire.cost = Number(cost);
  if (details !== undefined) wire.cost_details = wireCostDetails(details);
  return wire;
}

/** What every response and chunk says about who served it. */
export interface ServedBy {
  id: string;
  /** Unix seconds. */
  created: number;
  attempt: PlanAttempt;
}

/** The opt-in attempt log (`X-Switchyard-Attempts: true`). */
export interface AttemptLogField {
  switchyard?: { attempts: AttemptRecord[] };
}

export function completionBody(served: ServedBy, result: GenerateResult, usage: WireUsage, attempts: AttemptRecord[] | undefined) {
  const message: Record<string, unknown> = { role: 'assistant', content: result.message.content, refusal: null };
  if (result.message.reasoning !== undefined && result.message.reasoning !== null) message.reasoning = result.message.reasoning;
  if (result.message.tool_calls && result.message.tool_calls.length > 0) message.tool_calls = result.message.tool_calls;
  return {
    id: served.id,
    object: 'chat.completion',
    created: served.created,
    model: served.attempt.model,
    provider: served.attempt.provider_name,
    system_fingerprint: null,
    choices: [{ index: 0, logprobs: null, finish_reason: result.finish_reason, native_finish_reason: result.native_finish_reason, message }],
    usage,
    ...(attempts ? { switchyard: { attempts } } : {}),
  };
}

/** Writes the SSE `data:` lines of one served stream (chat or legacy completions); each method returns the text to send. */
export interface StreamChunks {
  /** A content part as a chunk; `undefined` for parts the route does not send. */
  part(part: StreamPart): string | undefined;
  finish(finishReason: string, nativeFinishReason: string | null): string;
  /** The final usage chunk: `choices: []`, usage, and the attempt log when asked for. */
  usage(usage: WireUsage, attempts: AttemptRecord[] | undefined): string;
  /** A failure after the first byte: top-level `error` and `finish_reason: "error"`. */
  error(envelope: ErrorEnvelope): string;
}

/** The chat completion chunk writer. */
export class ChunkWriter implements StreamChunks {
  #prefix: string;
  #roleSent = false;

  constructor(served: ServedBy) {
    // Every chunk starts with the same fields; serialise them once.
    this.#prefix =
      `data: {"id":${JSON.stringify(served.id)},"object":"chat.completion.chunk","created":${served.created},` +
      `"model":${JSON.stringify(served.attempt.model)},"provider":${JSON.stringify(served.attempt.provider_name)},`;
  }

  #delta(delta: Record<string, unknown>, finishReason: string | null, nativeFinishReason: string | null): string {
    if (!this.#roleSent) {
      this.#roleSent = true;
      delta = { role: 'assistant', ...delta };
    }
    return `${this.#prefix}"choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finishReason)},"native_finish_reason":${JSON.stringify(nativeFinishReason)},"logprobs":null}]}\n\n`;
  }

  /** A content part as a chunk; `undefined` for parts that are not content (finish, error). */
  part(part: StreamPart): string | undefined {
    switch (part.type) {
      case 'text-delta':
        return this.#delta({ content: part.delta }, null, null);
      case 'reasoning-delta':
        return this.#delta({ content: '', reasoning: part.delta }, null, null);
      case 'tool-call-delta': {
        const call: Record<string, unknown> = { index: part.index };
        const fn: Record<string, string> = {};
        if (part.id !== undefined) {
          call.id = part.id;
          call.type = 'function';
        }
        if (part.name !== undefined) fn.name = part.name;
        fn.arguments = part.arguments_delta;
        call.function = fn;
        return this.#delta({ tool_calls: [call] }, null, null);
      }
      default:
        return undefined;
    }
  }

  finish(finishReason: string, nativeFinishReason: string | null): string {
    return this.#delta({}, finishReason, nativeFinishReason);
  }

  /** The final usage chunk: `choices: []`, usage, and the attempt log when asked for. */
  usage(usage: WireUsage, attempts: AttemptRecord[] | undefined): string {
    const log = attempts ? `,"switchyard":${JSON.stringify({ attempts })}` : '';
    return `${this.#prefix}"choices":[],"usage":${JSON.stringify(usage)}${log}}\n\n`;
  }

  /** A failure after the first byte: top-level `error`, an empty delta with `finish_reason: "error"`. */
  error(envelope: ErrorEnvelope): string {
    return `${this.#prefix}"error":${JSON.stringify(envelope.error)},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error","native_finish_reason":null,"logprobs":null}]}\n\n`;
  }
}

/** The legacy `text_completion` body: one choice per prompt, `text` instead of `message`. */
export function textCompletionBody(served: ServedBy, result: TextCompletionResult, usage: WireUsage, attempts: AttemptRecord[] | undefined) {
  return {
    id: served.id,
    object: 'text_completion',
    created: served.created,
    model: served.attempt.model,
    provider: served.attempt.provider_name,
    system_fingerprint: null,
    choices: result.choices.map((choice) => ({
      index: choice.index,
      text: choice.text,
      logprobs: null,
      finish_reason: choice.finish_reason,
      native_finish_reason: choice.native_finish_reason,
    })),
    usage,
    ...(attempts ? { switchyard: { attempts } } : {}),
  };
}

/** The legacy completions chunk writer: `text_completion` objects with `choices[].text`. */
export class TextChunkWriter implements StreamChunks {
  #prefix: string;

  constructor(served: ServedBy) {
    this.#prefix =
      `data: {"id":${JSON.stringify(served.id)},"object":"text_completion","created":${served.created},` +
      `"model":${JSON.stringify(served.attempt.model)},"provider":${JSON.stringify(served.attempt.provider_name)},`;
  }

  #choice(text: string, finishReason: string | null, nativeFinishReason: string | null): string {
    return `${this.#prefix}"choices":[{"index":0,"text":${JSON.stringify(text)},"finish_reason":${JSON.stringify(finishReason)},"native_finish_reason":${JSON.stringify(nativeFinishReason)},"logprobs":null}]}\n\n`;
  }

  part(part: StreamPart): string | undefined {
    // Legacy completions carry text only; reasoning and tool calls have no place in the shape.
    return part.type === 'text-delta' ? this.#choice(part.delta, null, null) : undefined;
  }

  finish(finishReason: string, nativeFinishReason: string | null): string {
    return this.#choice('', finishReason, nativeFinishReason);
  }

  usage(usage: WireUsage, attempts: AttemptRecord[] | undefined): string {
    const log = attempts ? `,"switchyard":${JSON.stringify({ attempts })}` : '';
    return `${this.#prefix}"choices":[],"usage":${JSON.stringify(usage)}${log}}\n\n`;
  }

  error(envelope: ErrorEnvelope): string {
    return `${this.#prefix}"error":${JSON.stringify(envelope.error)},"choices":[{"index":0,"text":"","finish_reason":"error","native_finish_reason":null,"logprobs":null}]}\n\n`;
  }
}

export const SSE_DONE = 'data: [DONE]\n\n';
