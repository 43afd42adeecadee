/**
 * The call sequence every HTTP adapter shares: build the request, POST it through the pool,
 * classify a non-2xx answer, then either convert the JSON body or map the SSE events to parts
 * behind `guardStream`. Adapters supply only the protocol-specific, mostly pure, pieces.
 */
import type { ProtocolKind } from '../../engine/index.ts';
import {
  errorFromBody,
  errorFromResponse,
  guardStream,
  headerValue,
  httpError,
  parseJsonBody,
  postJson,
  postJsonBuffered,
  readSse,
  readText,
  redact,
  tryParseJson,
  type HttpAdapterOptions,
  type SseEvent,
  type UpstreamErrorDetails,
  type UpstreamResponse,
} from './http.ts';
import { ProviderCallError, type AdapterCall, type GenerateResult, type ProviderAdapter, type StreamPart, type StreamResult } from './spec.ts';

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
  const response = await postJsonBuffered({ url: prepared.url, headers: prepared.headers, body: prepared.body, signal: call.signal, dispatcher: options.dispatcher });
  if (response.status < 200 || response.status >= 300) {
    throw errorFromBody(response.status, response.headers, response.text, { credential: call.credential, providerName: call.provider.name, parseDetails: parseError });
  }
  return convert(parseJsonBody(response.text, response.status, call.credential));
}

/** POSTs a prepared streaming request; resolves once 2xx headers arrived, then yields mapped parts. */
export async function postAndStream<Context>(
  prepared: PreparedRequest<Context>,
  call: Pick<AdapterCall, 'signal' | 'credential' | 'provider'>,
  parseError: ErrorParser,
  map: (events: AsyncIterable<SseEvent>) => AsyncIterable<StreamPart>,
  options: HttpAdapterOptions = {},
): Promise<StreamResult> {
  const response = await postJson({ url: prepared.url, headers: prepared.headers, body: prepared.body, signal: call.signal, dispatcher: options.dispatcher }, 'text/event-stream');
  if (response.status < 200 || response.status >= 300) {
    throw await errorFromResponse(response, call.signal, { credential: call.credential, providerName: call.provider.name, parseDetails: parseError });
  }
  // Some hosts answer a stream request with a 200 JSON error instead of SSE. Failing here, before
  // the stream is accepted, still lets the executor fall back.
  if (headerValue(response.headers, 'content-type')?.includes('application/json') === true) {
    throw await jsonInsteadOfStream(response, call, parseError);
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

async function jsonInsteadOfStream(
  response: UpstreamResponse,
  call: Pick<AdapterCall, 'signal' | 'credential' | 'provider'>,
  parseError: ErrorParser,
): Promise<ProviderCallError> {
  const bodyText = await readText(response, call.signal);
  const parsed = tryParseJson(bodyText);
  const details = parsed === undefined ? {} : parseError(parsed);
  if (details.message === undefined) {
    return new ProviderCallError({ message: `${call.provider.name} answered a stream request with JSON`, kind: 'malformed', errorClass: 'retryable', raw: redact(bodyText, call.credential) });
  }
  const embedded = (parsed as { error?: { code?: unknown } } | undefined)?.error?.code;
  const status = typeof embedded === 'number' && embedded >= 400 && embedded < 600 ? embedded : 502;
  return httpError({ status, headers: response.headers, bodyText, details, credential: call.credential, providerName: call.provider.name });
}
