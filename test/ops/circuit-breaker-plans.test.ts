/**
 * Circuit breaker through the real engine: the shipped catalogs and default policy, `evaluate`
 * from engine/index.ts, and the health tracker's snapshot. An endpoint that starts failing goes to
 * the end of its model's endpoints in every plan (from its first failure: `recently failed` for
 * 30 s; after 5 consecutive failures: `circuit open` for the 60 s cool-down), half-opens to let one
 * probe through, and comes back once the probe succeeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, evaluate, requestFacts, type CompiledCatalog, type CompiledPolicy, type RequestFacts, type Snapshot } from '../../engine/index.ts';
import type { Clock } from '../../sidecar/clock.ts';
import { DEFAULT_CIRCUIT_OPTIONS } from '../../sidecar/ops/circuit-breaker.ts';
import { DEFAULT_HEALTH_OPTIONS, EndpointHealthTracker } from '../../sidecar/ops/endpoint-health.ts';

const POLICIES = fileURLToPath(new URL('../../policies/', import.meta.url));
const FAILING = 'openai/gpt-4o@sim-fast';
const HEALTHY = 'openai/gpt-4o@sim-eu';
const SEEDS = Array.from({ length: 200 }, (_, index) => index + 1);

function compiled(): { catalog: CompiledCatalog; policy: CompiledPolicy; facts: RequestFacts } {
  const catalog = compileCatalog(['catalog.yaml', 'simulated.yaml'].map((file) => ({ file, text: readFileSync(join(POLICIES, file), 'utf8') })));
  if (!catalog.ok) throw new Error('catalog does not compile');
  const policy = compilePolicy(readFileSync(join(POLICIES, 'default.yaml'), 'utf8'), 'default.yaml', catalog.value);
  if (!policy.ok) throw new Error('policy does not compile');
  const facts = requestFacts({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hello' }] }, {}, {}, { exposeHeaders: policy.value.exposeHeaders });
  if (!facts.ok) throw new Error('facts');
  return { catalog: catalog.value, policy: policy.value, facts: facts.facts };
}

function manualClock(): Clock & { advance(ms: number): void } {
  let now = Date.UTC(2026, 10, 25, 12, 0, 0);
  return { now: () => now, monotonic: () => now, advance: (ms) => void (now += ms) };
}

describe('circuit breaker in plans', () => {
  const { catalog, policy, facts } = compiled();
  const clock = manualClock();
  const tracker = new EndpointHealthTracker(clock);
  // Only the simulated providers have credentials, so the plan's gpt-4o endpoints are sim-fast and sim-eu.
  const snapshot = tracker.snapshotWith(() => ({ credentials: ['sim-fast', 'sim-cheap', 'sim-eu'] }));

  /** Endpoints of the primary model, in plan order, for one seed and one snapshot. */
  function primaryOrder(seed: number, live: Snapshot = snapshot()): string[] {
    const result = evaluate(policy, catalog, facts, live, { now: clock.now(), seed });
    if (!result.ok) throw new Error(result.error.message);
    return result.plan.attempts.filter((attempt) => attempt.model === 'openai/gpt-4o').map((attempt) => attempt.endpoint);
  }

  function firstPicks(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const seed of SEEDS) {
      const first = primaryOrder(seed)[0]!;
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    return counts;
  }

  it('shares first picks while both endpoints are healthy', () => {
    for (let index = 0; index < 20; index++) {
      tracker.record({ endpoint: FAILING, outcome: 'success', latencyMs: 300, firstTokenMs: 80, outputTokens: 50 });
      tracker.record({ endpoint: HEALTHY, outcome: 'success', latencyMs: 400, firstTokenMs: 180, outputTokens: 50 });
    }
    const picks = firstPicks();
    expect(picks.get(FAILING)).toBeGreaterThan(50);
    expect(picks.get(HEALTHY)).toBeGreaterThan(50);
    expect(primaryOrder(1).sort()).toEqual([FAILING, HEALTHY].sort());
  });

  it('moves the failing endpoint to the end from its first failure, and opens the circuit after 5', () => {
    tracker.record({ endpoint: FAILING, outcome: 'error', latencyMs: 30 });
    expect(tracker.snapshotEndpoints()[FAILING]).toMatchObject({ recently_failed: true, circuit: 'closed' });
    for (const seed of SEEDS) expect(primaryOrder(seed)).toEqual([HEALTHY, FAILING]);

    for (let index = 1; index < DEFAULT_CIRCUIT_OPTIONS.consecutiveFailures; index++) {
      clock.advance(1_000);
      tracker.record({ endpoint: FAILING, outcome: 'error', latencyMs: 30 });
    }
    expect(tracker.statistics(FAILING).circuit).toBe('open');
    // Past the recent-failure window the open circuit alone keeps it last, until the cool-down ends.
    clock.advance(DEFAULT_HEALTH_OPTIONS.recentFailureMs);
    const live = snapshot();
    expect(live.endpoints?.[FAILING]).toMatchObject({ recently_failed: false, circuit: 'open' });
    for (const seed of SEEDS) expect(primaryOrder(seed, live)).toEqual([HEALTHY, FAILING]);
    const result = evaluate(policy, catalog, facts, live, { now: clock.now(), seed: 1 });
    expect(result.ok && result.plan.attempts.find((attempt) => attempt.endpoint === FAILING)?.reasons.join(' ')).toContain('circuit open');
  });

  it('half-opens after the cool-down: one request may probe, the others keep it last; a failed probe re-opens', () => {
    clock.advance(DEFAULT_CIRCUIT_OPTIONS.coolDownMs - DEFAULT_HEALTH_OPTIONS.recentFailureMs);
    const probe = snapshot();
    expect(probe.endpoints?.[FAILING]?.circuit).toBe('half_open');
    expect(firstPicks().get(HEALTHY)).toBe(SEEDS.length);
    tracker.record({ endpoint: FAILING, outcome: 'error', latencyMs: 30 });
    expect(tracker.statistics(FAILING).circuit).toBe('open');
    for (const seed of SEEDS) expect(primaryOrder(seed)).toEqual([HEALTHY, FAILING]);
  });

  it('comes back once a probe succeeds', () => {
    clock.advance(DEFAULT_CIRCUIT_OPTIONS.coolDownMs);
    const probe = snapshot();
    expect(probe.endpoints?.[FAILING]).toMatchObject({ circuit: 'half_open', recently_failed: false });
    // Not demoted for the probing request: it may be drawn first again.
    expect(SEEDS.some((seed) => primaryOrder(seed, probe)[0] === FAILING)).toBe(true);
    tracker.record({ endpoint: FAILING, outcome: 'success', latencyMs: 300, firstTokenMs: 80, outputTokens: 50 });
    expect(tracker.statistics(FAILING).circuit).toBe('closed');
    const picks = firstPicks();
    expect(picks.get(FAILING)).toBeGreaterThan(50);
    expect(picks.get(HEALTHY)).toBeGreaterThan(50);
  });
});
