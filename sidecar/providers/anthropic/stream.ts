/**
 * Anthropic SSE events -> stream parts (provider-wire-formats.md 2.4 and 2.6). Tool-call indexes
 * count tool_use blocks only: a text block before a tool_use takes Anthropic index 0, but the
 * tool call is still OpenAI index 0. Usage in `message_delta` is cumulative and merged over the
 * input counts from `message_start`.
 */
import { classifyHttpStatus, redact, streamErrorPart, tryParseJson, type SseEvent } from '../http.ts';
import { ProviderCallError, type StreamPart } from '../spec.ts';
import type { AnthropicWireEvent, AnthropicWireUsage } from './api-types.ts';
import { anthropicStatusForErrorType } from './errors.ts';
import { mapAnthropicFinishReason } from './finish-reason.ts';
import { convertAnthropicUsage } from './response.ts';

function mergeUsage(base: AnthropicWireUsage, update: AnthropicWireUsage | null | undefined): AnthropicWireUsage {
  if (update === null || update === undefined) return base;
  const merged: AnthropicWireUsage = { ...base };
  for (const [key, value] of Object.entries(update) as Array<[keyof AnthropicWireUsage, unknown]>) {
    if (value !== null && value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return merged;
}

/** Maps Anthropic events to parts; reads `events` to the end so the socket can be reused. */
export async function* mapAnthropicStream(events: AsyncIterable<SseEvent>, init: { credential: string | undefined; exposeReasoning: boolean }): AsyncGenerator<StreamPart> {
  let upstreamId: string | undefined;
  let usage: AnthropicWireUsage = {};
  let stopReason: string | null = null;
  let stopped = false;
  const toolIndexByBlock = new Map<number, number>();

  for await (const event of events) {
    if (stopped) continue;
    const parsed = tryParseJson(event.data);
    if (typeof parsed !== 'object' || parsed === null) {
      yield streamErrorPart({ message: 'Anthropic sent an event that is not JSON', kind: 'malformed', raw: redact(event.data, init.credential) });
      return;
    }
    const data = parsed as AnthropicWireEvent;
    switch (data.type ?? event.event) {
      case 'message_start':
        if (typeof data.message?.id === 'string') upstreamId = data.message.id;
        usage = mergeUsage(usage, data.message?.usage);
        break;
      case 'content_block_start': {
        const block = data.content_block;
        if (block?.type === 'tool_use' && typeof data.index === 'number') {
          const index = toolIndexByBlock.size;
          toolIndexByBlock.set(data.index, index);
          yield { type: 'tool-call-delta', index, id: block.id ?? '', name: block.name ?? '', arguments_delta: '' };
        } else if (block?.type === 'text' && typeof block.text === 'string' && block.text !== '') {
          yield { type: 'text-delta', delta: block.text };
        }
        break;
      }
      case 'content_block_delta': {
        const delta = data.delta;
        if (delta?.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') yield { type: 'text-delta', delta: delta.text };
        else if (delta?.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '' && init.exposeReasoning) {
          yield { type: 'reasoning-delta', delta: delta.thinking };
        } else if (delta?.type === 'input_json_delta' && typeof delta.partial_json === 'string' && typeof data.index === 'number') {
          const index = toolIndexByBlock.get(data.index);
          if (index !== undefined && delta.partial_json !== '') yield { type: 'tool-call-delta', index, arguments_delta: delta.partial_json };
        }
        break;
      }
      case 'message_delta':
        if (typeof data.delta?.stop_reason === 'string') stopReason = data.delta.stop_reason;
        usage = mergeUsage(usage, data.usage);
        break;
      case 'message_stop':
        stopped = true;
        break;
      case 'error': {
        const status = anthropicStatusForErrorType(data.error?.type);
        const details = { message: data.error?.message ?? undefined, code: data.error?.type ?? undefined };
        yield {
          type: 'error',
          error: new ProviderCallError({
            message: redact(`Anthropic stream error (${details.code ?? 'unknown'}): ${details.message ?? ''}`, init.credential),
            kind: 'http',
            errorClass: classifyHttpStatus(status, details),
            status,
            raw: redact(event.data, init.credential),
          }),
        };
        return;
      }
      default:
        // ping, content_block_stop, and event types added after this was written.
        break;
    }
  }

  if (!stopped && stopReason === null) {
    yield streamErrorPart({ message: 'Anthropic stream ended before message_stop', kind: 'connection' });
    return;
  }
  yield {
    type: 'finish',
    finish_reason: mapAnthropicFinishReason(stopReason),
    native_finish_reason: stopReason,
    usage: convertAnthropicUsage(usage),
    ...(upstreamId === undefined ? {} : { upstream_id: upstreamId }),
  };
}
