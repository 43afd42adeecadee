/**
 * Structured request logs: pino JSON to stdout, one line per request. Generation requests carry
 * the generation id, model, provider, status, latency, attempt chain, tokens and cost (joined from
 * the generation record by the `X-Generation-Id` header); other routes carry method, route, status
 * and latency. Probes and scrapes log at debug only.
 *
 * No secrets: authorization-like headers and key fields are redacted by pino wherever they appear,
 * and no header is logged wholesale. Request lines are secret-free by construction (named fields
 * only: path without query, ids, names, counts), so they skip pino's per-line redaction walk,
 * which cost about 18 µs a line, most of a line's price. No prompt text unless `logPrompts` is on (then the request's
 * messages, truncated).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { GenerationRecord } from '../store/generation-record.ts';
import { servedByFallback } from './record-facts.ts';
import { routeTemplate } from './route-template.ts';

/** Paths pino replaces with `[redacted]` in every line. */
export const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'headers["x-goog-api-key"]',
  'headers.cookie',
  'request.headers.authorization',
  'request.headers["x-api-key"]',
  'request.headers.cookie',
  'api_key',
  'apiKey',
  'credential',
  'secret',
  'password',
  '*.authorization',
  '*.api_key',
  '*.apiKey',
  '*.credential',
  '*.secret',
  '*.password',
];

export interface PinoOptions {
  level?: string;
  serviceName?: string;
  /** Default: stdout, buffered (see `bufferedStdout`). */
  destination?: DestinationStream;
}

/** Stdout lines are written in blocks of this many bytes, or every `LOG_FLUSH_MS`, whichever comes first. */
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 50;

/**
 * Stdout, buffered: one write per ~10 request lines instead of one each (a write was ~5% of a
 * request's CPU). The block is written synchronously, as pino's default destination writes: an
 * asynchronous write goes through libuv's thread pool, which cost a lock hand-off, a thread wake-up
 * and a completion wake-up of the event loop per block (0.7 futex calls per request under load).
 */
function bufferedStdout(): DestinationStream {
  const destination = pino.destination({ sync: true, minLength: LOG_BUFFER_BYTES });
  // pino flushes what is left at exit only for asynchronous destinations: this one is flushed here.
  if (!flushingAtExit) {
    flushingAtExit = true;
    process.once('exit', flushBuffered);
  }
  buffered.add(destination);
  // This bounds how late a line shows while the process runs.
  const timer = setInterval(() => {
    try {
      destination.flush();
    } catch {
      clearInterval(timer); // destroyed: nothing left to flush
      buffered.delete(destination);
    }
  }, LOG_FLUSH_MS);
  timer.unref();
  return destination;
}

/** Buffered stdout destinations, written out when the process exits (one listener for all). */
const buffered = new Set<ReturnType<typeof pino.destination>>();
let flushingAtExit = false;

function flushBuffered(): void {
  for (const destination of buffered) {
    try {
      destination.flushSync();
    } catch {
      // Destroyed, or stdout is gone: nothing more can be written.
    }
  }
}

let timeMs = -1;
let timeField = '';

/** pino's `stdTimeFunctions.isoTime`, formatted once per millisecond (lines in the same ms share it). */
function isoTime(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeField;
}

/** The sidecar's pino logger: JSON lines, ISO times, redaction on. */
export function createPinoLogger(options: PinoOptions = {}): PinoLogger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.serviceName ?? 'switchyard' },
      timestamp: isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    options.destination ?? bufferedStdout(),
  );
}

/** `1:sim-cheap 503 retryable 40ms > 2:sim-fast 200 ok 412ms`. */
export function attemptChain(record: GenerationRecord): string {
  // One pass over the attempts (skipped plan entries left out), no intermediate arrays.
  let chain = '';
  for (const attempt of record.attempts) {
    if (attempt.outcome === 'skipped') continue;
    if (chain !== '') chain += ' > ';
    chain += `${attempt.attempt}${attempt.retry > 0 ? `.${attempt.retry}` : ''}:${attempt.provider} ${attempt.status ?? '-'} ${attempt.outcome} ${attempt.latency_ms}ms`;
  }
  return chain;
}

/**
 * A request line with its generation record: `fields` (the request's own: method, path, route,
 * status, duration_ms, and client_closed / prompt when set), then the record's fields, then the
 * HTTP status. Built as one object literal, all keys in this order (absent ones undefined, which
 * lines leave out): one shape for every line, which the line writer's `for...in` walks fast; an
 * object grown key by key to some 25 keys is walked several times slower.
 */
function generationLine(fields: Record<string, unknown>, record: GenerationRecord): Record<string, unknown> {
  return {
    method: fields.method,
    path: fields.path,
    route: fields.route,
    status: record.status,
    duration_ms: fields.duration_ms,
    client_closed: fields.client_closed,
    prompt: fields.prompt,
    generation_id: record.id,
    model: record.model,
    requested_models: record.requested_models,
    provider: record.provider,
    latency_ms: record.latency_ms,
    streamed: record.streamed,
    cancelled: record.cancelled,
    finish_reason: record.finish_reason,
    attempts: attemptChain(record),
    attempt_count: record.attempts.length,
    fallback: servedByFallback(record),
    prompt_tokens: record.usage.prompt_tokens ?? null,
    completion_tokens: record.usage.completion_tokens ?? null,
    cost: record.total_cost,
    policy: `${record.policy_id}@${record.policy_version}`,
    key: record.key,
    user: record.user,
    error: record.error ?? undefined,
    http_status: fields.status,
  };
}

export interface RequestLogOptions {
  logger: Logger;
  clock: Clock;
  /** Include the request's messages (truncated to `promptLimit` characters). Default false. */
  logPrompts?: boolean;
  promptLimit?: number;
  /** How long a finished response waits for its generation record before logging without it. */
  recordWaitMs?: number;
}

/** Routes logged at debug level only (probes, scrapes, the dashboard's polling). */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/api/v1/dashboard/summary']);

/** The path of a request URL, without the query. */
export function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const query = raw.indexOf('?');
  return query === -1 ? raw : raw.slice(0, query);
}

interface Pending {
  fields: Record<string, unknown>;
  timer: NodeJS.Timeout;
}

/** The same logger without redaction paths, when it is pino (anything else is used as is). */
function withoutRedaction(logger: Logger): Logger {
  const child = (logger as Partial<PinoLogger>).child;
  return typeof child === 'function' ? child.call(logger, {}, { redact: { paths: [], censor: '[redacted]' } }) : logger;
}

type LineLevel = 'debug' | 'info' | 'warn';
/** Writes one request line at a level. */
type LineWriter = (level: LineLevel, fields: Record<string, unknown>) => void;

/** What JSON.stringify escapes in a string: quotes, backslashes, control characters, and (lone) surrogates. */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON value of a request line (strings, numbers, booleans, null, arrays of strings). */
function jsonValue(value: unknown): string {
  // Most values are plain strings (ids, models, paths): quoted as they are, exactly as
  // JSON.stringify would write them, without its per-call set-up (most of a line's cost).
  if (typeof value === 'string') return ESCAPED.test(value) ? JSON.stringify(value) : `"${value}"`;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null) return 'null';
  return JSON.stringify(value);
}

/**
 * Request lines written straight to a pino logger's destination, byte for byte what
 * `logger[level](fields, 'request')` writes: pino's level prefix, its time, its bindings, the
 * fields in order (undefined ones left out), `"msg"`. Request lines are flat and secret-free (see
 * the header), so pino's generic per-key serialisation, a visible share of a proxied request's CPU
 * in saturation profiles, is not needed. Any other logger gets `logger[level](fields, 'request')`.
 */
function lineWriter(logger: Logger): LineWriter {
  const pinoLogger = logger as Partial<PinoLogger> & Record<symbol, unknown>;
  const stream = pinoLogger[pino.symbols.streamSym] as ({ write(line: string): unknown } & Record<symbol, unknown>) | undefined;
  const levels = pinoLogger[pino.symbols.lsCacheSym] as Record<number, string> | undefined;
  const time = pinoLogger[pino.symbols.timeSym] as (() => string) | undefined;
  const isEnabled = pinoLogger.isLevelEnabled;
  const formatters = pinoLogger[pino.symbols.formattersSym] as { log?: unknown } | undefined;
  const hooks = pinoLogger[pino.symbols.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const fallback: LineWriter = (level, fields) => logger[level](fields, 'request');
  // What would change pino's output (a log formatter, a mixin, a message prefix, hooks): leave those loggers to pino.
  const customised = formatters?.log !== undefined || pinoLogger[pino.symbols.mixinSym] !== undefined || pinoLogger[(pino.symbols as unknown as Record<string, symbol>).msgPrefixSym as symbol] !== undefined || hooks?.logMethod !== undefined || hooks?.streamWrite !== undefined || stream?.[pino.symbols.needsMetadataGsym] === true;
  if (!stream || !levels || !time || typeof isEnabled !== 'function' || typeof pinoLogger.levels !== 'object' || customised) return fallback;
  const values = pinoLogger.levels.values;
  // `,"name":` for each field name seen (a handful): made once, not once per line.
  const prefixes = new Map<string, string>();
  return (level, fields) => {
    if (!isEnabled.call(logger, level)) return;
    let line = (levels[values[level] as number] as string) + time() + (pinoLogger[pino.symbols.chindingsSym] as string);
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      let prefix = prefixes.get(key);
      if (prefix === undefined) {
        prefix = `,${JSON.stringify(key)}:`;
        if (prefixes.size < 256) prefixes.set(key, prefix);
      }
      line += prefix + jsonValue(value);
    }
    line += ',"msg":"request"}\n';
    // Appended piece by piece: cheaper than collecting the pieces and joining them (the
    // destination measures the line's byte length first, which flattens it once).
    stream.write(line);
  };
}

export class RequestLog {
  readonly #options: RequestLogOptions;
  /** Where request lines go: `options.logger`, minus redaction (see the header). */
  readonly #lines: LineWriter;
  /** Responses that finished before their generation record arrived, by generation id. */
  readonly #waitingForRecord = new Map<string, Pending>();
  /** Records that arrived before their response finished, by generation id (bounded). */
  readonly #earlyRecords = new Map<string, GenerationRecord>();

  constructor(options: RequestLogOptions) {
    this.#options = options;
    this.#lines = lineWriter(withoutRedaction(options.logger));
  }

  /** Follow one request to its end; call when it arrives (plain Node objects: works before any framework). */
  observe(request: IncomingMessage & { body?: unknown }, response: ServerResponse): void {
    const startedAt = this.#options.clock.monotonic();
    // Taken now: routers rewrite request.url while they run.
    const path = pathOf(request.url);
    response.once('close', () => this.ended(request, response, path, routeTemplate(path), this.#options.clock.monotonic() - startedAt));
  }

  /**
   * One request's end (its response closed): `path` as it arrived (without the query), its route
   * template, and how long it took, ms. `observe` calls it; a listener that already follows the
   * response (ops' `listener()`) calls it from its own close handler.
   */
  ended(request: IncomingMessage & { body?: unknown }, response: ServerResponse, path: string, route: string, durationMs: number): void {
    const fields: Record<string, unknown> = {
      method: request.method,
      path,
      route,
      status: response.statusCode,
      duration_ms: Math.round(durationMs),
    };
    if (!response.writableFinished) fields.client_closed = true;
    if (this.#options.logPrompts) {
      const body = request.body as { messages?: unknown } | undefined;
      if (body && body.messages !== undefined) fields.prompt = JSON.stringify(body.messages).slice(0, this.#options.promptLimit ?? 4096);
    }
    const generationId = response.getHeader('X-Generation-Id');
    if (typeof generationId !== 'string') {
      this.#lines(QUIET_PATHS.has(path) ? 'debug' : 'info', fields);
      return;
    }
    const record = this.#earlyRecords.get(generationId);
    if (record) {
      this.#earlyRecords.delete(generationId);
      this.#emit(fields, record);
      return;
    }
    const timer = setTimeout(() => {
      this.#waitingForRecord.delete(generationId);
      this.#emit({ ...fields, generation_id: generationId }, undefined);
    }, this.#options.recordWaitMs ?? 2_000);
    timer.unref();
    this.#waitingForRecord.set(generationId, { fields, timer });
  }

  /** Express middleware form of `observe`. */
  readonly middleware = (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    this.observe(request, response);
    next();
  };

  /** Feed every generation record here (the store's append). */
  onRecord(record: GenerationRecord): void {
    const pending = this.#waitingForRecord.get(record.id);
    if (pending) {
      clearTimeout(pending.timer);
      this.#waitingForRecord.delete(record.id);
      this.#emit(pending.fields, record);
      return;
    }
    this.#earlyRecords.set(record.id, record);
    if (this.#earlyRecords.size > 1_000) {
      const oldest = this.#earlyRecords.keys().next();
      if (!oldest.done) this.#earlyRecords.delete(oldest.value);
    }
  }

  #emit(fields: Record<string, unknown>, record: GenerationRecord | undefined): void {
    const line = record ? generationLine(fields, record) : fields;
    const status = typeof line.status === 'number' ? line.status : 0;
    this.#lines(status >= 500 ? 'warn' : 'info', line);
  }
}
