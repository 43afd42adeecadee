/**
 * Live health per endpoint (`<model>@<provider>`): rolling windows of attempt outcomes, latency,
 * time to first token and throughput, and a circuit breaker each. It feeds the engine snapshot's
 * `endpoints` map, the OpenRouter endpoints route (`uptime_last_30m`, `latency_last_30m`, ...),
 * the dashboard and the metrics.
 *
 * Windows (defaults, see `DEFAULT_HEALTH_OPTIONS`):
 * - fine ring: 10 s buckets over 30 min: counts and samples (latency, TTFT, tokens/s);
 * - coarse ring: 15 min buckets over 1 day: counts only (`uptime_last_1d`);
 * - the snapshot's `error_rate` and percentiles cover the last 5 min; `recently_failed` the last
 *   30 s (a failure not yet followed by a success); the route's fields the last 30 min (5 min and
 *   1 day for the other uptimes).
 *
 * Uptime follows OpenRouter: successes / (successes + errors) x 100, rate-limited (429) attempts
 * left out, null under `minimumSamples`.
 */
import type { EndpointHealth, Snapshot } from '../../engine/index.ts';
import type { Clock } from '../clock.ts';
import type { AttemptRecord } from '../store/generation-record.ts';
import { CircuitBreaker, DEFAULT_CIRCUIT_OPTIONS, type CircuitOptions, type CircuitState, type CircuitTransition } from './circuit-breaker.ts';
import { BucketRing, percentiles, type PercentileSet } from './rolling-window.ts';

/** How one attempt ended, as health counts it. */
export type HealthOutcome = 'success' | 'error' | 'rate_limited';

/** One finished attempt against one endpoint. */
export interface AttemptObservation {
  endpoint: string;
  outcome: HealthOutcome;
  /** Whole attempt, ms. */
  latencyMs: number;
  /** Time to first byte/token, ms (streams); non-streamed answers use `latencyMs`. */
  firstTokenMs?: number;
  /** Completion tokens produced, for tokens per second. */
  outputTokens?: number;
}

export interface HealthOptions {
  bucketMs: number;
  /** Fine ring length (the route's `_last_30m` span). */
  longWindowMs: number;
  /** Span of the snapshot's `error_rate` and percentiles. */
  windowMs: number;
  /** Span of `recently_failed` (OpenRouter: 30 s). */
  recentFailureMs: number;
  coarseBucketMs: number;
  coarseWindowMs: number;
  /** Fewer non-429 outcomes than this: uptime is null and error_rate absent. */
  minimumSamples: number;
  samplesPerBucket: number;
  /** The snapshot's statistics are recomputed at most this often (circuits are always live). */
  statisticsCacheMs: number;
  circuit: CircuitOptions;
}

export const DEFAULT_HEALTH_OPTIONS: Readonly<HealthOptions> = Object.freeze({
  bucketMs: 10_000,
  longWindowMs: 30 * 60_000,
  windowMs: 5 * 60_000,
  recentFailureMs: 30_000,
  coarseBucketMs: 15 * 60_000,
  coarseWindowMs: 24 * 60 * 60_000,
  minimumSamples: 5,
  samplesPerBucket: 64,
  statisticsCacheMs: 1_000,
  circuit: DEFAULT_CIRCUIT_OPTIONS,
});

type Counter = 'success' | 'error' | 'rate_limited';
type Series = 'latency' | 'ttft' | 'throughput';
const COUNTERS: readonly Counter[] = ['success', 'error', 'rate_limited'];
const SERIES: readonly Series[] = ['latency', 'ttft', 'throughput'];
/** Positions in `COUNTERS` / `SERIES` (the rings' indexed fast path). */
const SUCCESS = 0;
const ERROR = 1;
const RATE_LIMITED = 2;
const COUNTER_INDEX: Record<HealthOutcome, number> = { success: SUCCESS, error: ERROR, rate_limited: RATE_LIMITED };
const LATENCY = 0;
const TTFT = 1;
const THROUGHPUT = 2;

/** Everything known about one endpoint over one span. */
export interface EndpointStatistics {
  endpoint: string;
  window_ms: number;
  successes: number;
  errors: number;
  rate_limited: number;
  /** errors / (successes + errors); null under the minimum sample count. */
  error_rate: number | null;
  /** 429s / all attempts; null when there were none. */
  rate_limit_rate: number | null;
  /** Percent 0..100; null under the minimum sample count. */
  uptime: number | null;
  /** Whole-attempt latency, ms. */
  latency_ms: PercentileSet;
  /** Time to first token, ms. */
  ttft_ms: PercentileSet;
  /** Tokens per second. */
  throughput: PercentileSet;
  circuit: CircuitState;
  consecutive_failures: number;
  /** Epoch ms of the last error, or null. */
  last_failure_at: number | null;
}

/** The health fields of OpenRouter's `Endpoint` object, from our own measurements. */
export interface EndpointRouteHealth {
  uptime_last_5m: number | null;
  uptime_last_30m: number | null;
  uptime_last_1d: number | null;
  /** Time to first token, ms; null with no samples. */
  latency_last_30m: Required<PercentileSet> | null;
  /** Tokens per second; null with no samples. */
  throughput_last_30m: Required<PercentileSet> | null;
}

interface EndpointState {
  fine: BucketRing<Counter, Series>;
  coarse: BucketRing<Counter, never>;
  circuit: CircuitBreaker;
  lastFailureAt: number | null;
  /** The last judged (non-429) outcome was a failure. */
  failing: boolean;
}

/** Error classes that say nothing about the provider's health (the request itself was refused). */
const CLIENT_FAULT_OUTCOMES = new Set(['context_length', 'content_policy']);
const NEUTRAL_OUTCOMES = new Set(['cancelled', 'aborted', 'skipped']);

/**
 * How an attempt record counts for health: null when it says nothing about the endpoint
 * (client went away, skipped, the request was refused as too long / against content policy / 400).
 */
export function observationFromAttempt(record: AttemptRecord): AttemptObservation | null {
  const outcome = healthOutcomeOf(record);
  if (outcome === null) return null;
  const base = { endpoint: record.endpoint, latencyMs: record.latency_ms, ...(record.first_byte_ms === undefined ? {} : { firstTokenMs: record.first_byte_ms }) };
  if (outcome === 'success') {
    const outputTokens = record.usage?.completion_tokens;
    return { ...base, outcome, ...(outputTokens === undefined ? {} : { outputTokens }) };
  }
  return { ...base, outcome };
}

/** The health outcome of an attempt record, or null when it says nothing about the endpoint (see `observationFromAttempt`). */
function healthOutcomeOf(record: AttemptRecord): HealthOutcome | null {
  if (NEUTRAL_OUTCOMES.has(record.outcome) || CLIENT_FAULT_OUTCOMES.has(record.outcome)) return null;
  if (record.outcome === 'ok') return 'success';
  if (record.status === 429) return 'rate_limited';
  // 400/404/413/422: the request was wrong for this endpoint, not the endpoint broken.
  if (record.status !== null && record.status >= 400 && record.status < 500 && record.status !== 401 && record.status !== 403 && record.status !== 408 && record.status !== 409) return null;
  return 'error';
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function uptimeOf(successes: number, errors: number, minimumSamples: number): number | null {
  const total = successes + errors;
  return total < minimumSamples ? null : round((successes / total) * 100, 2);
}

function complete(set: PercentileSet): Required<PercentileSet> | null {
  return set.p50 === undefined ? null : { p50: set.p50, p75: set.p75 ?? set.p50, p90: set.p90 ?? set.p50, p99: set.p99 ?? set.p50 };
}

export class EndpointHealthTracker {
  readonly #options: HealthOptions;
  readonly #clock: Clock;
  readonly #endpoints = new Map<string, EndpointState>();
  readonly #listeners: Array<(endpoint: string, transition: CircuitTransition) => void> = [];
  #cached: { at: number; endpoints: Record<string, EndpointHealth> } | null = null;
  /** Endpoints whose circuit is not closed: only these need a live overlay per request. */
  readonly #notClosed = new Set<string>();

  constructor(clock: Clock, options: Partial<Omit<HealthOptions, 'circuit'>> & { circuit?: Partial<CircuitOptions> } = {}) {
    this.#clock = clock;
    this.#options = { ...DEFAULT_HEALTH_OPTIONS, ...options, circuit: { ...DEFAULT_CIRCUIT_OPTIONS, ...options.circuit } };
  }

  get options(): Readonly<HealthOptions> {
    return this.#options;
  }

  /** Called on every circuit transition caused by a recorded attempt (logs, metrics). */
  onTransition(listener: (endpoint: string, transition: CircuitTransition) => void): void {
    this.#listeners.push(listener);
  }

  /** Record one finished attempt. */
  record(observation: AttemptObservation): void {
    this.#record(observation.endpoint, observation.outcome, observation.latencyMs, observation.firstTokenMs, observation.outputTokens);
  }

  /** Record every attempt of a generation record that says something about its endpoint. */
  recordAttempts(attempts: readonly AttemptRecord[]): void {
    // As `record(observationFromAttempt(attempt))`, without building the observation.
    for (let index = 0; index < attempts.length; index++) {
      const attempt = attempts[index]!;
      const outcome = healthOutcomeOf(attempt);
      if (outcome !== null) this.#record(attempt.endpoint, outcome, attempt.latency_ms, attempt.first_byte_ms, outcome === 'success' ? attempt.usage?.completion_tokens : undefined);
    }
  }

  #record(endpoint: string, outcome: HealthOutcome, latencyMs: number, firstTokenMs: number | undefined, outputTokens: number | undefined): void {
    const now = this.#clock.now();
    const state = this.#state(endpoint);
    const counter = COUNTER_INDEX[outcome];
    state.fine.addAt(now, counter);
    state.coarse.addAt(now, counter);
    if (outcome === 'rate_limited') return;
    const success = outcome === 'success';
    if (success) {
      state.failing = false;
      state.fine.sampleAt(now, LATENCY, latencyMs);
      state.fine.sampleAt(now, TTFT, firstTokenMs ?? latencyMs);
      const generatingMs = firstTokenMs === undefined ? latencyMs : latencyMs - firstTokenMs;
      if (outputTokens !== undefined && outputTokens > 0 && generatingMs > 0) state.fine.sampleAt(now, THROUGHPUT, outputTokens / (generatingMs / 1000));
    } else {
      state.lastFailureAt = now;
      state.failing = true;
      this.#cached = null;
    }
    // The breaker reads the window's counts only for a failure while closed.
    let windowErrors = 0;
    let windowRequests = 0;
    if (!success && state.circuit.state(now) === 'closed') {
      const spanMs = this.#options.circuit.errorRateWindowMs;
      windowErrors = state.fine.count(now, spanMs, ERROR);
      windowRequests = windowErrors + state.fine.count(now, spanMs, SUCCESS);
    }
    const transition = state.circuit.record(now, success, windowErrors, windowRequests);
    if (transition) {
      this.#cached = null;
      if (transition.to === 'closed') this.#notClosed.delete(endpoint);
      else this.#notClosed.add(endpoint);
      for (const listener of this.#listeners) listener(endpoint, transition);
    }
  }

  /**
   * The engine snapshot's `endpoints` map. Statistics are cached for `statisticsCacheMs`; circuit
   * states are read live, and a half-open circuit hands its probe slot to this caller (see
   * `CircuitBreaker.stateForRequest`), so call it once per routed request.
   */
  snapshotEndpoints(): Record<string, EndpointHealth> {
    const now = this.#clock.now();
    if (this.#cached === null || now - this.#cached.at >= this.#options.statisticsCacheMs || now < this.#cached.at) {
      const endpoints: Record<string, EndpointHealth> = {};
      for (const id of this.#endpoints.keys()) endpoints[id] = this.#health(id, now);
      this.#cached = { at: now, endpoints };
    }
    // The cached map is shared between requests (the engine only reads it); copied only to overlay circuits.
    if (this.#notClosed.size === 0) return this.#cached.endpoints;
    const result: Record<string, EndpointHealth> = { ...this.#cached.endpoints };
    for (const id of this.#notClosed) {
      const circuit = this.#endpoints.get(id)!.circuit.stateForRequest(now);
      const health = result[id];
      if (health && circuit !== 'closed') result[id] = { ...health, circuit };
    }
    return result;
  }

  /** A snapshot provider for `createApp({ snapshot })`, merging other live state (spend, credentials). */
  snapshotWith(rest: () => Omit<Snapshot, 'endpoints'> = () => ({})): () => Snapshot {
    return () => ({ ...rest(), endpoints: this.snapshotEndpoints() });
  }

  /** Statistics of one endpoint over `spanMs` (default: the snapshot window). Does not take a probe slot. */
  statistics(endpoint: string, spanMs: number = this.#options.windowMs): EndpointStatistics {
    const now = this.#clock.now();
    const state = this.#endpoints.get(endpoint);
    const span = Math.min(spanMs, this.#options.longWindowMs);
    if (!state) {
      return { endpoint, window_ms: span, successes: 0, errors: 0, rate_limited: 0, error_rate: null, rate_limit_rate: null, uptime: null, latency_ms: {}, ttft_ms: {}, throughput: {}, circuit: 'closed', consecutive_failures: 0, last_failure_at: null };
    }
    const counts = state.fine.counts(now, span);
    const judged = counts.success + counts.error;
    const all = judged + counts.rate_limited;
    return {
      endpoint,
      window_ms: span,
      successes: counts.success,
      errors: counts.error,
      rate_limited: counts.rate_limited,
      error_rate: judged < this.#options.minimumSamples ? null : round(counts.error / judged, 4),
      rate_limit_rate: all === 0 ? null : round(counts.rate_limited / all, 4),
      uptime: uptimeOf(counts.success, counts.error, this.#options.minimumSamples),
      latency_ms: percentiles(state.fine.samples(now, span, 'latency')),
      ttft_ms: percentiles(state.fine.samples(now, span, 'ttft')),
      throughput: percentiles(state.fine.samples(now, span, 'throughput')),
      circuit: state.circuit.state(now),
      consecutive_failures: state.circuit.consecutiveFailures,
      last_failure_at: state.lastFailureAt,
    };
  }

  /** OpenRouter's endpoint health fields for one endpoint. */
  routeHealth(endpoint: string): EndpointRouteHealth {
    const now = this.#clock.now();
    const state = this.#endpoints.get(endpoint);
    if (!state) return { uptime_last_5m: null, uptime_last_30m: null, uptime_last_1d: null, latency_last_30m: null, throughput_last_30m: null };
    const minimum = this.#options.minimumSamples;
    const uptimeOver = (ring: BucketRing<Counter, Series> | BucketRing<Counter, never>, spanMs: number): number | null => {
      const counts = ring.counts(now, spanMs);
      return uptimeOf(counts.success, counts.error, minimum);
    };
    const long = this.#options.longWindowMs;
    return {
      uptime_last_5m: uptimeOver(state.fine, 5 * 60_000),
      uptime_last_30m: uptimeOver(state.fine, long),
      uptime_last_1d: uptimeOver(state.coarse, this.#options.coarseWindowMs),
      latency_last_30m: complete(percentiles(state.fine.samples(now, long, 'ttft'))),
      throughput_last_30m: complete(percentiles(state.fine.samples(now, long, 'throughput'))),
    };
  }

  /** Endpoint ids seen so far. */
  endpoints(): string[] {
    return [...this.#endpoints.keys()];
  }

  /** Circuit state of every endpoint seen (does not take probe slots). */
  circuits(): Array<{ endpoint: string; state: CircuitState }> {
    const now = this.#clock.now();
    return [...this.#endpoints].map(([endpoint, state]) => ({ endpoint, state: state.circuit.state(now) }));
  }

  #health(id: string, now: number): EndpointHealth {
    const statistics = this.statistics(id);
    const state = this.#endpoints.get(id)!;
    // A failure not yet followed by a success, within the recent window.
    const recentlyFailed = state.failing && state.lastFailureAt !== null && now - state.lastFailureAt < this.#options.recentFailureMs;
    const health: EndpointHealth = { recently_failed: recentlyFailed, circuit: 'closed', uptime: statistics.uptime };
    if (statistics.error_rate !== null) health.error_rate = statistics.error_rate;
    if (statistics.ttft_ms.p50 !== undefined) health.latency_ms = statistics.ttft_ms;
    if (statistics.throughput.p50 !== undefined) health.throughput = statistics.throughput;
    return health;
  }

  #state(endpoint: string): EndpointState {
    let state = this.#endpoints.get(endpoint);
    if (!state) {
      const { bucketMs, longWindowMs, coarseBucketMs, coarseWindowMs, samplesPerBucket } = this.#options;
      state = {
        fine: new BucketRing<Counter, Series>({ bucketMs, buckets: Math.ceil(longWindowMs / bucketMs), counters: COUNTERS, series: SERIES, samplesPerBucket }),
        coarse: new BucketRing<Counter, never>({ bucketMs: coarseBucketMs, buckets: Math.ceil(coarseWindowMs / coarseBucketMs), counters: COUNTERS, series: [], samplesPerBucket: 0 }),
        circuit: new CircuitBreaker(this.#options.circuit),
        lastFailureAt: null,
        failing: false,
      };
      this.#endpoints.set(endpoint, state);
      this.#cached = null;
    }
    return state;
  }
}
