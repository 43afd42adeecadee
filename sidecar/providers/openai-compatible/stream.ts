/**
 * Chat Completions SSE chunks -> stream parts. Defensive by design (provider-wire-formats.md
 * section 4, rule 2): `choices` may be empty (Azure), `delta` missing, tool calls whole or
 * without `index` (Groq, Mistral), usage on the finish chunk or a later one or never, extra
 * top-level keys, non-OpenAI finish reasons, and no `[DONE]`.
 */
import { syntheticToolCallId } from '../common.ts';
import { classifyHttpStatus, redact, streamErrorPart, tryParseJson, type SseEvent } from '../http.ts';
import { ProviderCallError, type StreamPart, type Usage } from '../spec.ts';
import type { OpenAIWireChunk, OpenAIWireTextCompletion, OpenAIWireToolCallDelta } from './api-types.ts';
import { parseOpenAICompatibleError } from './errors.ts';
import { mapOpenAICompatibleFinishReason } from './finish-reason.ts';
import type { OpenAICompatiblePreset } from './presets.ts';
import { convertOpenAICompatibleUsage, toolArgumentsText } from './response.ts';

/** Turns index-less or whole tool calls into stable indexes, in order of first appearance. */
class ToolCallIndexer {
  private readonly byUpstreamIndex = new Map<number, number>();
  private readonly byId = new Map<string, number>();
  private next = 0;

  get count(): number {
    return this.next;
  }

  indexOf(call: OpenAIWireToolCallDelta): { index: number; first: boolean } {
    const id = call.id ?? undefined;
    if (typeof call.index === 'number') {
      const known = this.byUpstreamIndex.get(call.index);
      if (known !== undefined) return { index: known, first: false };
      const index = this.next++;
      this.byUpstreamIndex.set(call.index, index);
      if (id !== undefined) this.byId.set(id, index);
      return { index, first: true };
    }
    if (id !== undefined) {
      const known = this.byId.get(id);
      if (known !== undefined) return { index: known, first: false };
    }
    const index = this.next++;
    if (id !== undefined) this.byId.set(id, index);
    return { index, first: true };
  }
}

/** Maps parsed SSE events to parts. Reads `events` to the end so the socket can be reused. */
export async function* mapOpenAICompatibleStream(
  events: AsyncIterable<SseEvent>,
  preset: OpenAICompatiblePreset,
  credential: string | undefined,
): AsyncGenerator<StreamPart> {
  let upstreamId: string | undefined;
  let nativeFinish: string | null = null;
  let finished = false;
  let done = false;
  let usage: Usage = {};
  const tools = new ToolCallIndexer();

  for await (const event of events) {
    if (done) continue;
    const data = event.data.trim();
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    if (data === '') continue;
    const parsed = tryParseJson(data);
    if (typeof parsed !== 'object' || parsed === null) {
      yield streamErrorPart({ message: 'Upstream sent a stream chunk that is not JSON', kind: 'malformed', raw: redact(data, credential) });
      return;
    }
    const chunk = parsed as OpenAIWireChunk;
    if (chunk.error !== undefined && chunk.error !== null) {
      const details = parseOpenAICompatibleError(chunk);
      const code = typeof chunk.error === 'object' ? chunk.error.code : undefined;
      const status = typeof code === 'number' ? code : 500;
      yield {
        type: 'error',
        error: new ProviderCallError({
          message: redact(`Upstream stream error: ${details.message ?? 'unknown error'}`, credential),
          kind: 'http',
          errorClass: classifyHttpStatus(status, details),
          status,
          raw: redact(data, credential),
        }),
      };
      return;
    }
    if (upstreamId === undefined && typeof chunk.id === 'string' && chunk.id !== '') upstreamId = chunk.id;
    const chunkUsage = chunk.usage ?? chunk.x_groq?.usage;
    if (chunkUsage !== null && chunkUsage !== undefined) usage = convertOpenAICompatibleUsage(chunkUsage, preset);

    for (const choice of chunk.choices ?? []) {
      const delta = choice.delta;
      if (delta !== null && delta !== undefined) {
        const reasoning = delta.reasoning_content ?? delta.reasoning;
        if (typeof reasoning === 'string' && reasoning !== '') yield { type: 'reasoning-delta', delta: reasoning };
        if (typeof delta.content === 'string' && delta.content !== '') yield { type: 'text-delta', delta: delta.content };
        if (typeof delta.refusal === 'string' && delta.refusal !== '') yield { type: 'text-delta', delta: delta.refusal };
        for (const call of delta.tool_calls ?? []) {
          const { index, first } = tools.indexOf(call);
          const name = call.function?.name ?? undefined;
          // A first fragment must carry an id for the client; hosts that omit it get a stable one.
          const id = call.id ?? (first ? syntheticToolCallId(upstreamId, index, name ?? '') : undefined);
          yield {
            type: 'tool-call-delta',
            index,
            ...(id === undefined ? {} : { id }),
            ...(name === undefined ? {} : { name }),
            arguments_delta: toolArgumentsText(call.function?.arguments),
          };
        }
      }
      if (typeof choice.finish_reason === 'string') {
        nativeFinish = choice.finish_reason;
        finished = true;
      }
    }
  }

  if (!finished && !done) {
    yield streamErrorPart({ message: 'Upstream stream ended before a finish reason', kind: 'connection' });
    return;
  }
  yield {
    type: 'finish',
    finish_reason: mapOpenAICompatibleFinishReason(nativeFinish, tools.count > 0),
    native_finish_reason: nativeFinish,
    usage,
    ...(upstreamId === undefined ? {} : { upstream_id: upstreamId }),
  };
}

/** Legacy completions SSE -> `text-delta` parts of prompt 0, then `finish`. */
export async function* mapOpenAICompatibleCompletionStream(
  events: AsyncIterable<SseEvent>,
  preset: OpenAICompatiblePreset,
  credential: string | undefined,
): AsyncGenerator<StreamPart> {
  let upstreamId: string | undefined;
  let nativeFinish: string | null = null;
  let done = false;
  let failed = false;
  let usage: Usage = {};
  for await (const event of events) {
    const data = event.data.trim();
    if (done || failed || data === '') continue;
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const parsed = tryParseJson(data);
    if (typeof parsed !== 'object' || parsed === null) {
      yield streamErrorPart({ message: 'Upstream sent a stream chunk that is not JSON', kind: 'malformed', raw: redact(data, credential) });
      failed = true;
      continue;
    }
    const chunk = parsed as OpenAIWireTextCompletion;
    if (chunk.error !== undefined && chunk.error !== null) {
      const details = parseOpenAICompatibleError(chunk);
      yield { type: 'error', error: new ProviderCallError({ message: redact(`Upstream stream error: ${details.message ?? 'unknown error'}`, credential), kind: 'http', errorClass: classifyHttpStatus(500, details), status: 500, raw: redact(data, credential) }) };
      failed = true;
      continue;
    }
    if (upstreamId === undefined && typeof chunk.id === 'string' && chunk.id !== '') upstreamId = chunk.id;
    if (chunk.usage !== null && chunk.usage !== undefined) usage = convertOpenAICompatibleUsage(chunk.usage, preset);
    for (const choice of chunk.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue;
      if (typeof choice.text === 'string' && choice.text !== '') yield { type: 'text-delta', delta: choice.text };
      if (typeof choice.finish_reason === 'string') nativeFinish = choice.finish_reason;
    }
  }
  if (failed) return;
  if (!done && nativeFinish === null) {
    yield streamErrorPart({ message: 'Upstream stream ended before a finish reason', kind: 'connection' });
    return;
  }
  yield {
    type: 'finish',
    finish_reason: mapOpenAICompatibleFinishReason(nativeFinish, false),
    native_finish_reason: nativeFinish,
    usage,
    ...(upstreamId === undefined ? {} : { upstream_id: upstreamId }),
  };
}
