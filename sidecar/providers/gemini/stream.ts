/**
 * Gemini SSE (`?alt=sse`) -> stream parts. Each event is a whole response holding only the new
 * parts; function calls arrive whole (one fragment each); `usageMetadata` repeats, cumulative, so
 * the last one wins; there is no `[DONE]`, the connection just ends. An error may arrive as a
 * `data:` object with `error` or as raw JSON outside SSE framing.
 */
import { classifyHttpStatus, redact, streamErrorPart, tryParseJson, type SseEvent } from '../http.ts';
import { ProviderCallError, type StreamPart } from '../spec.ts';
import type { GeminiWireResponse, GeminiWireUsage } from './api-types.ts';
import { parseGeminiError } from './errors.ts';
import { mapGeminiFinishReason } from './finish-reason.ts';
import { convertGeminiFunctionCall, convertGeminiUsage } from './response.ts';

/** Maps Gemini events to parts; reads `events` to the end so the socket can be reused. */
export async function* mapGeminiStream(events: AsyncIterable<SseEvent>, init: { credential: string | undefined; exposeReasoning: boolean }): AsyncGenerator<StreamPart> {
  let responseId: string | undefined;
  let usage: GeminiWireUsage | undefined;
  let finishReason: string | null = null;
  let blockReason: string | null = null;
  let toolCalls = 0;
  let failed = false;

  for await (const event of events) {
    if (failed) continue;
    const parsed = tryParseJson(event.data);
    const chunk = (Array.isArray(parsed) ? parsed[0] : parsed) as GeminiWireResponse | undefined;
    if (typeof chunk !== 'object' || chunk === null) {
      yield streamErrorPart({ message: 'Gemini sent an event that is not JSON', kind: 'malformed', raw: redact(event.data, init.credential) });
      failed = true;
      continue;
    }
    if (chunk.error !== undefined && chunk.error !== null) {
      const details = parseGeminiError(chunk);
      const status = typeof chunk.error.code === 'number' ? chunk.error.code : 500;
      yield {
        type: 'error',
        error: new ProviderCallError({
          message: redact(`Gemini stream error (${chunk.error.status ?? status}): ${details.message ?? ''}`, init.credential),
          kind: 'http',
          errorClass: classifyHttpStatus(status, details),
          status,
          raw: redact(event.data, init.credential),
          ...(details.retryAfterMs === undefined ? {} : { retryAfterMs: details.retryAfterMs }),
        }),
      };
      failed = true;
      continue;
    }
    if (responseId === undefined && typeof chunk.responseId === 'string') responseId = chunk.responseId;
    if (chunk.usageMetadata !== null && chunk.usageMetadata !== undefined) usage = chunk.usageMetadata;
    if (typeof chunk.promptFeedback?.blockReason === 'string') blockReason = chunk.promptFeedback.blockReason;
    const candidate = chunk.candidates?.[0];
    for (const part of candidate?.content?.parts ?? []) {
      if (typeof part.text === 'string' && part.text !== '') {
        if (part.thought !== true) yield { type: 'text-delta', delta: part.text };
        else if (init.exposeReasoning) yield { type: 'reasoning-delta', delta: part.text };
      }
      const call = convertGeminiFunctionCall(part, toolCalls, responseId);
      if (call !== undefined) {
        yield { type: 'tool-call-delta', index: toolCalls, id: call.id, name: call.function.name, arguments_delta: call.function.arguments };
        toolCalls += 1;
      }
    }
    if (typeof candidate?.finishReason === 'string') finishReason = candidate.finishReason;
  }

  if (failed) return;
  if (finishReason === null && blockReason === null) {
    yield streamErrorPart({ message: 'Gemini stream ended without a finish reason', kind: 'connection' });
    return;
  }
  yield {
    type: 'finish',
    finish_reason: finishReason === null ? 'content_filter' : mapGeminiFinishReason(finishReason, toolCalls > 0),
    native_finish_reason: finishReason ?? blockReason,
    usage: convertGeminiUsage(usage),
    ...(responseId === undefined ? {} : { upstream_id: responseId }),
  };
}
