/**
 * Wiring only: where to send, with which headers, then the shared HTTP layer and the pure
 * request/response/stream converters. Azure reuses `createOpenAIWireAdapter` with its own endpoint.
 */
import type { ProtocolKind } from '../../../engine/index.ts';
import type { HttpAdapterOptions } from '../http.ts';
import { createHttpAdapter, postAndConvert, postAndStream, type PreparedRequest } from '../http-adapter.ts';
import { ProviderCallError, type AdapterCall, type ProviderAdapter, type StreamPart, type TextCompletionCall } from '../spec.ts';
import { parseOpenAICompatibleError } from './errors.ts';
import { resolveOpenAICompatiblePreset, type OpenAICompatiblePreset } from './presets.ts';
import { convertToOpenAICompatibleCompletionRequest, convertToOpenAICompatibleEmbeddingRequest, convertToOpenAICompatibleRequest } from './request.ts';
import { convertOpenAICompatibleCompletionResponse, convertOpenAICompatibleEmbeddingResponse, convertOpenAICompatibleResponse } from './response.ts';
import { mapOpenAICompatibleCompletionStream, mapOpenAICompatibleStream } from './stream.ts';

/** The operations the OpenAI wire format has, as URL path suffixes. */
export type OpenAIOperation = 'chat/completions' | 'embeddings' | 'completions';

/** What an endpoint decision needs to know about a call. */
export type CallTarget = Pick<AdapterCall, 'provider' | 'attempt' | 'credential'>;

/** Where one call goes: URL, headers, and whether the body names the model. */
export interface OpenAIWireEndpoint {
  url: string;
  headers: Record<string, string>;
  /** Azure deployment URLs pick the model from the path, so the body's `model` is left out. */
  includeModel: boolean;
}

/** What differs between protocols that speak the Chat Completions wire format. */
export interface OpenAIWireConfig {
  protocol: ProtocolKind;
  preset: (call: CallTarget) => OpenAICompatiblePreset;
  endpoint: (call: CallTarget, preset: OpenAICompatiblePreset, operation: OpenAIOperation) => OpenAIWireEndpoint;
}

/** Static headers from `options.headers` (e.g. `OpenAI-Organization`); never secrets. */
export function extraHeaders(options: Record<string, unknown> | undefined): Record<string, string> {
  const headers = options?.['headers'];
  if (typeof headers !== 'object' || headers === null) return {};
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') result[name.toLowerCase()] = value;
  return result;
}

/** A configuration error: no point retrying this endpoint, another provider may serve. */
export function configurationError(message: string): ProviderCallError {
  return new ProviderCallError({ message, kind: 'connection', errorClass: 'fallback' });
}

/** Builds an adapter for any protocol that speaks Chat Completions on the wire (plus embeddings and legacy completions). */
export function createOpenAIWireAdapter(config: OpenAIWireConfig, options: HttpAdapterOptions = {}): ProviderAdapter {
  const chat = createHttpAdapter<OpenAICompatiblePreset>(
    {
      protocol: config.protocol,
      prepare: (call, stream) => {
        const preset = config.preset(call);
        const endpoint = config.endpoint(call, preset, 'chat/completions');
        const { body, warnings } = convertToOpenAICompatibleRequest({
          request: call.request,
          upstreamModel: endpoint.includeModel ? call.attempt.upstream_model : undefined,
          preset,
          dropped: call.attempt.drop_parameters,
          stream,
        });
        return { url: endpoint.url, headers: endpoint.headers, body, warnings, context: preset };
      },
      parseError: parseOpenAICompatibleError,
      convertResponse: (body, prepared, call) => {
        const result = convertOpenAICompatibleResponse(body, prepared.context, prepared.warnings);
        if (call.request.reasoning?.exclude === true) delete result.message.reasoning;
        return result;
      },
      mapStream: (events, prepared, call) => {
        const parts = mapOpenAICompatibleStream(events, prepared.context, call.credential);
        return call.request.reasoning?.exclude === true ? withoutReasoning(parts) : parts;
      },
    },
    options,
  );

  const prepareCompletion = (call: TextCompletionCall, stream: boolean): PreparedRequest<OpenAICompatiblePreset> => {
    const preset = config.preset(call);
    const endpoint = config.endpoint(call, preset, 'completions');
    const { body, warnings } = convertToOpenAICompatibleCompletionRequest({
      request: call.request,
      upstreamModel: endpoint.includeModel ? call.attempt.upstream_model : undefined,
      preset,
      dropped: call.attempt.drop_parameters,
      stream,
    });
    if (stream && Array.isArray(call.request.prompt) && call.request.prompt.length > 1) warnings.push('streaming returns the first prompt\'s completion only');
    return { url: endpoint.url, headers: endpoint.headers, body, warnings, context: preset };
  };

  return {
    ...chat,
    async embed(call) {
      const preset = config.preset(call);
      const endpoint = config.endpoint(call, preset, 'embeddings');
      const body = convertToOpenAICompatibleEmbeddingRequest(call.request, endpoint.includeModel ? call.attempt.upstream_model : undefined);
      const prepared = { url: endpoint.url, headers: endpoint.headers, body, warnings: [], context: preset };
      return postAndConvert(prepared, call, parseOpenAICompatibleError, (json) => convertOpenAICompatibleEmbeddingResponse(json, prepared.warnings), options);
    },
    async complete(call) {
      const prepared = prepareCompletion(call, false);
      return postAndConvert(prepared, call, parseOpenAICompatibleError, (json) => convertOpenAICompatibleCompletionResponse(json, prepared.context, prepared.warnings), options);
    },
    async completeStream(call) {
      const prepared = prepareCompletion(call, true);
      return postAndStream(prepared, call, parseOpenAICompatibleError, (events) => mapOpenAICompatibleCompletionStream(events, prepared.context, call.credential), options);
    },
  };
}

/** `reasoning.exclude`: the model still reasons (and bills for it), the client just does not see it. */
async function* withoutReasoning(parts: AsyncIterable<StreamPart>): AsyncGenerator<StreamPart> {
  for await (const part of parts) if (part.type !== 'reasoning-delta') yield part;
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** The `openai-compatible` adapter: OpenAI and every compatible host, chosen by preset. */
export function createOpenAICompatibleAdapter(options: HttpAdapterOptions = {}): ProviderAdapter {
  return createOpenAIWireAdapter(
    {
      protocol: 'openai-compatible',
      preset: (call) => resolveOpenAICompatiblePreset(call.provider),
      endpoint: (call, preset, operation) => {
        const base = call.provider.base_url ?? preset.default_base_url;
        if (base === undefined) throw configurationError(`Provider ${call.provider.id} has no base_url`);
        const headers = extraHeaders(call.provider.options);
        if (call.credential !== undefined) headers['authorization'] = `Bearer ${call.credential}`;
        return { url: `${trimSlash(base)}/${operation}`, headers, includeModel: true };
      },
    },
    options,
  );
}
