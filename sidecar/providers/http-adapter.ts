/**
 * The call sequence every HTTP adapter shares: build the request, POST it through the pool,
 * classify a non-2xx answer, then either convert the JSON body or map the SSE events to parts
 * behind `guardStream`. Adapters supply only the protocol-specific, mostly pure, pieces.
 */
import type { ProtocolKind } from '../../engine/index.ts';
import { errorFromResponse, guardStream, postJson, readJson, readSse, type HttpAdapterOptions, type SseEvent, type UpstreamErrorDetails } from './http.ts';
import type { AdapterCall, GenerateResult, ProviderAdapter, StreamPart } from './spec.ts';

/** One prepared upstream request plus whatever the converters need to remember about it. */
export interface PreparedRequest<Context> {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  warnings: string[];
  context: Context;
}

/** The protocol-specific pieces of an HTTP adapter. */
export interface HttpProtocol<Context> {
  protocol: ProtocolKind;
  /** Builds URL, headers and body (may throw a ProviderCallError for configuration errors). */
  prepare: (call: AdapterCall, stream: boolean) => PreparedRequest<Context>;
  /** Reads a provider error body. */
  parseError: (body: unknown) => UpstreamErrorDetails;
  /** A 2xx JSON body -> result. */
  convertResponse: (body: unknown, prepared: PreparedRequest<Context>, call: AdapterCall) => GenerateResult;
  /** SSE events -> parts; must read `events` to the end rather than break. */
  mapStream: (events: AsyncIterable<SseEvent>, prepared: PreparedRequest<Context>, call: AdapterCall) => AsyncIterable<StreamPart>;
}

/** Builds a ProviderAdapter from a protocol description. */
export function createHttpAdapter<Context>(protocol: HttpProtocol<Context>, options: HttpAdapterOptions = {}): ProviderAdapter {
  const errorContext = (call: AdapterCall) => ({ credential: call.credential, providerName: call.provider.name, parseDetails: protocol.parseError });
  return {
    protocol: protocol.protocol,

    async generate(call) {
      const prepared = protocol.prepare(call, false);
      const response = await postJson({ url: prepared.url, headers: prepared.headers, body: prepared.body, signal: call.signal, dispatcher: options.dispatcher });
      if (response.status < 200 || response.status >= 300) throw await errorFromResponse(response, call.signal, errorContext(call));
      const json = await readJson(response, call.signal, call.credential);
      return protocol.convertResponse(json, prepared, call);
    },

    async stream(call) {
      const prepared = protocol.prepare(call, true);
      const response = await postJson({
        url: prepared.url,
        headers: { accept: 'text/event-stream', ...prepared.headers },
        body: prepared.body,
        signal: call.signal,
        dispatcher: options.dispatcher,
      });
      if (response.status < 200 || response.status >= 300) throw await errorFromResponse(response, call.signal, errorContext(call));
      const parts = protocol.mapStream(readSse(response.body), prepared, call);
      return { parts: guardStream(parts, response.body, call.signal), warnings: prepared.warnings };
    },
  };
}
