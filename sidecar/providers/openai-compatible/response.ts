/** Chat Completions response and usage -> the adapter contract (pure). */
import { ProviderCallError, type ChatToolCall, type EmbeddingResult, type GenerateResult, type TextCompletionResult, type Usage } from '../spec.ts';
import { syntheticToolCallId, usageOf } from '../common.ts';
import type { OpenAIWireEmbeddingResponse, OpenAIWireResponse, OpenAIWireTextCompletion, OpenAIWireToolCall, OpenAIWireUsage } from './api-types.ts';
import { mapOpenAICompatibleFinishReason } from './finish-reason.ts';
import type { OpenAICompatiblePreset } from './presets.ts';

/**
 * Usage with OpenAI semantics: cached and cache-write tokens are part of `prompt_tokens`,
 * reasoning tokens part of `completion_tokens`. A field the host did not send stays undefined.
 */
export function convertOpenAICompatibleUsage(usage: OpenAIWireUsage | null | undefined, preset: OpenAICompatiblePreset): Usage {
  if (usage === null || usage === undefined) return {};
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  let completion = usage.completion_tokens;
  // DeepInfra (some models) leaves reasoning out of completion_tokens; the tell is reasoning > completion.
  if (preset.completion_excludes_reasoning && typeof completion === 'number' && typeof reasoning === 'number' && reasoning > completion) {
    completion += reasoning;
  }
  return usageOf({
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: completion,
    cached_tokens: usage.prompt_tokens_details?.cached_tokens ?? usage.prompt_cache_hit_tokens,
    cache_write_tokens: usage.prompt_tokens_details?.cache_write_tokens,
    reasoning_tokens: reasoning,
  });
}

/** Tool-call arguments as a string (Ollama may send an object). */
export function toolArgumentsText(value: string | Record<string, unknown> | null | undefined): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function convertToolCall(call: OpenAIWireToolCall, index: number, upstreamId: string | undefined): ChatToolCall {
  const name = call.function?.name ?? '';
  return {
    id: call.id ?? syntheticToolCallId(upstreamId, index, name),
    type: 'function',
    function: { name, arguments: toolArgumentsText(call.function?.arguments) },
  };
}

/** A non-streaming response body -> GenerateResult. A body without choices is malformed (retryable). */
export function convertOpenAICompatibleResponse(body: unknown, preset: OpenAICompatiblePreset, warnings: string[]): GenerateResult {
  const wire = (typeof body === 'object' && body !== null ? body : {}) as OpenAIWireResponse;
  const choice = wire.choices?.[0];
  if (choice === undefined) {
    throw new ProviderCallError({ message: 'Upstream response has no choices', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  const upstreamId = wire.id ?? undefined;
  const message = choice.message ?? {};
  const wireCalls = message.tool_calls;
  const toolCalls = wireCalls === undefined || wireCalls === null ? undefined : wireCalls.map((call, index) => convertToolCall(call, index, upstreamId));
  const hasToolCalls = toolCalls !== undefined && toolCalls.length > 0;
  const reasoning = message.reasoning_content ?? message.reasoning ?? null;
  const content = message.content ?? (message.refusal !== null && message.refusal !== undefined ? message.refusal : null);
  const usage = convertOpenAICompatibleUsage(wire.usage ?? wire.x_groq?.usage, preset);
  // Built field by field (same keys, same order as before) instead of through spreads: this runs
  // once per response on the hot path.
  const resultMessage: GenerateResult['message'] = { content };
  if (hasToolCalls) resultMessage.tool_calls = toolCalls;
  if (reasoning !== null) resultMessage.reasoning = reasoning;
  const nativeFinishReason = choice.finish_reason ?? null;
  const finishReason = mapOpenAICompatibleFinishReason(choice.finish_reason, hasToolCalls);
  if (upstreamId === undefined) return { message: resultMessage, finish_reason: finishReason, native_finish_reason: nativeFinishReason, usage, warnings };
  return { upstream_id: upstreamId, message: resultMessage, finish_reason: finishReason, native_finish_reason: nativeFinishReason, usage, warnings };
}

/** `POST /embeddings` response -> EmbeddingResult. */
export function convertOpenAICompatibleEmbeddingResponse(body: unknown, warnings: string[]): EmbeddingResult {
  const wire = (typeof body === 'object' && body !== null ? body : {}) as OpenAIWireEmbeddingResponse;
  if (!Array.isArray(wire.data)) {
    throw new ProviderCallError({ message: 'Upstream embedding response has no data', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  return {
    data: wire.data.map((item, position) => ({ index: item.index ?? position, embedding: item.embedding ?? [] })),
    usage: usageOf({ prompt_tokens: wire.usage?.prompt_tokens }),
    warnings,
  };
}

/** Legacy completions response -> TextCompletionResult. */
export function convertOpenAICompatibleCompletionResponse(body: unknown, preset: OpenAICompatiblePreset, warnings: string[]): TextCompletionResult {
  const wire = (typeof body === 'object' && body !== null ? body : {}) as OpenAIWireTextCompletion;
  if (!Array.isArray(wire.choices) || wire.choices.length === 0) {
    throw new ProviderCallError({ message: 'Upstream completion has no choices', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  return {
    ...(typeof wire.id === 'string' ? { upstream_id: wire.id } : {}),
    choices: wire.choices.map((choice, position) => ({
      index: choice.index ?? position,
      text: choice.text ?? '',
      finish_reason: mapOpenAICompatibleFinishReason(choice.finish_reason, false),
      native_finish_reason: choice.finish_reason ?? null,
    })),
    usage: convertOpenAICompatibleUsage(wire.usage, preset),
    warnings,
  };
}
