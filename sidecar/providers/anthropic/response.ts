/** Anthropic Message -> the adapter contract (pure). */
import { usageOf } from '../common.ts';
import { ProviderCallError, type ChatToolCall, type GenerateResult, type Usage } from '../spec.ts';
import type { AnthropicWireMessage, AnthropicWireUsage } from './api-types.ts';
import { mapAnthropicFinishReason } from './finish-reason.ts';

/**
 * Anthropic's `input_tokens` excludes cache reads and writes; OpenAI's `prompt_tokens` includes
 * them. We report prompt = input + cache writes + cache reads, so `cached_tokens` and
 * `cache_write_tokens` are subsets of `prompt_tokens` as in OpenAI's shape.
 */
export function convertAnthropicUsage(usage: AnthropicWireUsage | null | undefined): Usage {
  if (usage === null || usage === undefined) return {};
  const input = usage.input_tokens;
  const write = usage.cache_creation_input_tokens;
  const read = usage.cache_read_input_tokens;
  return usageOf({
    // With input known, an absent cache count means nothing was cached (older API versions omit them).
    prompt_tokens: typeof input === 'number' ? input + (write ?? 0) + (read ?? 0) : undefined,
    completion_tokens: usage.output_tokens,
    cached_tokens: read,
    cache_write_tokens: write,
    reasoning_tokens: usage.output_tokens_details?.thinking_tokens,
  });
}

/** A Message -> GenerateResult: text blocks joined, tool_use -> tool_calls, thinking -> reasoning (unless excluded). */
export function convertAnthropicResponse(body: unknown, warnings: string[], exposeReasoning: boolean): GenerateResult {
  const wire = (typeof body === 'object' && body !== null ? body : {}) as AnthropicWireMessage;
  if (!Array.isArray(wire.content)) {
    throw new ProviderCallError({ message: 'Anthropic response has no content', kind: 'malformed', errorClass: 'retryable', raw: JSON.stringify(body).slice(0, 4096) });
  }
  let text = '';
  let reasoning = '';
  const toolCalls: ChatToolCall[] = [];
  for (const block of wire.content) {
    if (block.type === 'text' && typeof block.text === 'string') text += block.text;
    else if (block.type === 'thinking' && typeof block.thinking === 'string') reasoning += block.thinking;
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id ?? '', type: 'function', function: { name: block.name ?? '', arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  return {
    ...(typeof wire.id === 'string' ? { upstream_id: wire.id } : {}),
    message: {
      content: text === '' && toolCalls.length > 0 ? null : text,
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      ...(exposeReasoning && reasoning !== '' ? { reasoning } : {}),
    },
    finish_reason: mapAnthropicFinishReason(wire.stop_reason),
    native_finish_reason: wire.stop_reason ?? null,
    usage: convertAnthropicUsage(wire.usage),
    warnings,
  };
}
