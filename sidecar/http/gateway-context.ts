/**
 * What route handlers share: the dependencies `createApp` resolved, and the steps every inference
 * route takes (routing a body into a plan, answering errors, writing the generation record).
 */
import { SpanStatusCode, type Context, type Span, type Tracer } from '@opentelemetry/api';
import type { ServerResponse } from 'node:http';
import type {
  CompiledCatalog,
  CompiledPolicy,
  EvaluateResult,
  Identity,
  NoRouteError,
  Plan,
  RequestFacts,
  Snapshot,
} from '../../engine/index.ts';
import type { Clock } from '../clock.ts';
import type { CostFunction, CredentialResolver } from '../execute/execute-plan.ts';
import type { Logger } from '../logger.ts';
import type { AdapterRegistry } from '../providers/spec.ts';
import type { GenerationRecord, GenerationStore } from '../store/generation-record.ts';
import { ATTRIBUTES } from '../telemetry/attributes.ts';
import type { GatewayKeyVerifier } from './auth.ts';
import type { EndpointHealthFields } from './models-view.ts';
import type { RequestAccounting } from './request-accounting.ts';
import { errorResponse, GatewayError } from './errors.ts';

/** The compiled policy and catalog in force. */
export interface RoutingState {
  policy: CompiledPolicy;
  catalog: CompiledCatalog;
}

/** Where routes read the routing state from; a hot reload swaps what `current` returns. */
export interface RoutingSource {
  current(): RoutingState;
}

/** The engine functions the sidecar calls (the real ones from engine/index.ts by default). */
export interface RoutingEngine {
  requestFacts(
    body: unknown,
    headers: Record<string, string | string[] | undefined>,
    identity: Identity,
    options: { exposeHeaders: readonly string[] },
  ): { ok: true; facts: RequestFacts } | { ok: false; error: { status: 400; code: string; message: string; param?: string } };
  evaluate(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot, options: { now: number; seed: number }): EvaluateResult;
}

/** Everything the routes use, resolved (no optional parts left). */
export interface GatewayContext {
  routing: RoutingSource;
  engine: RoutingEngine;
  adapters: AdapterRegistry;
  credentials: CredentialResolver;
  keys: GatewayKeyVerifier;
  store: GenerationStore;
  tracer: Tracer;
  clock: Clock;
  newId: () => string;
  snapshot: () => Snapshot;
  logger: Logger;
  cost: CostFunction;
  keepAliveIntervalMs: number;
  /** Budgets, key limits and rate limits; absent: none are enforced. */
  accounting?: RequestAccounting;
  /** Measured health per endpoint id for the endpoints route; absent: taken from the snapshot. */
  endpointHealth?: (endpointId: string) => EndpointHealthFields;
}

/** 32-bit FNV-1a of the generation id: the engine's seed, so a request's draws can be replayed. */
export function seedOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < id.length; index++) {
    hash ^= id.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const NO_ROUTE_ERROR_TYPES = {
  no_route: 'no_endpoints',
  model_not_found: 'model_not_found',
  budget_exceeded: 'payment_required',
  invalid_request: 'invalid_request',
} as const satisfies Record<NoRouteError['code'], string>;

/** The engine's refusal as a client error, with the reasons it gave. */
export function noRouteError(error: NoRouteError): GatewayError {
  return new GatewayError(NO_ROUTE_ERROR_TYPES[error.code], error.message, {
    excluded: error.excluded.map((exclusion) => ({
      endpoint: exclusion.endpoint,
      provider: exclusion.provider,
      model: exclusion.model,
      reason: exclusion.reason,
      detail: exclusion.detail,
      source: exclusion.source,
    })),
    matched_rules: error.matched_rules,
  });
}

export type Routed = { ok: true; plan: Plan; facts: RequestFacts; state: RoutingState } | { ok: false; error: GatewayError; facts?: RequestFacts; state: RoutingState };

/** Body + identity -> facts, under the routing state in force. */
export function requestFactsOf(
  gateway: GatewayContext,
  body: Record<string, unknown>,
  headers: Record<string, string | string[] | undefined>,
  identity: Identity,
): { ok: true; facts: RequestFacts; state: RoutingState } | { ok: false; error: GatewayError; state: RoutingState } {
  const state = gateway.routing.current();
  const factsResult = gateway.engine.requestFacts(body, headers, identity, { exposeHeaders: state.policy.exposeHeaders });
  if (!factsResult.ok) {
    const error = factsResult.error;
    return { ok: false, error: new GatewayError('invalid_request', error.message, { param: error.param ?? null, reason: error.code }), state };
  }
  return { ok: true, facts: factsResult.facts, state };
}

/** Body + identity -> facts -> plan, inside an `evaluate` span. */
export function routeRequest(
  gateway: GatewayContext,
  body: Record<string, unknown>,
  headers: Record<string, string | string[] | undefined>,
  identity: Identity,
  seed: number,
  parentContext: Context,
): Routed {
  const facts = requestFactsOf(gateway, body, headers, identity);
  if (!facts.ok) return facts;
  return planRequest(gateway, facts.state, facts.facts, seed, parentContext, undefined);
}

/** Facts -> plan, inside an `evaluate` span; `spend` (budget scope key -> USD) joins the snapshot. */
export function planRequest(gateway: GatewayContext, state: RoutingState, facts: RequestFacts, seed: number, parentContext: Context, spend: Record<string, number> | undefined): Routed {
  const span = gateway.tracer.startSpan('evaluate', undefined, parentContext);
  if (span.isRecording()) span.setAttributes({ [ATTRIBUTES.policyId]: state.policy.id, [ATTRIBUTES.policyVersion]: state.policy.version });
  let result: EvaluateResult;
  try {
    const snapshot = gateway.snapshot();
    result = gateway.engine.evaluate(state.policy, state.catalog, facts, spend === undefined ? snapshot : { ...snapshot, spend: { ...snapshot.spend, ...spend } }, { now: gateway.clock.now(), seed });
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    throw error;
  }
  const recording = span.isRecording();
  if (result.ok) {
    if (recording) {
      span.setAttribute(ATTRIBUTES.matchedRules, result.plan.matched_rules);
      span.setAttribute(ATTRIBUTES.attemptCount, result.plan.attempts.length);
      span.setAttribute(ATTRIBUTES.excludedCount, result.plan.excluded.length);
    }
    span.end();
    return { ok: true, plan: result.plan, facts, state };
  }
  if (recording) {
    span.setAttribute(ATTRIBUTES.matchedRules, result.error.matched_rules);
    span.setAttribute(ATTRIBUTES.attemptCount, 0);
    span.setAttribute(ATTRIBUTES.excludedCount, result.error.excluded.length);
    span.setAttribute(ATTRIBUTES.errorType, result.error.code);
  }
  span.end();
  return { ok: false, error: noRouteError(result.error), facts, state };
}

/** A JSON answer with plain Node calls (no framework on the hot path). */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  // Fields set one by one, not spread (see execute-plan.ts, withRequest).
  const head: Record<string, string | number> = {};
  for (const name in headers) head[name] = headers[name] as string;
  head['content-type'] = 'application/json; charset=utf-8';
  head['content-length'] = Buffer.byteLength(text);
  response.writeHead(status, head);
  response.end(text);
}

/** Send the error envelope (status, Retry-After) unless the response already started. */
export function sendError(gateway: GatewayContext, response: ServerResponse, error: unknown): number {
  const answer = errorResponse(error, gateway.logger);
  if (response.headersSent) {
    response.end();
    return answer.status;
  }
  sendJson(response, answer.status, answer.body, answer.headers);
  return answer.status;
}

/** Marks the request span with the final status. */
export function endRequestSpan(span: Span, status: number): void {
  span.setAttribute(ATTRIBUTES.httpStatus, status);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/**
 * Append the record without letting a failing store touch the response. Returns the store's
 * `durable()` promise when the record is not crash-safe yet: send the response after it settles.
 */
export function saveRecord(gateway: GatewayContext, record: GenerationRecord): Promise<void> | undefined {
  try {
    gateway.store.append(record);
  } catch (error) {
    gateway.logger.error({ err: error, id: record.id }, 'could not store the generation record');
  }
  gateway.accounting?.settle(record);
  return gateway.store.durable?.();
}
