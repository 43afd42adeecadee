/**
 * The call sequence every HTTP adapter shares: build the request, POST it through the pool,
 * classify a non-2xx answer, then either convert the JSON body or map the SSE events to parts
 * behind `guardStream`. Adapters supply only the protocol-specific, mostly pure, pieces.
 */
import type { ProtocolKind } from '../../engine/index.ts';
import { errorFromResponse, guardStream, postJson, readJson, readSse, type HttpAdapterOptions, type SseEvent, type UpstreamErrorDetails } from './http.ts';
import type { AdapterCall, GenerateResult, ProviderAdapter, StreamPart, StreamResult } from './spec.ts';

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

/** How to read a provider's error bodies, for the helpers below. */
export type ErrorParser = (body: unknown) => UpstreamErrorDetails;

/** POSTs a prepared request and converts the 2xx JSON body; non-2xx rejects classified. */
export async function postAndConvert<Context, Result>(
  prepared: PreparedRequest<Context>,
  call: Pick<AdapterCall, 'signal' | 'credential' | 'provider'>,
  parseError: ErrorParser,
  convert: (body: unknown) => Result,
  options: HttpAdapterOptions = {},
): Promise<Result> {
  const response = await postJson({ url: prepared.url, headers: prepared.headers, body: prepared.body, signal: call.signal, dispatcher: options.dispatcher });
  if (response.status < 200 || response.status >= 300) {
    throw await errorFromResponse(response, call.signal, { credential: call.credential, providerName: call.provider.name, parseDetails: parseError });
  }
  return convert(await readJson(response, call.signal, call.credential));
}

/** POSTs a prepared streaming request; resolves once 2xx headers arrived, then yields mapped parts. */
export async function postAndStream<Context>(
  prepared: PreparedRequest<Context>,
  call: Pick<AdapterCall, 'signal' | 'credential' | 'provider'>,
  parseError: ErrorParser,
  map: (events: AsyncIterable<SseEvent>) => AsyncIterable<StreamPart>,
  options: HttpAdapterOptions = {},
): Promise<StreamResult> {
  const response = await postJson({
    url: prepared.url,
    headers: { accept: 'text/event-stream', ...prepared.headers },
    body: prepared.body,
    signal: call.signal,
    dispatcher: options.dispatcher,
  });
  if (response.status < 200 || response.status >= 300) {
    throw await errorFromResponse(response, call.signal, { credential: call.credential, providerName: call.provider.name, parseDetails: parseError });
  }
  return { parts: guardStream(map(readSse(response.body)), response.body, call.signal), warnings: prepared.warnings };
}

/** Builds a ProviderAdapter from a protocol description. */
export function createHttpAdapter<Context>(protocol: HttpProtocol<Context>, options: HttpAdapterOptions = {}): ProviderAdapter {
  return {
    protocol: protocol.protocol,
    // async so that a configuration error thrown by `prepare` rejects instead of throwing.
    generate: async (call) => {
      const prepared = protocol.prepare(call, false);
      return postAndConvert(prepared, call, protocol.parseError, (body) => protocol.convertResponse(body, prepared, call), options);
    },
    stream: async (call) => {
      const prepared = protocol.prepare(call, true);
      return postAndStream(prepared, call, protocol.parseError, (events) => protocol.mapStream(events, prepared, call), options);
    },
  };
}
