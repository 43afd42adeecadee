/**
 * Prometheus metrics on a private prom-client Registry (never the global one, so two apps in one
 * process, as in tests, do not collide).
 *
 * GenAI names follow the OpenTelemetry conventions' Prometheus form where they define a metric
 * (`gen_ai.client.operation.duration` -> `gen_ai_client_operation_duration_seconds`,
 * `gen_ai.client.token.usage` -> `gen_ai_client_token_usage`, with the attributes' dots as
 * underscores); the router's own metrics use the `switchyard_` prefix. No label carries a request
 * id, a user or a prompt: every label has a bounded set of values (routes, providers, models,
 * outcomes, budget ids).
 */
import type { Request, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Plan } from '../../engine/index.ts';
import type { GenerationRecord } from '../store/generation-record.ts';
import type { CircuitState } from './circuit-breaker.ts';
import { CounterSeries, HistogramSeries, LocalCounter, LocalHistogram } from './local-metrics.ts';

/** OTel bucket advice for `gen_ai.client.operation.duration`: 0.01 s doubling to 81.92 s. */
export const DURATION_BUCKETS_SECONDS = Array.from({ length: 14 }, (_, index) => 0.01 * 2 ** index);
/** OTel bucket advice for `gen_ai.client.token.usage`: powers of 4 from 1 to 67108864. */
export const TOKEN_BUCKETS = Array.from({ length: 14 }, (_, index) => 4 ** index);

const CIRCUIT_VALUES: Record<CircuitState, number> = { closed: 0, half_open: 1, open: 2 };

/** Outcomes that end an attempt without serving and lead to the next one. */
const NOT_A_FALLBACK = new Set(['ok', 'cancelled', 'skipped']);

type GenAiLabels = { gen_ai_operation_name: string; gen_ai_provider_name: string; gen_ai_request_model: string };

/** The series one (operation, provider, model) uses. */
interface EndpointInstruments {
  genAi: GenAiLabels;
  /** By outcome. */
  attempts: Map<string, CounterSeries>;
  /** By error type ('' when served). */
  duration: Map<string, HistogramSeries>;
  timeToFirstChunk: HistogramSeries;
  inputTokens: HistogramSeries;
  outputTokens: HistogramSeries;
  cost: CounterSeries;
}

export interface MetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
  /** Circuit states to export on each scrape (from the health tracker). */
  circuits?: () => Array<{ endpoint: string; state: CircuitState }>;
}

export interface PolicyInfo {
  policyId: string;
  policyVersion: string;
  catalogVersion: string;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: LocalCounter;
  readonly #requestDuration: LocalHistogram;
  /** Published by the gauge's `collect()`. */
  #inFlight = 0;
  /** By route, method and status: series bound once. */
  readonly #requestChildren = new Map<string, Map<string, Map<number, { count: CounterSeries; duration: HistogramSeries }>>>();
  readonly #attempts: LocalCounter;
  readonly #fallbacks: LocalCounter;
  readonly #fallbackSeries = new Map<string, CounterSeries>();
  readonly #operationDuration: LocalHistogram;
  readonly #timeToFirstChunk: LocalHistogram;
  readonly #tokenUsage: LocalHistogram;
  readonly #cost: LocalCounter;
  readonly #generations: LocalCounter;
  /** By status, then fallback (0 no, 1 yes). */
  readonly #generationSeries = new Map<number, [CounterSeries, CounterSeries]>();
  readonly #reloads: Counter<'kind' | 'result'>;
  readonly #lastReloadSuccessful: Gauge;
  readonly #lastReloadSuccessTime: Gauge;
  readonly #policyInfo: Gauge<'policy_id' | 'policy_version' | 'catalog_version'>;
  /** By operation, provider, model. */
  readonly #instruments = new Map<string, Map<string, Map<string, EndpointInstruments>>>();
  /** budget id -> scope key -> headroom; the gauge shows the lowest headroom per budget. */
  readonly #headroom = new Map<string, Map<string, { remaining: number; limit: number }>>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#requests = new LocalCounter({ name: 'switchyard_http_requests_total', help: 'HTTP requests answered, by route template, method and status.', labelNames: ['route', 'method', 'status'], registers });
    this.#requestDuration = new LocalHistogram({ name: 'switchyard_http_request_duration_seconds', help: 'Time from request to end of response (streams included).', labelNames: ['route', 'status'], buckets: DURATION_BUCKETS_SECONDS, registers });
    const metrics = this;
    new Gauge({
      name: 'switchyard_http_requests_in_flight',
      help: 'Requests being answered now (streams included).',
      registers,
      collect() {
        this.set(metrics.#inFlight);
      },
    });
    this.#attempts = new LocalCounter({ name: 'switchyard_attempts_total', help: 'Provider attempts, by provider, model and outcome (ok, retryable, timeout, connection, final, ...).', labelNames: ['provider', 'model', 'outcome'], registers });
    this.#fallbacks = new LocalCounter({ name: 'switchyard_fallbacks_total', help: 'Attempts that failed and handed the request to the next attempt, by failing provider and reason.', labelNames: ['provider', 'reason'], registers });
    this.#operationDuration = new LocalHistogram({
      name: 'gen_ai_client_operation_duration_seconds',
      help: 'GenAI operation duration (one provider attempt), OTel gen_ai.client.operation.duration.',
      labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'error_type'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.#timeToFirstChunk = new LocalHistogram({
      name: 'gen_ai_client_operation_time_to_first_chunk_seconds',
      help: 'Time to the first streamed chunk of a served attempt, OTel gen_ai.client.operation.time_to_first_chunk.',
      labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.#tokenUsage = new LocalHistogram({
      name: 'gen_ai_client_token_usage',
      help: 'Billable tokens per served attempt, OTel gen_ai.client.token.usage (gen_ai_token_type input or output).',
      labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_token_type'],
      buckets: TOKEN_BUCKETS,
      registers,
    });
    this.#cost = new LocalCounter({ name: 'switchyard_cost_usd_total', help: 'Cost of served attempts in USD, by provider and model.', labelNames: ['provider', 'model'], registers });
    this.#generations = new LocalCounter({ name: 'switchyard_generations_total', help: 'Generation requests finished, by status class and whether a fallback (another endpoint than the first attempt) served them.', labelNames: ['status_class', 'fallback'], registers });
    this.#reloads = new Counter({ name: 'switchyard_policy_reloads_total', help: 'Policy/catalog reloads, by kind (policy, catalog) and result (success, failure).', labelNames: ['kind', 'result'], registers });
    this.#lastReloadSuccessful = new Gauge({ name: 'switchyard_policy_last_reload_successful', help: '1 when the last reload was applied, 0 when it was rejected (the previous version keeps serving).', registers });
    this.#lastReloadSuccessTime = new Gauge({ name: 'switchyard_policy_last_reload_success_timestamp_seconds', help: 'Unix time of the last applied policy/catalog load.', registers });
    this.#policyInfo = new Gauge({ name: 'switchyard_policy_info', help: 'The policy and catalog in force (value 1).', labelNames: ['policy_id', 'policy_version', 'catalog_version'], registers });
    const headroom = this.#headroom;
    new Gauge({
      name: 'switchyard_budget_headroom_usd',
      help: 'Lowest remaining budget in USD across the scopes seen for each policy budget this process.',
      labelNames: ['budget'],
      registers,
      collect() {
        this.reset();
        for (const [budget, scopes] of headroom) this.set({ budget }, Math.min(...[...scopes.values()].map((scope) => scope.remaining)));
      },
    });
    new Gauge({
      name: 'switchyard_budget_used_ratio',
      help: 'Highest spent/limit ratio across the scopes seen for each policy budget.',
      labelNames: ['budget'],
      registers,
      collect() {
        this.reset();
        for (const [budget, scopes] of headroom) this.set({ budget }, Math.max(...[...scopes.values()].map((scope) => (scope.limit > 0 ? 1 - scope.remaining / scope.limit : 1))));
      },
    });
    const circuits = options.circuits;
    if (circuits) {
      new Gauge({
        name: 'switchyard_circuit_state',
        help: 'Circuit breaker per endpoint: 0 closed, 1 half-open, 2 open.',
        labelNames: ['provider', 'model'],
        registers,
        collect() {
          this.reset();
          for (const { endpoint, state } of circuits()) {
            const at = endpoint.lastIndexOf('@');
            this.set({ model: endpoint.slice(0, at), provider: endpoint.slice(at + 1) }, CIRCUIT_VALUES[state]);
          }
        },
      });
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** One answered HTTP request. `route` is the route template (never the raw path). */
  observeRequest(route: string, method: string, status: number, durationSeconds: number): void {
    // Series bound once per (route, method, status), looked up without building a key string.
    let byMethod = this.#requestChildren.get(route);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.#requestChildren.set(route, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let children = byStatus.get(status);
    if (children === undefined) {
      children = {
        count: this.#requests.series({ route, method, status: String(status) }),
        duration: this.#requestDuration.series({ route, status: String(status) }),
      };
      byStatus.set(status, children);
    }
    children.count.inc();
    children.duration.observe(durationSeconds);
  }

  /** Track in-flight requests: call on arrival, and the returned function once when done. */
  requestStarted(): () => void {
    this.requestArrived();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.requestLeft();
    };
  }

  /** One request more in flight (pair with exactly one `requestLeft`). */
  requestArrived(): void {
    this.#inFlight++;
  }

  requestLeft(): void {
    this.#inFlight--;
  }

  /** Everything a finished generation says: attempts, fallbacks, durations, tokens, cost. */
  observeGeneration(record: GenerationRecord): void {
    const operation = record.api_type === 'embeddings' ? 'embeddings' : 'chat';
    const attempts = record.attempts;
    // Attempts actually made (skipped plan entries left out): a failure before the last of them handed over.
    let lastMade = attempts.length - 1;
    while (lastMade >= 0 && attempts[lastMade]!.outcome === 'skipped') lastMade--;
    let firstEndpoint: string | undefined;
    let servedEndpoint: string | undefined;
    for (let index = 0; index <= lastMade; index++) {
      const attempt = attempts[index]!;
      const outcome = attempt.outcome;
      if (outcome === 'skipped') continue;
      if (firstEndpoint === undefined) firstEndpoint = attempt.endpoint;
      const instruments = this.#instrumentsOf(operation, attempt.provider, attempt.model);
      let attemptSeries = instruments.attempts.get(outcome);
      if (attemptSeries === undefined) {
        attemptSeries = this.#attempts.series({ provider: attempt.provider, model: attempt.model, outcome });
        instruments.attempts.set(outcome, attemptSeries);
      }
      attemptSeries.inc();
      const served = outcome === 'ok';
      const errorType = served || outcome === 'cancelled' ? '' : attempt.status === null ? outcome : String(attempt.status);
      let duration = instruments.duration.get(errorType);
      if (duration === undefined) {
        duration = this.#operationDuration.series({ ...instruments.genAi, error_type: errorType });
        instruments.duration.set(errorType, duration);
      }
      duration.observe(attempt.latency_ms / 1000);
      if (!NOT_A_FALLBACK.has(outcome) && index < lastMade) this.#fallbackOf(attempt.provider, attempt.status === null ? outcome : `${outcome} ${attempt.status}`).inc();
      if (!served) continue;
      if (servedEndpoint === undefined) servedEndpoint = attempt.endpoint;
      if (attempt.first_byte_ms !== undefined && record.streamed) instruments.timeToFirstChunk.observe(attempt.first_byte_ms / 1000);
      const usage = attempt.usage;
      if (usage?.prompt_tokens !== undefined) instruments.inputTokens.observe(usage.prompt_tokens);
      if (usage?.completion_tokens !== undefined) instruments.outputTokens.observe(usage.completion_tokens);
      const cost = Number(attempt.cost);
      if (Number.isFinite(cost) && cost > 0) instruments.cost.inc(cost);
    }
    // servedByFallback: the serving attempt is on another endpoint than the first attempt made.
    const fallback = servedEndpoint !== undefined && firstEndpoint !== undefined && servedEndpoint !== firstEndpoint;
    this.#generationSeriesOf(record.status)[fallback ? 1 : 0].inc();
  }

  #generationSeriesOf(status: number): [CounterSeries, CounterSeries] {
    let pair = this.#generationSeries.get(status);
    if (pair === undefined) {
      const statusClass = `${Math.floor(status / 100)}xx`;
      // Bound lazily in use order: a series shows from its first increment, as before.
      pair = [this.#generations.series({ status_class: statusClass, fallback: 'false' }), this.#generations.series({ status_class: statusClass, fallback: 'true' })];
      this.#generationSeries.set(status, pair);
    }
    return pair;
  }

  #fallbackOf(provider: string, reason: string): CounterSeries {
    const key = `${provider}|${reason}`;
    let series = this.#fallbackSeries.get(key);
    if (series === undefined) {
      series = this.#fallbacks.series({ provider, reason });
      this.#fallbackSeries.set(key, series);
    }
    return series;
  }

  /** Series per (operation, provider, model), bound once: label hashing was most of an observation's cost. */
  #instrumentsOf(operation: string, provider: string, model: string): EndpointInstruments {
    // Nested maps: no key string built per attempt.
    let byProvider = this.#instruments.get(operation);
    if (byProvider === undefined) {
      byProvider = new Map();
      this.#instruments.set(operation, byProvider);
    }
    let byModel = byProvider.get(provider);
    if (byModel === undefined) {
      byModel = new Map();
      byProvider.set(provider, byModel);
    }
    let instruments = byModel.get(model);
    if (!instruments) {
      const genAi = { gen_ai_operation_name: operation, gen_ai_provider_name: provider, gen_ai_request_model: model };
      instruments = {
        genAi,
        attempts: new Map(),
        duration: new Map(),
        timeToFirstChunk: this.#timeToFirstChunk.series(genAi),
        inputTokens: this.#tokenUsage.series({ ...genAi, gen_ai_token_type: 'input' }),
        outputTokens: this.#tokenUsage.series({ ...genAi, gen_ai_token_type: 'output' }),
        cost: this.#cost.series({ provider, model }),
      };
      byModel.set(model, instruments);
    }
    return instruments;
  }

  /** The budgets a plan checked, with their headroom. */
  observeBudgets(budgets: Plan['budgets']): void {
    for (const budget of budgets) {
      let scopes = this.#headroom.get(budget.id);
      if (!scopes) {
        scopes = new Map();
        this.#headroom.set(budget.id, scopes);
      }
      // Updated in place: this runs for every routed request.
      const scope = scopes.get(budget.scope_key);
      if (scope === undefined) scopes.set(budget.scope_key, { remaining: budget.remaining, limit: budget.limit });
      else {
        scope.remaining = budget.remaining;
        scope.limit = budget.limit;
      }
    }
  }

  /** A policy or catalog reload attempt; `info` is the version in force afterwards. */
  observeReload(kind: 'policy' | 'catalog', ok: boolean, at: number, info: PolicyInfo): void {
    this.#reloads.inc({ kind, result: ok ? 'success' : 'failure' });
    this.#lastReloadSuccessful.set(ok ? 1 : 0);
    if (ok) this.#lastReloadSuccessTime.set(at / 1000);
    this.setPolicyInfo(info);
  }

  /** The version in force (also at start-up). */
  setPolicyInfo(info: PolicyInfo): void {
    this.#policyInfo.reset();
    this.#policyInfo.set({ policy_id: info.policyId, policy_version: info.policyVersion, catalog_version: info.catalogVersion }, 1);
  }

  /** Initial load: counts as a successful reload so the gauges start defined. */
  observeInitialLoad(at: number, info: PolicyInfo): void {
    this.#lastReloadSuccessful.set(1);
    this.#lastReloadSuccessTime.set(at / 1000);
    this.setPolicyInfo(info);
  }

  /** Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** `GET /metrics`. */
export function metricsHandler(metrics: GatewayMetrics): (request: Request, response: Response) => Promise<void> {
  return async (_request, response) => {
    const body = await metrics.text();
    response.setHeader('Content-Type', metrics.registry.contentType);
    response.setHeader('Cache-Control', 'no-store');
    response.end(body);
  };
}
