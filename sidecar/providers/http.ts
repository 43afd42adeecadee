/**
 * What every HTTP adapter shares: one keep-alive connection pool, JSON POSTs, SSE reading, abort
 * wiring, error classification (provider-wire-formats.md section 6), Retry-After parsing and
 * credential redaction. Adapters only translate shapes; everything on the socket happens here.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ProviderCallError, type ErrorClass, type StreamPart } from './spec.ts';

// ---------------------------------------------------------------------------------------------
// Connection pool
// ---------------------------------------------------------------------------------------------

/**
 * One pool for all upstream calls. Keep-alive matters more than anything else on the hot path:
 * a fresh TCP (and TLS) handshake per request would cost more than the whole gateway budget.
 */
export const sharedDispatcher: Dispatcher = new Agent({
  keepAliveTimeout: 30_000,
  keepAliveMaxTimeout: 600_000,
  connections: null,
  pipelining: 1,
  // Deadlines are owned by the executor through the abort signal; undici's own defaults (300 s)
  // only act as a last resort.
  headersTimeout: 300_000,
  bodyTimeout: 300_000,
});

/** Options every HTTP adapter factory accepts. */
export interface HttpAdapterOptions {
  /** The undici dispatcher to send through; defaults to the shared keep-alive pool. */
  dispatcher?: Dispatcher;
}

/** An upstream response whose headers arrived; the body is still unread. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** A JSON POST to an upstream. */
export interface JsonPost {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  signal: AbortSignal;
  dispatcher?: Dispatcher | undefined;
}

/**
 * Sends the request and resolves once the status line and headers arrived (any status).
 * Connection failures, timeouts and aborts reject with a classified ProviderCallError.
 */
export async function postJson(post: JsonPost): Promise<UpstreamResponse> {
  if (post.signal.aborted) throw abortError(post.signal);
  try {
    const response = await request(post.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...post.headers },
      body: JSON.stringify(post.body),
      signal: post.signal,
      dispatcher: post.dispatcher ?? sharedDispatcher,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  } catch (error) {
    throw transportError(error, post.signal);
  }
}

/** Throws away an unread body so its socket is closed rather than left half-read. */
export function discardBody(body: UpstreamResponse['body']): void {
  if (!body.destroyed && !body.readableEnded) body.destroy();
}

// ---------------------------------------------------------------------------------------------
// Transport errors
// ---------------------------------------------------------------------------------------------

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/**
 * The error for an aborted signal. A `TimeoutError` reason (AbortSignal.timeout, or a deadline the
 * executor set) is a timeout and retryable; any other reason is a caller abort and final.
 */
export function abortError(signal: AbortSignal, cause?: unknown): ProviderCallError {
  const reason: unknown = signal.reason;
  if (reason instanceof ProviderCallError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new ProviderCallError({ message: 'Upstream deadline exceeded', kind: 'timeout', errorClass: 'retryable', cause: cause ?? reason });
  }
  return new ProviderCallError({ message: 'Upstream call aborted', kind: 'aborted', errorClass: 'final', cause: cause ?? reason });
}

/** Maps anything thrown by the socket layer to a ProviderCallError. */
export function transportError(error: unknown, signal: AbortSignal): ProviderCallError {
  if (error instanceof ProviderCallError) return error;
  if (signal.aborted) return abortError(signal, error);
  const code = errorCode(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new ProviderCallError({ message: `Upstream timed out (${code})`, kind: 'timeout', errorClass: 'retryable', cause: error });
  }
  const detail = code ?? (error instanceof Error ? error.message : String(error));
  return new ProviderCallError({ message: `Upstream connection failed (${detail})`, kind: 'connection', errorClass: 'retryable', cause: error });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  // undici wraps socket errors; the code that matters may sit one `cause` down.
  for (let depth = 0; depth < 3 && current instanceof Error; depth += 1) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = current.cause;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

/** Largest error body kept in `raw`. */
export const RAW_LIMIT = 4_096;

/** Reads a whole body as text; transport failures become ProviderCallError. */
export async function readText(response: UpstreamResponse, signal: AbortSignal): Promise<string> {
  try {
    return await response.body.text();
  } catch (error) {
    throw transportError(error, signal);
  }
}

/** Reads a 2xx JSON body. Invalid JSON is a `malformed`, retryable failure (the upstream misbehaved). */
export async function readJson(response: UpstreamResponse, signal: AbortSignal, credential: string | undefined): Promise<unknown> {
  const text = await readText(response, signal);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ProviderCallError({
      message: 'Upstream returned a body that is not JSON',
      kind: 'malformed',
      errorClass: 'retryable',
      status: response.status,
      raw: redact(text, credential),
      cause: error,
    });
  }
}

/** Parses JSON without throwing; `undefined` when the text is not JSON. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------------------------

const SECRET_PATTERNS: RegExp[] = [
  /\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}/g,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /([?&](?:key|api[_-]?key|token|access_token)=)[^&\s"']+/gi,
];

/** Truncates and removes the credential (and anything shaped like a key) from upstream text. */
export function redact(text: string, credential: string | undefined): string {
  let result = text.length > RAW_LIMIT ? `${text.slice(0, RAW_LIMIT)}…` : text;
  if (credential !== undefined && credential.length >= 4) result = result.split(credential).join('[REDACTED]');
  for (const pattern of SECRET_PATTERNS) {
    result = result.replace(pattern, (match, prefix: unknown) =>
      typeof prefix === 'string' && prefix.endsWith('=') ? `${prefix}[REDACTED]` : '[REDACTED]',
    );
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

/** What an adapter's errors.ts extracts from a provider error body. */
export interface UpstreamErrorDetails {
  message?: string | undefined;
  /** Provider error code or type (`context_length_exceeded`, `overloaded_error`, `RESOURCE_EXHAUSTED`...). */
  code?: string | undefined;
  /** Delay the body asked for (Gemini RetryInfo), ms. */
  retryAfterMs?: number | undefined;
}

// LiteLLM's matcher strings plus the providers' own wording (provider-wire-formats.md section 6).
const CONTEXT_LENGTH_PATTERNS = [
  'context_length_exceeded',
  'maximum context length',
  'context window',
  'context length',
  'prompt is too long',
  'exceeds the maximum number of tokens',
  'input is too long',
  'too many tokens',
  'reduce the length',
  'current length is',
  'model_context_window_exceeded',
  // TGI-based hosts (Together): "`inputs` tokens + `max_new_tokens` must be <= N".
  'max_new_tokens` must be',
];
const CONTENT_POLICY_PATTERNS = ['content_filter', 'content_policy', 'responsibleaipolicyviolation', 'content management policy', 'safety system'];
const QUOTA_PATTERNS = ['insufficient_quota', 'billing', 'exceeded your current quota', 'credit balance'];

function matchesAny(haystack: string, patterns: string[]): boolean {
  return patterns.some((pattern) => haystack.includes(pattern));
}

/**
 * The error class for an HTTP status and what the body said (provider-wire-formats.md section 6):
 * 408/409/429/5xx/529 retryable (429 quota is `fallback`), 401/403 `final` (a bad or unauthorized
 * key is the operator's to fix, and trying other endpoints would only hide it), 402/404 `fallback`,
 * context-length and content-policy 400s get their own classes, other 4xx are `final`.
 */
export function classifyHttpStatus(status: number, details: UpstreamErrorDetails, headers?: UpstreamResponse['headers']): ErrorClass {
  const text = `${details.code ?? ''} ${details.message ?? ''}`.toLowerCase();
  let errorClass: ErrorClass;
  // A 429 that says when to come back is transient even if it words itself as a quota (Gemini free tier).
  if (status === 429) errorClass = matchesAny(text, QUOTA_PATTERNS) && details.retryAfterMs === undefined ? 'fallback' : 'retryable';
  else if (status === 408 || status === 409 || status >= 500) errorClass = 'retryable';
  else if (status === 401 || status === 403) errorClass = 'final';
  else if (status === 402 || status === 404) errorClass = 'fallback';
  else if (matchesAny(text, CONTEXT_LENGTH_PATTERNS)) errorClass = 'context_length';
  else if (matchesAny(text, CONTENT_POLICY_PATTERNS)) errorClass = 'content_policy';
  else if (status === 413) errorClass = 'fallback';
  else errorClass = 'final';

  // Stainless SDKs give x-should-retry priority; "false" still lets another target try.
  const shouldRetry = headers === undefined ? undefined : headerValue(headers, 'x-should-retry');
  if (shouldRetry === 'true' && errorClass !== 'context_length') errorClass = 'retryable';
  if (shouldRetry === 'false' && errorClass === 'retryable') errorClass = 'fallback';
  return errorClass;
}

/** Builds the ProviderCallError for a non-2xx response. */
export function httpError(init: {
  status: number;
  headers: UpstreamResponse['headers'];
  bodyText: string;
  details: UpstreamErrorDetails;
  credential: string | undefined;
  providerName: string;
}): ProviderCallError {
  const { status, headers, details } = init;
  const retryAfterMs = retryAfterFromHeaders(headers) ?? details.retryAfterMs;
  const summary = details.message ?? (init.bodyText.trim() === '' ? 'no body' : init.bodyText.slice(0, 200));
  return new ProviderCallError({
    message: redact(`${init.providerName} returned HTTP ${status}: ${summary}`, init.credential),
    kind: 'http',
    errorClass: classifyHttpStatus(status, details, headers),
    status,
    raw: redact(init.bodyText, init.credential),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** Reads a non-2xx response fully and classifies it with the adapter's body parser. */
export async function errorFromResponse(
  response: UpstreamResponse,
  signal: AbortSignal,
  context: { credential: string | undefined; providerName: string; parseDetails: (body: unknown) => UpstreamErrorDetails },
): Promise<ProviderCallError> {
  const bodyText = await readText(response, signal);
  const parsed = tryParseJson(bodyText);
  const details = parsed === undefined ? { message: bodyText.trim() === '' ? undefined : bodyText.slice(0, 500) } : context.parseDetails(parsed);
  return httpError({ status: response.status, headers: response.headers, bodyText, details, credential: context.credential, providerName: context.providerName });
}

/** A single header value, lower-case name. */
export function headerValue(headers: UpstreamResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Delay the upstream asked for: `retry-after-ms`, then Azure's `x-ms-retry-after-ms`, then
 * `retry-after` as seconds or an HTTP date.
 */
export function retryAfterFromHeaders(headers: UpstreamResponse['headers'], now: number = Date.now()): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = headerValue(headers, name);
    if (value === undefined) continue;
    const milliseconds = Number.parseFloat(value);
    if (Number.isFinite(milliseconds) && milliseconds >= 0) return Math.round(milliseconds);
  }
  const retryAfter = headerValue(headers, 'retry-after');
  if (retryAfter === undefined) return undefined;
  const trimmed = retryAfter.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number.parseFloat(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Parses a protobuf Duration string such as `"34.4s"` (Gemini RetryInfo.retryDelay) to ms. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return match?.[1] === undefined ? undefined : Math.round(Number.parseFloat(match[1]) * 1000);
}

/** Error part for a failure after the upstream accepted the request. */
export function streamErrorPart(init: { message: string; kind: ProviderCallError['kind']; errorClass?: ErrorClass; raw?: string; cause?: unknown }): StreamPart {
  return {
    type: 'error',
    error: new ProviderCallError({
      message: init.message,
      kind: init.kind,
      errorClass: init.errorClass ?? 'retryable',
      ...(init.raw === undefined ? {} : { raw: init.raw }),
      cause: init.cause,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Server-sent events
// ---------------------------------------------------------------------------------------------

/**
 * One SSE event. `event` is `undefined` for plain `data:` events. Text that is not SSE at all
 * (Gemini can send a raw JSON error object mid-stream) arrives as `{ event: 'raw' }`.
 */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/**
 * Parses an SSE byte stream into events. Tolerates `\r\n` and `\r` line endings, comment lines and a
 * missing `[DONE]`; the caller decides what ends its protocol.
 */
export async function* readSse(body: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const queue: SseEvent[] = [];
  let rawLines: string[] = [];
  const parser = createParser({
    onEvent: (message: EventSourceMessage) => queue.push({ event: message.event, data: message.data }),
    onError: (error) => {
      if (error.type === 'unknown-field' && error.line !== undefined) {
        rawLines.push(error.line);
        const candidate = rawLines.join('\n');
        if (tryParseJson(candidate) !== undefined) {
          queue.push({ event: 'raw', data: candidate });
          rawLines = [];
        }
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    while (queue.length > 0) yield queue.shift() as SseEvent;
  }
  // A final event without its blank line (Gemini just closes the connection) still counts.
  parser.feed(`${decoder.decode()}\n\n`);
  while (queue.length > 0) yield queue.shift() as SseEvent;
  if (rawLines.length > 0) yield { event: 'raw', data: rawLines.join('\n') };
}

/**
 * Wraps an adapter's part mapper so that nothing escapes as an exception: transport failures and
 * aborts become a final `error` part, and the upstream body is destroyed when the consumer stops
 * early (closing the socket, which is what cancels generation upstream).
 */
export async function* guardStream(
  parts: AsyncIterable<StreamPart>,
  body: UpstreamResponse['body'],
  signal: AbortSignal,
): AsyncGenerator<StreamPart> {
  try {
    // Mappers read their event source to the end (never `break`), so a finished stream leaves the
    // socket reusable; only an early stop by the consumer reaches `finally` with body unread.
    for await (const part of parts) {
      yield part;
      if (part.type === 'error') return;
    }
  } catch (error) {
    yield { type: 'error', error: transportError(error, signal) };
  } finally {
    discardBody(body);
  }
}
