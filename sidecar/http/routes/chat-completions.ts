/**
 * `POST /api/v1/chat/completions`: body -> facts -> plan -> execution -> JSON or SSE, plus the
 * generation record, the spans and the opt-in attempt log.
 */
import { propagation, ROOT_CONTEXT, SpanKind, trace, type Context } from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Identity, PlanAttempt, RequestFacts } from '../../../engine/index.ts';
import {
  ClientGone,
  failureFor,
  generatePlan,
  openPlanStream,
  withLog,
  withRequest,
  type AttemptLog,
  type ExecutionInput,
  type ExecutorDependencies,
  type PlanInput,
  type StreamOutcome,
} from '../../execute/execute-plan.ts';
import { ProviderCallError, type Usage } from '../../providers/spec.ts';
import type { GenerationRecord } from '../../store/generation-record.ts';
import { ATTRIBUTES } from '../../telemetry/attributes.ts';
import { NOOP_TRACER } from '../../telemetry/noop.ts';
import { parseChatBody, providerRequest } from '../chat-body.ts';
import { errorResponse, type GatewayError } from '../errors.ts';
import { endRequestSpan, routeRequest, saveRecord, seedOf, sendError, sendJson, type GatewayContext } from '../gateway-context.ts';
import { ChunkWriter, completionBody, SSE_DONE, wireUsage, type ServedBy, type StreamChunks } from '../response-shape.ts';
import { gatewayFor, wrongKindError, type RouteKind } from '../route-catalog.ts';

/** The inbound request once its body was read (any Node request listener can call the handler). */
export type ChatHttpRequest = IncomingMessage & { body?: unknown };

/** Request header that turns the attempt log on. */
export const ATTEMPT_LOG_HEADER = 'x-switchyard-attempts';
const KEEP_ALIVE_COMMENT = ': SWITCHYARD PROCESSING\n\n';

/** One request in flight: what the record, the span and the log need at the end. */
export interface Exchange {
  apiType: GenerationRecord['api_type'];
  id: string;
  startedAt: number;
  createdAt: number;
  identity: Identity;
  span: ReturnType<GatewayContext['tracer']['startSpan']>;
  spanContext: Context;
  wantsAttemptLog: boolean;
  facts: RequestFacts | undefined;
  policy: { id: string; version: string };
  request: ChatHttpRequest;
  /** Scope keys of the policy budgets accounting held the request against (the record's `budgets`). */
  budgets?: string[];
}

export function header(request: ChatHttpRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === 'string' ? value : null;
}

/** `1:openai:429:retryable:12ms,2:deepinfra:200:ok:40ms`: ASCII, safe in a header. */
export function attemptSummary(attempts: AttemptLog): string {
  return attempts.map((entry) => `${entry.attempt}:${entry.provider}:${entry.status ?? '-'}:${entry.outcome}:${entry.latency_ms}ms`).join(',');
}

export function buildRecord(
  gateway: GatewayContext,
  exchange: Exchange,
  fields: {
    attempt: PlanAttempt | undefined;
    attempts: AttemptLog;
    status: number;
    streamed: boolean;
    cancelled: boolean;
    finishReason: string | null;
    nativeFinishReason: string | null;
    usage: Usage;
    upstreamId: string | null;
    generationTimeMs: number | null;
    error: string | null;
  },
): GenerationRecord {
  const { facts } = exchange;
  let totalCost = '0';
  for (const entry of fields.attempts) if (entry.outcome === 'ok' || entry.outcome === 'cancelled') totalCost = entry.cost;
  return {
    id: exchange.id,
    created_at: new Date(exchange.createdAt).toISOString(),
    model: fields.attempt?.model ?? facts?.model ?? '',
    requested_models: facts?.models ?? [],
    provider: fields.attempt?.provider ?? null,
    provider_name: fields.attempt?.provider_name ?? null,
    upstream_id: fields.upstreamId,
    api_type: exchange.apiType,
    streamed: fields.streamed,
    cancelled: fields.cancelled,
    status: fields.status,
    finish_reason: fields.finishReason,
    native_finish_reason: fields.nativeFinishReason,
    usage: fields.usage,
    total_cost: totalCost,
    latency_ms: Math.round(gateway.clock.monotonic() - exchange.startedAt),
    generation_time_ms: fields.generationTimeMs,
    key: exchange.identity.key ?? null,
    user: facts?.user ?? exchange.identity.user ?? null,
    team: exchange.identity.team ?? null,
    tags: facts?.tags ?? [],
    http_referer: header(exchange.request, 'http-referer'),
    x_title: header(exchange.request, 'x-title') ?? header(exchange.request, 'x-openrouter-title'),
    policy_id: exchange.policy.id,
    policy_version: exchange.policy.version,
    attempts: fields.attempts,
    error: fields.error,
    ...(exchange.budgets ? { budgets: exchange.budgets } : {}),
  };
}

/** A failure before anything was streamed: the envelope, the record, the span. */
export function fail(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, error: GatewayError | unknown, attempts: AttemptLog, cancelled: boolean, streamed: boolean): void {
  if (exchange.wantsAttemptLog && !response.headersSent) response.setHeader('X-Switchyard-Attempts', attemptSummary(attempts));
  const status = cancelled ? 499 : sendError(gateway, response, error);
  if (cancelled && !response.writableEnded) response.end();
  const message = error instanceof Error ? error.message : 'unknown error';
  saveRecord(
    gateway,
    buildRecord(gateway, exchange, {
      attempt: undefined,
      attempts,
      status,
      streamed,
      cancelled,
      finishReason: null,
      nativeFinishReason: null,
      usage: {},
      upstreamId: null,
      generationTimeMs: null,
      error: message,
    }),
  );
  endRequestSpan(exchange.span, status);
}

/** Who served a response or chunk: the generation id, its creation second, the attempt. */
export function servedBy(exchange: Exchange, attempt: PlanAttempt): ServedBy {
  return { id: exchange.id, created: Math.floor(exchange.createdAt / 1000), attempt };
}

export function executorDependencies(gateway: GatewayContext): ExecutorDependencies {
  return { adapters: gateway.adapters, credentials: gateway.credentials, clock: gateway.clock, tracer: gateway.tracer, logger: gateway.logger, cost: gateway.cost };
}

const uncork = (response: ServerResponse): void => response.uncork();

/** Streams whose first chunk went out. */
const started = new WeakSet<ServerResponse>();

/**
 * Writes a chunk; waits for `drain` (or the client leaving) when the socket buffer is full. The
 * first chunk goes out at once, with the head: the client's first token never waits for the rest
 * of its packet's chunks to be mapped. Later chunks written in the same run of the event loop (an
 * upstream packet usually carries several) leave in one socket write: the first of them corks the
 * response and the uncork is queued behind them.
 */
export function write(response: ServerResponse, text: string): Promise<void> | undefined {
  // A closed socket takes no more writes and will never drain.
  if (response.destroyed || response.writableEnded) return undefined;
  if (!started.has(response)) started.add(response);
  else if (response.writableCorked === 0) {
    response.cork();
    process.nextTick(uncork, response);
  }
  if (response.write(text) || response.destroyed) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

export function startEventStream(response: ServerResponse, exchange: Exchange, attempts: AttemptLog): void {
  if (response.headersSent) return;
  if (exchange.wantsAttemptLog) response.setHeader('X-Switchyard-Attempts', attemptSummary(attempts));
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // No flushHeaders(): every caller writes a chunk right after, and the head goes out with it in
  // one segment (one wake-up of the client instead of two before its first byte).
}

/** How a streaming route opens its plan and writes its chunks (chat and legacy completions differ only here). */
export interface StreamShape {
  open(input: PlanInput, dependencies: ExecutorDependencies): Promise<StreamOutcome>;
  chunks(served: ServedBy): StreamChunks;
}

const CHAT_STREAM = (request: ExecutionInput['request']): StreamShape => ({
  open: (input, dependencies) => openPlanStream(withRequest(input, request), dependencies),
  chunks: (served) => new ChunkWriter(served),
});

/** Streams a plan: keep-alive comments until a provider answers, then chunks, usage, `[DONE]`, the record. */
export async function serveStream(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, input: PlanInput, shape: StreamShape): Promise<void> {
  const attemptsSoFar: AttemptLog = [];
  // Comments keep proxies and clients from timing out while no provider has answered yet. Sending
  // one commits the 200, so a later total failure is reported in-band; fallback stays possible.
  const keepAlive = setInterval(() => {
    if (response.destroyed) return;
    startEventStream(response, exchange, attemptsSoFar);
    response.write(KEEP_ALIVE_COMMENT);
  }, gateway.keepAliveIntervalMs);
  let outcome;
  try {
    outcome = await shape.open(withLog(input, attemptsSoFar), executorDependencies(gateway));
  } finally {
    clearInterval(keepAlive);
  }
  if (!outcome.ok) {
    if (response.headersSent && !outcome.cancelled) {
      writeStreamFailure(gateway, exchange, response, outcome.error, outcome.attempts, undefined, shape);
      return;
    }
    fail(gateway, exchange, response, outcome.error, outcome.attempts, outcome.cancelled, true);
    return;
  }

  const { stream, attempts } = outcome;
  const served = servedBy(exchange, stream.attempt);
  startEventStream(response, exchange, attempts);
  const chunks = shape.chunks(served);
  let usage: Usage | undefined;
  let finishReason: string | null = null;
  let nativeFinishReason: string | null = null;
  let upstreamId: string | null = null;
  let streamError: ProviderCallError | undefined;
  for await (const part of stream.parts) {
    if (part.type === 'finish') {
      usage = part.usage;
      finishReason = part.finish_reason;
      nativeFinishReason = part.native_finish_reason;
      upstreamId = part.upstream_id ?? null;
      await write(response, chunks.finish(part.finish_reason, part.native_finish_reason));
      break;
    }
    if (part.type === 'error') {
      streamError = part.error;
      break;
    }
    const text = chunks.part(part);
    if (text !== undefined) await write(response, text);
    if (input.clientSignal.aborted) break;
  }
  const cancelled = input.clientSignal.aborted;
  if (cancelled && streamError?.kind === 'aborted') streamError = undefined;
  if (!streamError && !cancelled && finishReason === null) {
    streamError = new ProviderCallError({ message: 'The provider ended the stream without a finish reason.', kind: 'malformed', errorClass: 'retryable' });
  }
  const finished = stream.finish({ usage, finishReason, error: streamError, cancelled });
  const generationTimeMs = Math.round(gateway.clock.monotonic() - stream.firstPartAt);

  if (streamError) {
    writeStreamFailure(gateway, exchange, response, failureFor(streamError, stream.attempt), attempts, { served, chunks, generationTimeMs, usage }, shape);
    return;
  }
  // The record is saved with the last bytes (see recordAndSend): a client that received the whole
  // response can always fetch its record, even if the process dies right after.
  const record = buildRecord(gateway, exchange, {
    attempt: stream.attempt,
    attempts,
    status: 200,
    streamed: true,
    cancelled,
    finishReason: cancelled ? null : finishReason,
    nativeFinishReason,
    usage: usage ?? {},
    upstreamId,
    generationTimeMs,
    error: null,
  });
  const finalChunk = cancelled ? undefined : chunks.usage(wireUsage(usage ?? {}, finished.record.cost, finished.costDetails), exchange.wantsAttemptLog ? attempts : undefined);
  const end = (): void => {
    if (finalChunk !== undefined) {
      response.write(finalChunk);
      response.end(SSE_DONE);
    } else if (!response.writableEnded) {
      response.end();
    }
  };
  const sent = recordAndSend(gateway, record, end);
  if (sent) await sent;
  endRequestSpan(exchange.span, 200);
}

/** After the 200 went out: an error chunk, `[DONE]`, and the record. */
function writeStreamFailure(
  gateway: GatewayContext,
  exchange: Exchange,
  response: ServerResponse,
  error: GatewayError,
  attempts: AttemptLog,
  servedStream: { served: ServedBy; chunks: StreamChunks; generationTimeMs: number; usage: Usage | undefined } | undefined,
  shape: StreamShape,
): void {
  const envelope = errorResponse(error, gateway.logger).body;
  const chunks = servedStream?.chunks ?? shape.chunks(servedBy(exchange, placeholderAttempt(exchange, attempts)));
  if (!response.writableEnded) {
    response.write(chunks.error(envelope));
    response.end(SSE_DONE);
  }
  saveRecord(
    gateway,
    buildRecord(gateway, exchange, {
      attempt: servedStream?.served.attempt,
      attempts,
      status: 200,
      streamed: true,
      cancelled: false,
      finishReason: 'error',
      nativeFinishReason: null,
      usage: servedStream?.usage ?? {},
      upstreamId: null,
      generationTimeMs: servedStream?.generationTimeMs ?? null,
      error: error.message,
    }),
  );
  exchange.span.setAttribute(ATTRIBUTES.errorType, error.errorType);
  endRequestSpan(exchange.span, 200);
}

/** Names for a chunk when nothing served: the requested model, no provider. */
function placeholderAttempt(exchange: Exchange, attempts: AttemptLog): PlanAttempt {
  const last = attempts[attempts.length - 1];
  return { model: last?.model ?? exchange.facts?.model ?? '', provider_name: last?.provider_name ?? '' } as PlanAttempt;
}

async function serveGenerate(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, input: ExecutionInput): Promise<void> {
  const outcome = await generatePlan(input, executorDependencies(gateway));
  if (!outcome.ok) {
    fail(gateway, exchange, response, outcome.error, outcome.attempts, outcome.cancelled, false);
    return;
  }
  const { attempt, result, attempts } = outcome;
  const usage = wireUsage(result.usage, attempts[attempts.length - 1]?.cost, outcome.costDetails);
  const body = completionBody(servedBy(exchange, attempt), result, usage, exchange.wantsAttemptLog ? attempts : undefined);
  replyServed(gateway, exchange, response, body, {
    attempt,
    attempts,
    finishReason: result.finish_reason,
    nativeFinishReason: result.native_finish_reason,
    usage: result.usage,
    upstreamId: result.upstream_id ?? null,
  });
}

/** What a served, non-streamed answer contributes to its generation record. */
export interface ServedAnswer {
  attempt: PlanAttempt;
  attempts: AttemptLog;
  finishReason: string | null;
  nativeFinishReason: string | null;
  usage: Usage;
  upstreamId: string | null;
}

/** Records a served, non-streamed answer and sends it (with the attempt log header when asked); every inference route ends this way. */
export function replyServed(gateway: GatewayContext, exchange: Exchange, response: ServerResponse, body: unknown, served: ServedAnswer): void {
  if (exchange.wantsAttemptLog) response.setHeader('X-Switchyard-Attempts', attemptSummary(served.attempts));
  const record = buildRecord(gateway, exchange, {
    attempt: served.attempt,
    attempts: served.attempts,
    finishReason: served.finishReason,
    nativeFinishReason: served.nativeFinishReason,
    usage: served.usage,
    upstreamId: served.upstreamId,
    status: 200,
    streamed: false,
    cancelled: false,
    generationTimeMs: served.attempts[served.attempts.length - 1]?.latency_ms ?? null,
    error: null,
  });
  const send = (): void => {
    sendJson(response, 200, body);
    endRequestSpan(exchange.span, 200);
  };
  void recordAndSend(gateway, record, send);
}

/**
 * Saves `record` and runs `send`, in the order that keeps the promise "a client that has the
 * response can fetch its record". A store that journals (`durable()`) is appended to first, and
 * `send` waits until the record is crash-safe (the promise returned settles after `send`). A store
 * without `durable()` is appended to right after `send`, in the same synchronous run, so no request
 * can come between the two: the response goes out before the record, the settlement and the ops
 * observers' work instead of after them.
 */
export function recordAndSend(gateway: GatewayContext, record: GenerationRecord, send: () => void): Promise<void> | undefined {
  if (gateway.store.durable === undefined) {
    send();
    saveRecord(gateway, record);
    return undefined;
  }
  const durable = saveRecord(gateway, record);
  if (durable === undefined) {
    send();
    return undefined;
  }
  return durable.then(send);
}

/** Opens the exchange for an inference route: generation id header, server span, routing state. */
export function beginExchange(gateway: GatewayContext, request: ChatHttpRequest, identity: Identity, route: string, apiType: Exchange['apiType']): Exchange {
  const startedAt = gateway.clock.monotonic();
  const id = gateway.newId();
  // Without tracing, no propagation headers are read and no span or context is made.
  const quiet = gateway.tracer === NOOP_TRACER;
  const parentContext = quiet ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, request.headers);
  const span = gateway.tracer.startSpan(`POST ${route}`, { kind: SpanKind.SERVER }, parentContext);
  if (span.isRecording()) span.setAttributes({ [ATTRIBUTES.httpMethod]: 'POST', [ATTRIBUTES.httpRoute]: route, [ATTRIBUTES.generationId]: id });
  const state = gateway.routing.current();
  return {
    apiType,
    id,
    startedAt,
    createdAt: gateway.clock.now(),
    identity,
    span,
    spanContext: quiet ? ROOT_CONTEXT : trace.setSpan(parentContext, span),
    wantsAttemptLog: request.headers[ATTEMPT_LOG_HEADER] === 'true',
    facts: undefined,
    policy: { id: state.policy.id, version: state.policy.version },
    request,
  };
}

/**
 * Routes a parsed body and admits it (rate limits, holds). On refusal the error is answered and
 * recorded and `undefined` returned; otherwise the plan, the catalog and the client-gone signal.
 */
export async function routeAndAdmit(
  gateway: GatewayContext,
  exchange: Exchange,
  response: ServerResponse,
  body: Record<string, unknown>,
  streamed: boolean,
): Promise<{ input: Omit<ExecutionInput, 'request'> } | undefined> {
  const { id, identity, request, spanContext } = exchange;
  const accounting = gateway.accounting;
  const routed = accounting
    ? await accounting.route(gateway, body, request.headers, identity, seedOf(id), spanContext)
    : routeRequest(gateway, body, request.headers, identity, seedOf(id), spanContext);
  exchange.facts = routed.facts;
  exchange.policy = { id: routed.state.policy.id, version: routed.state.policy.version };
  if (!routed.ok) {
    fail(gateway, exchange, response, routed.error, [], false, streamed);
    return undefined;
  }
  // Rate limits and the worst-case hold, before any provider is called; settled by saveRecord.
  const refused = accounting ? await accounting.admit(id, identity, routed.plan, routed.facts, routed.state.policy, routed.state.catalog, response) : undefined;
  if (refused) {
    fail(gateway, exchange, response, refused, [], false, streamed);
    return undefined;
  }
  if (accounting && routed.plan.budgets.length > 0) exchange.budgets = routed.plan.budgets.map((budget) => budget.scope_key);
  const clientGone = new ClientGone();
  response.once('close', () => {
    if (!response.writableFinished) clientGone.abort(new Error('client closed the connection'));
  });
  return {
    input: { plan: routed.plan, catalog: routed.state.catalog, clientSignal: clientGone, parentContext: spanContext, startedAt: exchange.startedAt },
  };
}

/**
 * The common frame of every inference route: exchange, body parsing, the wrong-kind check, routing
 * against the route's catalog view, admission; `serve` executes the plan. Anything thrown is answered.
 */
export function inferenceHandler(
  gateway: GatewayContext,
  options: {
    route: string;
    apiType: Exchange['apiType'];
    kind: RouteKind;
    parse: (body: unknown) => Record<string, unknown>;
    adjustFacts?: (facts: RequestFacts, body: Record<string, unknown>) => RequestFacts;
  },
  serve: (gateway: GatewayContext, exchange: Exchange, response: ServerResponse, body: Record<string, unknown>, input: Omit<ExecutionInput, 'request'>) => Promise<void>,
) {
  const routing = gatewayFor(gateway, options.kind, options.adjustFacts);
  return async function handleInference(request: ChatHttpRequest, response: ServerResponse, identity: Identity): Promise<void> {
    const exchange = beginExchange(routing, request, identity, options.route, options.apiType);
    response.setHeader('X-Generation-Id', exchange.id);
    const streamed = typeof request.body === 'object' && request.body !== null && (request.body as { stream?: unknown }).stream === true;
    try {
      const body = options.parse(request.body);
      const wrongKind = wrongKindError(gateway, body, options.kind, options.route);
      if (wrongKind) {
        fail(routing, exchange, response, wrongKind, [], false, streamed);
        return;
      }
      const admitted = await routeAndAdmit(routing, exchange, response, body, streamed);
      if (admitted) await serve(routing, exchange, response, body, admitted.input);
    } catch (error) {
      fail(routing, exchange, response, error, [], false, streamed);
    }
  };
}

/** The handler; authentication already established `identity`, and the body was read. */
export function chatCompletionsHandler(gateway: GatewayContext) {
  return inferenceHandler(
    gateway,
    { route: '/api/v1/chat/completions', apiType: 'completions', kind: 'text', parse: parseChatBody },
    async (routing, exchange, response, body, base) => {
      const request = providerRequest(body);
      if (body.stream === true) await serveStream(routing, exchange, response, base, CHAT_STREAM(request));
      else await serveGenerate(routing, exchange, response, withRequest(base, request));
    },
  );
}
