// OpenRouter's default load balancing (provider routing 3.1 B): among stable endpoints the first
// pick is drawn with weight 1/price², so a $1/M endpoint leads about 9x as often as a $3/M one,
// and an endpoint with a recent outage goes last whatever its price.
import { describe, expect, it } from 'vitest';
import { compileTestCatalog, compileTestPolicy, testEndpoint, testFacts, testModel, testProvider } from '../../engine/evaluate/__test-helpers__/builders.ts';
import { evaluate, type Snapshot } from '../../engine/index.ts';

const RUNS = 10_000;
const catalog = compileTestCatalog({
  providers: [testProvider('a'), testProvider('b'), testProvider('c')],
  models: [testModel('docs/example', [testEndpoint('a', 1, 1), testEndpoint('b', 2, 2), testEndpoint('c', 3, 3)])],
});
const policy = compileTestPolicy({ id: 'statistics' });
const facts = testFacts({ models: ['docs/example'] });

function firstPicks(snapshot: Snapshot): Record<string, number> {
  const counts: Record<string, number> = {};
  const lastPlaces: Record<string, number> = {};
  for (let seed = 0; seed < RUNS; seed++) {
    const result = evaluate(policy, catalog, facts, snapshot, { now: 0, seed });
    if (!result.ok) throw new Error(result.error.message);
    const first = result.plan.attempts[0]!.provider;
    counts[first] = (counts[first] ?? 0) + 1;
    const last = result.plan.attempts.at(-1)!.provider;
    lastPlaces[last] = (lastPlaces[last] ?? 0) + 1;
  }
  return { ...counts, lastB: lastPlaces.b ?? 0 };
}

describe('weighted first pick over 10,000 seeds', () => {
  it('picks $1/M about 9x as often as $3/M, with the recently failed $2/M endpoint always last', () => {
    const counts = firstPicks({ endpoints: { 'docs/example@b': { recently_failed: true } } });
    const ratio = (counts.a ?? 0) / (counts.c ?? 1);
    console.log(`first picks: a=${counts.a} c=${counts.c} b=${counts.b ?? 0}; ratio a/c = ${ratio.toFixed(2)} (expected 9)`);
    expect(ratio).toBeGreaterThan(7.5);
    expect(ratio).toBeLessThan(10.5);
    expect(counts.b ?? 0).toBe(0);
    expect(counts.lastB).toBe(RUNS);
  });

  it('shares the first pick 36:9:4 among $1, $2 and $3 when all are healthy', () => {
    const counts = firstPicks({});
    // Weights 1, 1/4, 1/9 -> shares 36/49, 9/49, 4/49.
    expect((counts.a ?? 0) / RUNS).toBeCloseTo(36 / 49, 1);
    expect((counts.b ?? 0) / RUNS).toBeCloseTo(9 / 49, 1);
    expect((counts.c ?? 0) / RUNS).toBeCloseTo(4 / 49, 1);
  });
});
