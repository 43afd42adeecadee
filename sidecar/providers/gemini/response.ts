/** Gemini response -> the adapter contract (pure). */
import { syntheticToolCallId, usageOf } from '../common.ts';
import { ProviderCallError, type ChatToolCall, type EmbeddingResult, type GenerateResult, type Usage } from '../spec.ts';
import type { GeminiPart, GeminiWireResponse, GeminiWireUsage } from './api-types.ts';
import { mapGeminiFinishReason } from './finish-reason.ts';
import { encodeGeminiToolCallId } from './request.ts';

/**
 * `promptTokenCount` already includes cached tokens; `candidatesTokenCount` excludes thoughts, so
 * completion = candidates + thoughts (OpenAI counts reasoning inside completion). Gemini reports
 * no cache writes (explicit caches are created out of band), so that stays undefined.
 */
export function convertGeminiUsage(usage: GeminiWireUsage | null | undefined): Usage {
  if (usage === null || usage === undefined) return {};
  const candidates = usage.candidatesTokenCount;
  const thoughts = usage.thoughtsTokenCount;
  const completion = typeof candidates === 'number' || typeof thoughts === 'number' ? (candidates ?? 0) + (thoughts ?? 0) : undefined;
  return usageOf({
    prompt_tokens: usage.promptTokenCount,
    completion_tokens: completion,
    cached_tokens: usage.cachedContentTokenCount,
    reasoning_tokens: thoughts,
  });
}

/** A function call part -> an OpenAI tool call (id synthesised when Gemini gives none, signature kept in it). */
export function convertGeminiFunctionCall(part: Partial<GeminiPart>, index: number, responseId: string | undefined): ChatToolCall | undefined {
  const call = part.functionCall;
  if (call === undefined) return undefined;
  const baseId = call.id ?? syntheticToolCallId(responseId, index, call.name);
  return { id: encodeGeminiToolCallId(baseId, part.thoughtSignature), type: 'function', function: { name: call.name, arguments: JSON.stringify(call.args ?? {}) } };
}

/** A response -> GenerateResult; a blocked prompt becomes `content_filter` with no content. */
export function convertGeminiResponse(body: unknown, warnings: string[], exposeReasoning: boolean): GenerateResult {
  const wire = (typeof body === 'object' && body !== null ? body : {}) as GeminiWireResponse;
  const responseId = wire.responseId ?? undefined;
  const usage = convertGeminiUsage(wire.usageMetadata);
  const blockReason = wire.promptFeedback?.blockReason;
  const candidate = wire.candidates?.[0];
  if (candidate === undefined) {
    if (typeof blockReason === 'string') {
      return {
        ...(responseId === undefined ? {} : { upstream_id: responseId }),
        message: { content: null },
        finish_reason: 'content_filter',
        native_finish_reason: blockReason,
        usage,
        warnings,
      };
    }
    throw new ProviderCallError({ message: 'Gemini response has no candidates', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  let text = '';
  let reasoning = '';
  const toolCalls: ChatToolCall[] = [];
  for (const part of candidate.content?.parts ?? []) {
    if (typeof part.text === 'string') {
      if (part.thought === true) reasoning += part.text;
      else text += part.text;
    }
    const call = convertGeminiFunctionCall(part, toolCalls.length, responseId);
    if (call !== undefined) toolCalls.push(call);
  }
  return {
    ...(responseId === undefined ? {} : { upstream_id: responseId }),
    message: {
      content: text === '' && toolCalls.length > 0 ? null : text,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      ...(exposeReasoning && reasoning !== '' ? { reasoning } : {}),
    },
    finish_reason: mapGeminiFinishReason(candidate.finishReason, toolCalls.length > 0),
    native_finish_reason: candidate.finishReason ?? null,
    usage,
    warnings,
  };
}

/** `batchEmbedContents` response -> EmbeddingResult. Gemini does not count embedding tokens. */
export function convertGeminiEmbeddingResponse(body: unknown, encoding: 'float' | 'base64' | undefined): EmbeddingResult {
  const embeddings = (typeof body === 'object' && body !== null ? (body as { embeddings?: unknown }).embeddings : undefined) as Array<{ values?: number[] }> | undefined;
  if (!Array.isArray(embeddings)) {
    throw new ProviderCallError({ message: 'Gemini embedding response has no embeddings', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  return {
    data: embeddings.map((item, index) => {
      const values = item.values ?? [];
      return { index, embedding: encoding === 'base64' ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values };
    }),
    usage: {},
    warnings: [],
  };
}
