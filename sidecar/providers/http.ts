/**
 * What every HTTP adapter shares: one keep-alive connection pool, JSON POSTs, SSE reading, abort
 * wiring, error classification (provider-wire-formats.md section 6), Retry-After parsing and
 * credential redaction. Adapters only translate shapes; everything on the socket happens here.
 */
import { Agent, errors, util, type Dispatcher } from 'undici';
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

/** Where a URL goes, as undici's dispatchers take it. */
interface Target {
  origin: string;
  path: string;
}

// Parsing the same few upstream URLs with `new URL` on every call showed up in profiles. Adapters
// build URLs from catalog data (base URL, model, operation), so the set is small; the cap only
// guards against a catalog that makes it large.
const TARGET_CACHE_LIMIT = 1_024;
const targets = new Map<string, Target>();

/** `url` split into origin and path, as undici's top-level `request(url)` would (same errors). */
function targetOf(url: string): Target {
  let target = targets.get(url);
  if (target === undefined) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new errors.InvalidArgumentError('Invalid URL protocol: the URL must start with `http:` or `https:`.');
    }
    target = { origin: parsed.origin, path: parsed.search === '' ? parsed.pathname : `${parsed.pathname}${parsed.search}` };
    if (targets.size >= TARGET_CACHE_LIMIT) targets.clear();
    targets.set(url, target);
  }
  return target;
}

/**
 * The request headers as a flat name/value list, equal (names, values, order) to spreading them
 * into `{ 'content-type': 'application/json', [first]: firstValue, ...headers }` without building
 * that object: a default the adapter also set keeps its place and takes the adapter's value.
 */
function requestHeaders(headers: Record<string, string>, first?: string, firstValue?: string): Array<string | undefined> {
  const list: Array<string | undefined> = ['content-type', 'content-type' in headers ? headers['content-type'] : 'application/json'];
  if (first !== undefined) list.push(first, first in headers ? headers[first] : firstValue);
  for (const name in headers) {
    if (name !== 'content-type' && name !== first) list.push(name, headers[name]);
  }
  return list;
}

/**
 * Sends the request and resolves once the status line and headers arrived (any status).
 * Connection failures, timeouts and aborts reject with a classified ProviderCallError.
 */
export async function postJson(post: JsonPost, accept?: string): Promise<UpstreamResponse> {
  if (post.signal.aborted) throw abortError(post.signal);
  try {
    const { origin, path } = targetOf(post.url);
    const response = await (post.dispatcher ?? sharedDispatcher).request({
      origin,
      path,
      method: 'POST',
      headers: requestHeaders(post.headers, accept === undefined ? undefined : 'accept', accept) as string[],
      body: JSON.stringify(post.body),
      signal: post.signal,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  } catch (error) {
    throw transportError(error, post.signal);
  }
}

/** A complete upstream response: status, headers and the body as text. */
export interface BufferedResponse {
  readonly status: number;
  readonly headers: UpstreamResponse['headers'];
  readonly text: string;
}

/** Headers are parsed from undici's raw list on first use: a 2xx JSON answer never needs them. */
class CollectedResponse implements BufferedResponse {
  readonly status: number;
  readonly text: string;
  readonly #rawHeaders: Buffer[];
  #headers: UpstreamResponse['headers'] | undefined;

  constructor(status: number, rawHeaders: Buffer[], text: string) {
    this.status = status;
    this.#rawHeaders = rawHeaders;
    this.text = text;
  }

  get headers(): UpstreamResponse['headers'] {
    // The same parse `request()` applies to build `response.headers`.
    this.#headers ??= util.parseHeaders(this.#rawHeaders);
    return this.#headers;
  }
}

/**
 * Sends the request and resolves with the whole response (any status). For JSON answers: the body
 * is collected as Buffer chunks by a small dispatch handler instead of a Readable stream. Errors
 * are those of `postJson` followed by `readText`: aborts, timeouts and socket failures before or
 * during the body reject with the same classified ProviderCallError.
 */
export function postJsonBuffered(post: JsonPost): Promise<BufferedResponse> {
  const { signal } = post;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<BufferedResponse>((resolve, reject) => {
    let handler: BufferingHandler | undefined;
    try {
      const { origin, path } = targetOf(post.url);
      handler = new BufferingHandler(signal, resolve, reject);
      (post.dispatcher ?? sharedDispatcher).dispatch(
        { origin, path, method: 'POST', headers: requestHeaders(post.headers) as string[], body: JSON.stringify(post.body) },
        handler,
      );
    } catch (error) {
      handler?.release();
      reject(transportError(error, signal));
    }
  });
}

/**
 * Collects one response. It listens to the abort signal itself (as an EventListener object, so no
 * closure per call) and aborts the undici request with the signal's reason, which is what
 * `request()` does; the rejection then goes through `transportError` like every other failure.
 * It implements undici's callback-style handler (onConnect/onHeaders/onData/onComplete/onError),
 * the one its clients call directly: the controller-style API is adapted to it per request, with
 * headers and trailers parsed eagerly, which measured ~8% more CPU per call.
 */
class BufferingHandler implements Dispatcher.DispatchHandler {
  readonly #signal: AbortSignal;
  readonly #resolve: (response: BufferedResponse) => void;
  readonly #reject: (error: ProviderCallError) => void;
  #abort: ((error?: Error) => void) | undefined;
  #status = 0;
  #rawHeaders: Buffer[] = [];
  readonly #chunks: Buffer[] = [];
  #length = 0;

  constructor(signal: AbortSignal, resolve: (response: BufferedResponse) => void, reject: (error: ProviderCallError) => void) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener('abort', this);
  }

  /** The signal's `abort` event. */
  handleEvent(): void {
    this.#abort?.(this.#signal.reason);
  }

  release(): void {
    this.#signal.removeEventListener('abort', this);
  }

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    // Aborted between dispatch and connect (request() does the same check in onConnect).
    if (this.#signal.aborted) abort(this.#signal.reason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    // 1xx informational responses come before the real one; request() ignores them too.
    if (statusCode >= 200) {
      this.#status = statusCode;
      this.#rawHeaders = rawHeaders;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    return true;
  }

  onComplete(): void {
    this.release();
    this.#resolve(new CollectedResponse(this.#status, this.#rawHeaders, decodeUtf8(this.#chunks, this.#length)));
  }

  onError(error: Error): void {
    this.release();
    this.#reject(transportError(error, this.#signal));
  }
}

/** UTF-8 text of the chunks without a byte-order mark, as undici's `body.text()` decodes. */
function decodeUtf8(chunks: Buffer[], length: number): string {
  if (chunks.length === 0 || length === 0) return '';
  const buffer = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length);
  const start = buffer.length > 2 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
  return buffer.toString('utf8', start);
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

/** Parses a 2xx JSON body already read; invalid JSON is a `malformed`, retryable failure (the upstream misbehaved). */
export function parseJsonBody(text: string, status: number, credential: string | undefined): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ProviderCallError({
      message: 'Upstream returned a body that is not JSON',
      kind: 'malformed',
      errorClass: 'retryable',
      status,
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

/** What `errorFromResponse` needs besides the response. */
export interface ErrorContext {
  credential: string | undefined;
  providerName: string;
  parseDetails: (body: unknown) => UpstreamErrorDetails;
}

/** Reads a non-2xx response fully and classifies it with the adapter's body parser. */
export async function errorFromResponse(response: UpstreamResponse, signal: AbortSignal, context: ErrorContext): Promise<ProviderCallError> {
  const bodyText = await readText(response, signal);
  return errorFromBody(response.status, response.headers, bodyText, context);
}

/** Classifies a non-2xx response whose body was already read. */
export function errorFromBody(status: number, headers: UpstreamResponse['headers'], bodyText: string, context: ErrorContext): ProviderCallError {
  const parsed = tryParseJson(bodyText);
  const details = parsed === undefined ? { message: bodyText.trim() === '' ? undefined : bodyText.slice(0, 500) } : context.parseDetails(parsed);
  return httpError({ status, headers, bodyText, details, credential: context.credential, providerName: context.providerName });
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
