import { describe, expect, it } from 'vitest';
import type { Clock } from '../clock.ts';
import type { AttemptRecord } from '../store/generation-record.ts';
import { CircuitBreaker, DEFAULT_CIRCUIT_OPTIONS } from './circuit-breaker.ts';
import { EndpointHealthTracker, observationFromAttempt } from './endpoint-health.ts';
import { BucketRing, percentile, percentiles } from './rolling-window.ts';

function manualClock(start = Date.UTC(2026, 10, 25, 12, 0, 0)): Clock & { advance(ms: number): void } {
  let now = start;
  return { now: () => now, monotonic: () => now, advance: (ms) => void (now += ms) };
}

const ENDPOINT = 'openai/gpt-4o-mini@sim-fast';

describe('rolling window', () => {
  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, index) => index + 1);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentiles([30, 10, 20])).toEqual({ p50: 20, p75: 30, p90: 30, p99: 30 });
    expect(percentiles([])).toEqual({});
  });

  it('forgets buckets that fell out of the span and reuses ring slots', () => {
    const ring = new BucketRing({ bucketMs: 1000, buckets: 5, counters: ['hit'] as const, series: ['value'] as const, samplesPerBucket: 2 });
    ring.add(0, 'hit');
    ring.add(1500, 'hit', 2);
    ring.sample(1500, 'value', 7);
    ring.sample(1500, 'value', 8);
    ring.sample(1500, 'value', 9);
    expect(ring.counts(1999, 5000).hit).toBe(3);
    expect(ring.counts(1999, 1000).hit).toBe(2);
    // Bounded samples: the third overwrote the first.
    expect(ring.samples(1999, 5000, 'value').sort()).toEqual([8, 9]);
    // Five seconds later the slot of t=0 is reused by t=5000.
    ring.add(5000, 'hit');
    expect(ring.counts(5000, 5000).hit).toBe(3);
    expect(ring.counts(7000, 5000).hit).toBe(1);
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures, half-opens after the cool-down, closes on a probe success', () => {
    const breaker = new CircuitBreaker();
    let now = 0;
    for (let index = 0; index < DEFAULT_CIRCUIT_OPTIONS.consecutiveFailures - 1; index++) expect(breaker.record(now, false, 0, 0)).toBeNull();
    expect(breaker.record(now, false, 0, 0)).toMatchObject({ from: 'closed', to: 'open' });
    now += DEFAULT_CIRCUIT_OPTIONS.coolDownMs - 1;
    expect(breaker.state(now)).toBe('open');
    now += 1;
    expect(breaker.state(now)).toBe('half_open');
    // One probe slot: the first caller gets half_open, the next sees open until the lease ends.
    expect(breaker.stateForRequest(now)).toBe('half_open');
    expect(breaker.stateForRequest(now + 1)).toBe('open');
    expect(breaker.stateForRequest(now + DEFAULT_CIRCUIT_OPTIONS.probeLeaseMs)).toBe('half_open');
    expect(breaker.record(now + 10, true, 0, 0)).toMatchObject({ from: 'half_open', to: 'closed' });
    expect(breaker.state(now + 10)).toBe('closed');
  });

  it('re-opens when the probe fails and opens on a high error rate', () => {
    const breaker = new CircuitBreaker({ ...DEFAULT_CIRCUIT_OPTIONS, consecutiveFailures: 100 });
    expect(breaker.record(0, false, 4, 9)).toBeNull();
    expect(breaker.record(0, false, 5, 10)).toMatchObject({ to: 'open', reason: 'error rate 50% over 10 requests' });
    expect(breaker.state(DEFAULT_CIRCUIT_OPTIONS.coolDownMs)).toBe('half_open');
    expect(breaker.record(DEFAULT_CIRCUIT_OPTIONS.coolDownMs, false, 6, 11)).toMatchObject({ from: 'half_open', to: 'open', reason: 'probe failed' });
  });
});

describe('endpoint health tracker', () => {
  it('reports latency, TTFT, throughput, error and 429 rates and uptime without 429s', () => {
    const clock = manualClock();
    const tracker = new EndpointHealthTracker(clock);
    tracker.record({ endpoint: ENDPOINT, outcome: 'error', latencyMs: 50 });
    tracker.record({ endpoint: ENDPOINT, outcome: 'error', latencyMs: 50 });
    for (let index = 0; index < 8; index++) tracker.record({ endpoint: ENDPOINT, outcome: 'success', latencyMs: 1000 + index * 100, firstTokenMs: 100 + index * 10, outputTokens: 180 });
    tracker.record({ endpoint: ENDPOINT, outcome: 'rate_limited', latencyMs: 20 });
    const statistics = tracker.statistics(ENDPOINT);
    expect(statistics).toMatchObject({ successes: 8, errors: 2, rate_limited: 1, error_rate: 0.2, uptime: 80, circuit: 'closed' });
    expect(statistics.rate_limit_rate).toBeCloseTo(1 / 11, 4);
    expect(statistics.latency_ms).toMatchObject({ p50: 1300, p99: 1700 });
    expect(statistics.ttft_ms).toMatchObject({ p50: 130, p90: 170 });
    // 180 tokens over (1000 - 100) ms = 200 tokens/s for the first sample.
    expect(statistics.throughput.p99).toBe(200);

    const route = tracker.routeHealth(ENDPOINT);
    expect(route.uptime_last_30m).toBe(80);
    expect(route.uptime_last_1d).toBe(80);
    expect(route.latency_last_30m).toEqual({ p50: 130, p75: 150, p90: 170, p99: 170 });
    expect(route.throughput_last_30m?.p50).toBeGreaterThan(100);

    const snapshot = tracker.snapshotEndpoints()[ENDPOINT];
    expect(snapshot).toMatchObject({ error_rate: 0.2, uptime: 80, recently_failed: false, circuit: 'closed', latency_ms: { p50: 130 } });
  });

  it('gives null uptime with too little data and forgets old data', () => {
    const clock = manualClock();
    const tracker = new EndpointHealthTracker(clock);
    tracker.record({ endpoint: ENDPOINT, outcome: 'success', latencyMs: 100 });
    expect(tracker.statistics(ENDPOINT).uptime).toBeNull();
    expect(tracker.routeHealth('unknown@nowhere').uptime_last_30m).toBeNull();
    for (let index = 0; index < 5; index++) tracker.record({ endpoint: ENDPOINT, outcome: 'success', latencyMs: 100 });
    expect(tracker.routeHealth(ENDPOINT).uptime_last_5m).toBe(100);
    clock.advance(31 * 60_000);
    expect(tracker.routeHealth(ENDPOINT)).toMatchObject({ uptime_last_5m: null, uptime_last_30m: null, latency_last_30m: null, uptime_last_1d: 100 });
  });

  it('marks a recent failure until a success or 30 s pass, and opens the circuit on repeated failures', () => {
    const clock = manualClock();
    const tracker = new EndpointHealthTracker(clock);
    const transitions: string[] = [];
    tracker.onTransition((endpoint, transition) => transitions.push(`${endpoint}:${transition.to}`));
    tracker.record({ endpoint: ENDPOINT, outcome: 'error', latencyMs: 10 });
    expect(tracker.snapshotEndpoints()[ENDPOINT]?.recently_failed).toBe(true);
    clock.advance(30_000);
    expect(tracker.snapshotEndpoints()[ENDPOINT]?.recently_failed).toBe(false);
    for (let index = 0; index < 5; index++) tracker.record({ endpoint: ENDPOINT, outcome: 'error', latencyMs: 10 });
    expect(tracker.snapshotEndpoints()[ENDPOINT]?.circuit).toBe('open');
    expect(transitions).toEqual([`${ENDPOINT}:open`]);
    clock.advance(DEFAULT_CIRCUIT_OPTIONS.coolDownMs);
    expect(tracker.snapshotEndpoints()[ENDPOINT]?.circuit).toBe('half_open');
    expect(tracker.snapshotEndpoints()[ENDPOINT]?.circuit).toBe('open');
    tracker.record({ endpoint: ENDPOINT, outcome: 'success', latencyMs: 10 });
    expect(tracker.snapshotEndpoints()[ENDPOINT]).toMatchObject({ circuit: 'closed', recently_failed: false });
    expect(transitions).toEqual([`${ENDPOINT}:open`, `${ENDPOINT}:closed`]);
  });

  it('classifies attempt records: 429 as rate limited, client faults and cancellations as neutral', () => {
    const base: AttemptRecord = { attempt: 1, retry: 0, endpoint: ENDPOINT, provider: 'sim-fast', provider_name: 'Simulated Fast', model: 'openai/gpt-4o-mini', status: 200, outcome: 'ok', latency_ms: 500, first_byte_ms: 100, usage: { completion_tokens: 40 }, cost: '0.1' };
    expect(observationFromAttempt(base)).toEqual({ endpoint: ENDPOINT, outcome: 'success', latencyMs: 500, firstTokenMs: 100, outputTokens: 40 });
    expect(observationFromAttempt({ ...base, outcome: 'retryable', status: 429 })?.outcome).toBe('rate_limited');
    expect(observationFromAttempt({ ...base, outcome: 'retryable', status: 503 })?.outcome).toBe('error');
    expect(observationFromAttempt({ ...base, outcome: 'timeout', status: null })?.outcome).toBe('error');
    expect(observationFromAttempt({ ...base, outcome: 'final', status: 401 })?.outcome).toBe('error');
    expect(observationFromAttempt({ ...base, outcome: 'final', status: 400 })).toBeNull();
    expect(observationFromAttempt({ ...base, outcome: 'context_length', status: 400 })).toBeNull();
    expect(observationFromAttempt({ ...base, outcome: 'cancelled' })).toBeNull();
  });
});
