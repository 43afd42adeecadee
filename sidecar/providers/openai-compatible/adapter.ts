/**
 * Wiring only: where to send, with which headers, then the shared HTTP layer and the pure
 * request/response/stream converters. Azure reuses `createOpenAIWireAdapter` with its own endpoint.
 */
import type { ProtocolKind } from '../../../engine/index.ts';
import {
  errorFromResponse,
  guardStream,
  postJson,
  readJson,
  readSse,
  type HttpAdapterOptions,
} from '../http.ts';
import { ProviderCallError, type AdapterCall, type ProviderAdapter } from '../spec.ts';
import { parseOpenAICompatibleError } from './errors.ts';
import { resolveOpenAICompatiblePreset, type OpenAICompatiblePreset } from './presets.ts';
import { convertToOpenAICompatibleRequest } from './request.ts';
import { convertOpenAICompatibleResponse } from './response.ts';
import { mapOpenAICompatibleStream } from './stream.ts';

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
  preset: (call: AdapterCall) => OpenAICompatiblePreset;
  endpoint: (call: AdapterCall, preset: OpenAICompatiblePreset) => OpenAIWireEndpoint;
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

/** Builds an adapter for any protocol that speaks Chat Completions on the wire. */
export function createOpenAIWireAdapter(config: OpenAIWireConfig, options: HttpAdapterOptions = {}): ProviderAdapter {
  const prepare = (call: AdapterCall, stream: boolean) => {
    const preset = config.preset(call);
    const endpoint = config.endpoint(call, preset);
    const { body, warnings } = convertToOpenAICompatibleRequest({
      request: call.request,
      upstreamModel: endpoint.includeModel ? call.attempt.upstream_model : undefined,
      preset,
      dropped: call.attempt.drop_parameters,
      stream,
    });
    return { preset, endpoint, body, warnings };
  };
  const errorContext = (call: AdapterCall) => ({
    credential: call.credential,
    providerName: call.provider.name,
    parseDetails: parseOpenAICompatibleError,
  });

  return {
    protocol: config.protocol,

    async generate(call) {
      const { preset, endpoint, body, warnings } = prepare(call, false);
      const response = await postJson({ url: endpoint.url, headers: endpoint.headers, body, signal: call.signal, dispatcher: options.dispatcher });
      if (response.status < 200 || response.status >= 300) throw await errorFromResponse(response, call.signal, errorContext(call));
      const json = await readJson(response, call.signal, call.credential);
      return convertOpenAICompatibleResponse(json, preset, warnings);
    },

    async stream(call) {
      const { preset, endpoint, body, warnings } = prepare(call, true);
      const response = await postJson({
        url: endpoint.url,
        headers: { accept: 'text/event-stream', ...endpoint.headers },
        body,
        signal: call.signal,
        dispatcher: options.dispatcher,
      });
      if (response.status < 200 || response.status >= 300) throw await errorFromResponse(response, call.signal, errorContext(call));
      const parts = mapOpenAICompatibleStream(readSse(response.body), preset, call.credential);
      return { parts: guardStream(parts, response.body, call.signal), warnings };
    },
  };
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
      endpoint: (call, preset) => {
        const base = call.provider.base_url ?? preset.default_base_url;
        if (base === undefined) throw configurationError(`Provider ${call.provider.id} has no base_url`);
        const headers = extraHeaders(call.provider.options);
        if (call.credential !== undefined) headers['authorization'] = `Bearer ${call.credential}`;
        return { url: `${trimSlash(base)}/chat/completions`, headers, includeModel: true };
      },
    },
    options,
  );
}
