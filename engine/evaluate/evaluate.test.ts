import { describe, expect, it } from 'vitest';
import type { Catalog, CatalogEndpoint, EvaluateResult, Exclusion, Plan, PolicyDocument, RequestFacts, Snapshot } from '../types.ts';
import { compileTestCatalog, compileTestPolicy, testEndpoint, testFacts, testModel, testProvider } from './__test-helpers__/builders.ts';
import { evaluate } from './evaluate.ts';

/** Three providers for `test/model` at $1, $2, $3 per million (prompt and completion each). */
function baseCatalog(extra: Partial<Catalog> = {}, endpoints?: CatalogEndpoint[]): Catalog {
  return {
    providers: [
      testProvider('cheap', { name: 'CheapCo', region: 'us' }),
      testProvider('mid', { name: 'MidCo', region: 'eu', data_policy: { trains_on_prompts: true, retention_days: 30, zdr: false } }),
      testProvider('pricey', { name: 'PriceyCo', region: 'eu', data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true } }),
      ...(extra.providers ?? []),
    ],
    models: [
      testModel('test/model', endpoints ?? [testEndpoint('cheap', 1, 1, { quantization: 'fp8' }), testEndpoint('mid', 2, 2, { quantization: 'bf16' }), testEndpoint('pricey', 3, 3)]),
      testModel('test/small', [testEndpoint('cheap', 0.1, 0.1)]),
      ...(extra.models ?? []),
    ],
  };
}

type PolicyInput = Omit<PolicyDocument, 'version' | 'id'> & { id?: string };

function run(policy: PolicyInput = {}, facts: Partial<RequestFacts> = {}, snapshot: Snapshot = {}, catalog: Catalog = baseCatalog(), seed = 1): EvaluateResult {
  return evaluate(compileTestPolicy({ id: 'test', ...policy }), compileTestCatalog(catalog), testFacts(facts), snapshot, { now: Date.UTC(2026, 10, 25, 12), seed });
}

function plan(result: EvaluateResult): Plan {
  if (!result.ok) throw new Error(`expected a plan, got ${result.error.code}: ${result.error.message}`);
  return result.plan;
}

function attempts(result: EvaluateResult): string[] {
  return plan(result).attempts.map((attempt) => attempt.provider);
}

function excluded(result: EvaluateResult): Array<Pick<Exclusion, 'provider' | 'reason' | 'source'>> {
  const list = result.ok ? result.plan.excluded : result.error.excluded;
  return list.map(({ provider, reason, source }) => ({ provider, reason, source }));
}

describe('hard filters: catalog, snapshot and policy constraints', () => {
  it('excludes disabled providers and providers without credentials', () => {
    const catalog = baseCatalog();
    catalog.providers[2] = { ...catalog.providers[2]!, status: 'disabled' };
    const result = run({}, {}, { credentials: ['cheap'] }, catalog);
    expect(excluded(result)).toEqual([
      { provider: 'mid', reason: 'credentials_missing', source: 'snapshot' },
      { provider: 'pricey', reason: 'provider_disabled', source: 'catalog' },
    ]);
    expect(attempts(result)).toEqual(['cheap']);
  });

  it('applies data_collection, zdr and regions with the policy or rule as source', () => {
    expect(excluded(run({ require: { data_collection: 'deny' } }))).toEqual([{ provider: 'mid', reason: 'data_collection', source: 'policy' }]);
    expect(attempts(run({ require: { zdr: true } }))).toEqual(['pricey']);
    const regional = run({ rules: [{ id: 'eu-only', require: { regions: ['EU'] } }] });
    expect(excluded(regional)).toEqual([{ provider: 'cheap', reason: 'region', source: 'eu-only' }]);
  });

  it('accumulates require across matching rules; a request cannot loosen them', () => {
    const result = run(
      { rules: [{ id: 'a', require: { data_collection: 'deny' } }, { id: 'b', require: { max_price: { prompt: 2.5 } } }] },
      { provider: { data_collection: 'allow', max_price: { prompt: 100 } } },
    );
    expect(excluded(result)).toEqual([
      { provider: 'mid', reason: 'data_collection', source: 'a' },
      { provider: 'pricey', reason: 'max_price', source: 'b' },
    ]);
  });

  it('enforces a quantization floor; unknown never passes', () => {
    expect(excluded(run({ require: { quantization_floor: 'fp16' } }))).toEqual([
      { provider: 'cheap', reason: 'quantization', source: 'policy' },
      { provider: 'pricey', reason: 'quantization', source: 'policy' },
    ]);
    expect(excluded(run({ require: { quantization_floor: 'int8' } })).map((entry) => entry.provider)).toEqual(['pricey']);
  });

  it('caps worst-case request cost from prompt estimate + max_tokens, or the endpoint limit when absent', () => {
    // 1000 prompt + 500 completion tokens: $0.0015 / $0.003 / $0.0045.
    expect(attempts(run({ require: { max_request_cost: 0.0031 } }))).toEqual(expect.arrayContaining(['cheap', 'mid']));
    expect(excluded(run({ require: { max_request_cost: 0.0031 } }))).toEqual([{ provider: 'pricey', reason: 'max_request_cost', source: 'policy' }]);
    const endpoints = [testEndpoint('cheap', 1, 1, { max_completion_tokens: 1000 }), testEndpoint('mid', 1, 1, { max_completion_tokens: 100_000 })];
    const result = run({ require: { max_request_cost: 0.01 } }, { max_tokens: null }, {}, baseCatalog({}, endpoints));
    expect(excluded(result)).toEqual([{ provider: 'mid', reason: 'max_request_cost', source: 'policy' }]);
    expect(plan(result).attempts[0]!.estimated_cost).toEqual({ min: 0.001, max: 0.002 });
  });

  it('matches provider allow/deny by slug, display name (any case) and base slug, but not tiers', () => {
    expect(attempts(run({ require: { providers: { allow: ['CHEAPCO', 'mid'] } } })).sort()).toEqual(['cheap', 'mid']);
    expect(excluded(run({ require: { providers: { deny: ['PriceyCo'] } } }))).toEqual([{ provider: 'pricey', reason: 'provider_denied', source: 'policy' }]);
    const catalog = baseCatalog(
      { providers: [testProvider('deepinfra/turbo', { name: 'DeepInfra Turbo' }), testProvider('openai')] },
      [testEndpoint('deepinfra/turbo', 1, 1), testEndpoint('openai', 2, 2), testEndpoint('openai', 1, 1, { tier: 'flex' })],
    );
    const allowed = run({ require: { providers: { allow: ['deepinfra', 'openai'] } } }, {}, {}, catalog);
    expect(attempts(allowed).sort()).toEqual(['deepinfra/turbo', 'openai']);
    // The tier endpoint falls to the allow list first (constraints precede capabilities).
    expect(excluded(allowed)).toEqual([{ provider: 'openai', reason: 'provider_not_allowed', source: 'policy' }]);
    expect(excluded(run({}, {}, {}, catalog))).toEqual([{ provider: 'openai', reason: 'tier', source: 'catalog' }]);
  });

  it('excludes rate-limited endpoints when asked, and demotes them otherwise', () => {
    const snapshot: Snapshot = { endpoints: { 'test/model@cheap': { rate_limit_remaining: 0 } } };
    expect(excluded(run({ require: { respect_rate_limits: true } }, {}, snapshot))).toEqual([{ provider: 'cheap', reason: 'rate_limited', source: 'policy' }]);
    expect(attempts(run({}, {}, snapshot)).at(-1)).toBe('cheap');
  });
});

describe('budgets', () => {
  const budgets: PolicyDocument['budgets'] = [{ id: 'team-daily', scope: 'team', period: 'day', limit: 1 }];
  const key = 'team-daily|team=ml|2026-11-25';

  it('keeps endpoints that fit the headroom and reports the budget in the plan', () => {
    const result = run({ budgets, require: { budgets: ['team-daily'] } }, { team: 'ml' }, { spend: { [key]: 0.9975 } });
    expect(attempts(result)).toEqual(['cheap']);
    expect(excluded(result).map((entry) => entry.reason)).toEqual(['budget_exhausted', 'budget_exhausted']);
    expect(plan(result).budgets).toEqual([{ id: 'team-daily', scope_key: key, spent: 0.9975, limit: 1, remaining: 1 - 0.9975 }]);
  });

  it('answers 402 budget_exceeded saying what would fit when budgets alone block every route', () => {
    const result = run({ budgets, require: { budgets: ['team-daily'] } }, { team: 'ml' }, { spend: { [key]: 0.9988 } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ code: 'budget_exceeded', status: 402 });
    expect(result.error.message).toContain('team-daily');
    // $0.0012 left, prompt costs $0.001 at $1/M: 200 completion tokens fit.
    expect(result.error.message).toContain('max_tokens <= 199');
  });

  it('downgrades to cheaper models instead of 402 when the budget says so', () => {
    const result = run({ budgets: [{ ...budgets[0]!, downgrade_to: ['test/small'] }], require: { budgets: ['team-daily'] } }, { team: 'ml' }, { spend: { [key]: 0.9988 } });
    expect(plan(result).attempts.map((attempt) => attempt.endpoint)).toEqual(['test/small@cheap']);
    expect(plan(result).requested.strategy).toBe('fallback');
  });

  it('does not apply to requests without the scope value', () => {
    const result = run({ budgets, require: { budgets: ['team-daily'] } }, { team: null }, { spend: { [key]: 5 } });
    expect(attempts(result)).toHaveLength(3);
    expect(plan(result).trace.some((entry) => entry.message.includes('budget team-daily does not apply'))).toBe(true);
  });
});

describe("the request's provider object", () => {
  it('narrows with only / ignore / data_collection / zdr / max_price / quantizations', () => {
    expect(excluded(run({}, { provider: { only: ['cheap', 'MidCo'] } }))).toEqual([{ provider: 'pricey', reason: 'request_only', source: 'request' }]);
    expect(excluded(run({}, { provider: { ignore: ['cheap'] } }))).toEqual([{ provider: 'cheap', reason: 'request_ignore', source: 'request' }]);
    expect(excluded(run({}, { provider: { data_collection: 'deny' } }))).toEqual([{ provider: 'mid', reason: 'data_collection', source: 'request' }]);
    expect(attempts(run({}, { provider: { zdr: true } }))).toEqual(['pricey']);
    expect(excluded(run({}, { provider: { max_price: { completion: 1.5 } } })).map((entry) => entry.provider)).toEqual(['mid', 'pricey']);
    expect(excluded(run({}, { provider: { quantizations: ['fp8', 'unknown'] } }))).toEqual([{ provider: 'mid', reason: 'request_quantizations', source: 'request' }]);
  });

  it('excludes endpoints lacking a parameter under require_parameters, else lists it to drop', () => {
    const endpoints = [testEndpoint('cheap', 1, 1, { supported_parameters: ['max_tokens'] }), testEndpoint('mid', 2, 2)];
    const facts = { parameters: ['max_tokens', 'seed'] };
    const strict = run({}, { ...facts, provider: { require_parameters: true } }, {}, baseCatalog({}, endpoints));
    expect(excluded(strict)).toEqual([{ provider: 'cheap', reason: 'require_parameters', source: 'request' }]);
    const lenient = plan(run({ defaults: { sort: 'price' } }, facts, {}, baseCatalog({}, endpoints)));
    expect(lenient.attempts.map((attempt) => [attempt.provider, attempt.drop_parameters])).toEqual([
      ['cheap', ['seed']],
      ['mid', []],
    ]);
  });

  it('ignores locked overrides and says so in the trace', () => {
    const result = plan(run({ lock: ['only', 'order'] }, { provider: { only: ['pricey'], order: ['pricey'] } }));
    expect(result.attempts).toHaveLength(3);
    expect(result.excluded).toEqual([]);
    expect(result.trace.filter((entry) => entry.message.includes('locked by policy')).length).toBe(2);
  });
});

describe('capabilities', () => {
  it('excludes endpoints by context length and max_tokens', () => {
    const endpoints = [testEndpoint('cheap', 1, 1, { context_length: 1200 }), testEndpoint('mid', 2, 2, { max_completion_tokens: 100 }), testEndpoint('pricey', 3, 3)];
    expect(excluded(run({}, {}, {}, baseCatalog({}, endpoints)))).toEqual([
      { provider: 'cheap', reason: 'context_length', source: 'request' },
      { provider: 'mid', reason: 'max_tokens', source: 'request' },
    ]);
  });

  it('excludes models without the input modality', () => {
    const result = run({}, { input_modalities: ['text', 'image'] });
    expect(result.ok).toBe(false);
    expect(excluded(result).every((entry) => entry.reason === 'modality_unsupported')).toBe(true);
  });

  it('prefers tool-capable endpoints when some exist, keeps the model when none do', () => {
    const some = [testEndpoint('cheap', 1, 1, { supported_parameters: ['max_tokens'] }), testEndpoint('mid', 2, 2)];
    const facts = { tools: true, parameters: ['max_tokens', 'tools'] };
    expect(excluded(run({}, facts, {}, baseCatalog({}, some)))).toEqual([{ provider: 'cheap', reason: 'tools_unsupported', source: 'request' }]);
    const none = [testEndpoint('cheap', 1, 1, { supported_parameters: ['max_tokens'] })];
    const kept = plan(run({}, facts, {}, baseCatalog({}, none)));
    expect(kept.attempts[0]!.drop_parameters).toEqual(['tools']);
    const structured = [testEndpoint('cheap', 1, 1, { supported_parameters: ['response_format'] }), testEndpoint('mid', 2, 2)];
    expect(excluded(run({}, { response_format: 'json_schema' }, {}, baseCatalog({}, structured)))).toEqual([{ provider: 'cheap', reason: 'response_format_unsupported', source: 'request' }]);
  });

  it('uses only free endpoints for :free and never otherwise', () => {
    const endpoints = [testEndpoint('cheap', 0, 0, { free: true }), testEndpoint('mid', 2, 2)];
    expect(attempts(run({}, { variants: ['free'] }, {}, baseCatalog({}, endpoints)))).toEqual(['cheap']);
    expect(excluded(run({}, {}, {}, baseCatalog({}, endpoints)))).toEqual([{ provider: 'cheap', reason: 'variant', source: 'request' }]);
  });

  it('lets tier endpoints compete only when named in full or through :nitro / :floor', () => {
    const catalog = baseCatalog({}, [testEndpoint('cheap', 1, 1), testEndpoint('cheap', 0.5, 0.5, { tier: 'flex' }), testEndpoint('cheap', 4, 4, { tier: 'priority' })]);
    expect(attempts(run({}, {}, {}, catalog))).toEqual(['cheap']);
    expect(plan(run({}, { variants: ['floor'] }, {}, catalog)).attempts.map((attempt) => attempt.endpoint)).toEqual(['test/model@cheap/flex', 'test/model@cheap']);
    expect(plan(run({}, { provider: { order: ['cheap/priority'] } }, {}, catalog)).attempts.map((attempt) => attempt.endpoint)).toEqual(['test/model@cheap/priority', 'test/model@cheap']);
  });
});

describe('ordering', () => {
  const health = (overrides: Snapshot['endpoints']): Snapshot => ({ endpoints: overrides });

  it('puts provider.order first, then the rest; with allow_fallbacks false only those', () => {
    const ordered = plan(run({}, { provider: { order: ['pricey', 'MidCo'] } }));
    expect(ordered.attempts.map((attempt) => attempt.provider)).toEqual(['pricey', 'mid', 'cheap']);
    expect(ordered.ordering).toBe('order+weighted-inverse-square-price');
    const strict = run({}, { provider: { order: ['pricey'], allow_fallbacks: false } });
    expect(attempts(strict)).toEqual(['pricey']);
    expect(excluded(strict).map((entry) => entry.reason)).toEqual(['request_order', 'request_order']);
    expect(plan(strict).allow_fallbacks).toBe(false);
  });

  it('keeps only the first endpoint with allow_fallbacks false and no order', () => {
    const result = run({}, { provider: { allow_fallbacks: false, sort: { by: 'price', partition: 'model' } } });
    expect(attempts(result)).toEqual(['cheap']);
    expect(excluded(result).map((entry) => entry.reason)).toEqual(['no_fallbacks', 'no_fallbacks']);
  });

  it('sorts by the request sort, variants, then rule or policy sort', () => {
    const snapshot = health({
      'test/model@cheap': { latency_ms: { p50: 900 }, throughput: { p50: 20 }, error_rate: 0.2 },
      'test/model@mid': { latency_ms: { p50: 300 }, throughput: { p50: 90 }, error_rate: 0.01 },
      'test/model@pricey': { latency_ms: { p50: 500 }, throughput: { p50: 60 }, error_rate: 0.05 },
    });
    expect(attempts(run({}, { provider: { sort: { by: 'latency', partition: 'model' } } }, snapshot))).toEqual(['mid', 'pricey', 'cheap']);
    expect(attempts(run({}, { variants: ['nitro'] }, snapshot))).toEqual(['mid', 'pricey', 'cheap']);
    expect(attempts(run({ defaults: { sort: 'price' } }, { variants: ['floor'] }, snapshot))).toEqual(['cheap', 'mid', 'pricey']);
    expect(attempts(run({ rules: [{ id: 'rel', sort: 'reliability' }] }, {}, snapshot))).toEqual(['mid', 'pricey', 'cheap']);
    expect(plan(run({ rules: [{ id: 'rel', sort: 'reliability' }] }, {}, snapshot)).ordering).toBe('sort:reliability');
    // A locked sort falls back to the policy's.
    expect(attempts(run({ lock: ['sort'], defaults: { sort: 'throughput' } }, { provider: { sort: { by: 'price', partition: 'model' } } }, snapshot))).toEqual(['mid', 'pricey', 'cheap']);
  });

  it('sorts endpoints of all models together with partition none', () => {
    const catalog = baseCatalog({ models: [testModel('test/other', [testEndpoint('cheap', 0.5, 0.5)])] });
    const byModel = plan(run({}, { models: ['test/model', 'test/other'], provider: { sort: { by: 'price', partition: 'model' } } }, {}, catalog));
    expect(byModel.attempts.map((attempt) => attempt.endpoint)).toEqual(['test/model@cheap', 'test/model@mid', 'test/model@pricey', 'test/other@cheap']);
    const together = plan(run({}, { models: ['test/model', 'test/other'], provider: { sort: { by: 'price', partition: 'none' } } }, {}, catalog));
    expect(together.attempts[0]!.endpoint).toBe('test/other@cheap');
    expect(together.requested.strategy).toBe('fallback');
  });

  it('demotes endpoints that miss targets or preferences, and recently failing or open-circuit ones last', () => {
    const snapshot = health({ 'test/model@cheap': { latency_ms: { p50: 4000 } }, 'test/model@mid': { recently_failed: true } });
    expect(attempts(run({ defaults: { sort: 'price', targets: { latency_p50_ms: 1000 } } }, {}, snapshot))).toEqual(['pricey', 'cheap', 'mid']);
    expect(attempts(run({ defaults: { sort: 'price' } }, { provider: { preferred_max_latency: { p50: 2 } } }, snapshot))).toEqual(['pricey', 'cheap', 'mid']);
    const circuits = health({ 'test/model@cheap': { circuit: 'open' }, 'test/model@mid': { circuit: 'open' } });
    for (let seed = 0; seed < 20; seed++) expect(attempts(run({}, {}, circuits, baseCatalog(), seed))).toEqual(['pricey', 'cheap', 'mid']);
  });

  it('ignores locked preferences', () => {
    const snapshot = health({ 'test/model@cheap': { latency_ms: { p50: 4000 } } });
    expect(attempts(run({ lock: ['preferences'], defaults: { sort: 'price' } }, { provider: { preferred_max_latency: { p50: 1 } } }, snapshot))[0]).toBe('cheap');
  });

  it('draws the first pick by 1/price² and follows with ascending price', () => {
    const firsts = new Set<string>();
    for (let seed = 0; seed < 200; seed++) {
      const order = attempts(run({}, {}, {}, baseCatalog(), seed));
      firsts.add(order[0]!);
      const rest = order.slice(1);
      const prices: Record<string, number> = { cheap: 1, mid: 2, pricey: 3 };
      expect(rest.map((provider) => prices[provider]!)).toEqual([...rest.map((provider) => prices[provider]!)].sort((a, b) => a - b));
    }
    expect(firsts).toEqual(new Set(['cheap', 'mid', 'pricey']));
  });

  it('keeps one caller in one split arm (sticky) and spreads callers by weight', () => {
    const policy: PolicyInput = { rules: [{ id: 'canary', split: { weights: { cheap: 80, pricey: 20 }, sticky: 'user' } }] };
    const arms: Record<string, number> = {};
    for (let user = 0; user < 2000; user++) {
      const first = new Set<string>();
      for (const seed of [1, 2, 3]) first.add(attempts(run(policy, { user: `user-${user}` }, {}, baseCatalog(), seed))[0]!);
      expect(first.size).toBe(1);
      const arm = [...first][0]!;
      arms[arm] = (arms[arm] ?? 0) + 1;
    }
    expect(arms.cheap! / 2000).toBeGreaterThan(0.75);
    expect(arms.cheap! / 2000).toBeLessThan(0.85);
    expect(plan(run(policy, { user: 'user-1' })).ordering).toMatch(/^split:(cheap|pricey)$/);
  });

  it('splits between models with by: model', () => {
    const policy: PolicyInput = { rules: [{ id: 'ab', split: { by: 'model', weights: { 'test/model': 50, 'test/small': 50 }, sticky: 'user' } }] };
    const models = new Set<string>();
    for (let user = 0; user < 50; user++) models.add(plan(run(policy, { user: `u${user}` })).attempts[0]!.model);
    expect(models).toEqual(new Set(['test/model', 'test/small']));
  });

  it('caps attempts and lists the cut endpoints as attempt_limit', () => {
    const result = plan(run({ defaults: { attempts: 2, sort: 'price' } }));
    expect(result.attempts.map((attempt) => attempt.provider)).toEqual(['cheap', 'mid']);
    expect(result.limits.max_attempts).toBe(2);
    expect(excluded({ ok: true, plan: result })).toEqual([{ provider: 'pricey', reason: 'attempt_limit', source: 'policy' }]);
    expect(result.trace.some((entry) => entry.stage === 'plan' && entry.message.startsWith('attempts capped at 2'))).toBe(true);
    const ruled = plan(run({ rules: [{ id: 'one-shot', attempts: 1 }] }));
    expect(ruled.excluded.every((exclusion) => exclusion.reason === 'attempt_limit' && exclusion.source === 'one-shot')).toBe(true);
    expect(ruled.excluded).toHaveLength(2);
  });
});

describe('more ordering and locking cases', () => {
  it('demotes endpoints below preferred_min_throughput', () => {
    const snapshot: Snapshot = { endpoints: { 'test/model@cheap': { throughput: { p50: 10 } }, 'test/model@mid': { throughput: { p50: 100 } } } };
    expect(attempts(run({ defaults: { sort: 'price' } }, { provider: { preferred_min_throughput: { p50: 50 } } }, snapshot))).toEqual(['mid', 'pricey', 'cheap']);
  });

  it('ignores a locked allow_fallbacks and locked variants', () => {
    const fallbacks = plan(run({ lock: ['allow_fallbacks'] }, { provider: { allow_fallbacks: false } }));
    expect(fallbacks.attempts).toHaveLength(3);
    expect(fallbacks.allow_fallbacks).toBe(true);
    const variants = plan(run({ lock: ['variants'], defaults: { sort: 'price' } }, { variants: ['nitro'] }, { endpoints: { 'test/model@pricey': { throughput: { p50: 999 } } } }));
    expect(variants.attempts[0]!.provider).toBe('cheap');
    expect(variants.trace.some((entry) => entry.message.includes('variants ignored'))).toBe(true);
  });

  it('accepts credentials under the base slug', () => {
    const catalog = baseCatalog({ providers: [testProvider('deepinfra/turbo')] }, [testEndpoint('deepinfra/turbo', 1, 1), testEndpoint('mid', 2, 2)]);
    expect(attempts(run({}, {}, { credentials: ['deepinfra'] }, catalog))).toEqual(['deepinfra/turbo']);
  });

  it('draws an unsticky split by weight from the seed', () => {
    const policy: PolicyInput = { rules: [{ id: 'canary', split: { weights: { cheap: 75, pricey: 25 } } }] };
    let cheap = 0;
    for (let seed = 0; seed < 2000; seed++) if (attempts(run(policy, {}, {}, baseCatalog(), seed))[0] === 'cheap') cheap++;
    expect(cheap / 2000).toBeGreaterThan(0.7);
    expect(cheap / 2000).toBeLessThan(0.8);
  });

  it('keeps sort order strict with allow_fallbacks false and partition none across models', () => {
    const catalog = baseCatalog({ models: [testModel('test/other', [testEndpoint('cheap', 0.5, 0.5)])] });
    const result = run({}, { models: ['test/model', 'test/other'], provider: { sort: { by: 'price', partition: 'none' }, allow_fallbacks: false } }, {}, catalog);
    expect(plan(result).attempts.map((attempt) => attempt.endpoint)).toEqual(['test/other@cheap']);
    expect(excluded(result).every((entry) => entry.reason === 'no_fallbacks')).toBe(true);
  });

  it('shares the first pick among free endpoints only', () => {
    const catalog = baseCatalog({}, [testEndpoint('cheap', 0, 0, { free: true }), testEndpoint('mid', 0, 0, { free: true }), testEndpoint('pricey', 3, 3, { free: true })]);
    const firsts = new Set<string>();
    for (let seed = 0; seed < 100; seed++) firsts.add(attempts(run({}, { variants: ['free'] }, {}, catalog, seed))[0]!);
    expect(firsts).toEqual(new Set(['cheap', 'mid']));
  });

  it('ranks auto by reliability with most_reliable', () => {
    const snapshot: Snapshot = { endpoints: { 'test/model@pricey': { error_rate: 0.001 }, 'test/small@cheap': { error_rate: 0.3 } } };
    expect(plan(run({ auto: { strategy: 'most_reliable' } }, { models: ['auto'] }, snapshot)).attempts[0]!.model).toBe('test/model');
  });

  it('lets route_to send requests to auto', () => {
    const routed = plan(run({ rules: [{ id: 'to-auto', route_to: 'auto' }] }, { models: ['test/model'] }));
    expect(routed.requested.strategy).toBe('rule');
    expect(routed.attempts[0]!.model).toBe('test/small');
  });
});

describe('rules and model resolution', () => {
  it('takes the first setting per key, accumulates require, stops at final and traces every rule', () => {
    const result = plan(
      run({
        defaults: { attempts: 4 },
        rules: [
          { id: 'never', when: { '===': [{ var: 'team' }, 'nobody'] }, attempts: 1 },
          { id: 'broken', when: { nope: [1] } },
          { id: 'first', require: { data_collection: 'deny' }, sort: 'price', timeouts: { first_byte_ms: 5 } },
          { id: 'second', require: { zdr: true }, sort: 'latency', attempts: 2, final: true },
          { id: 'after-final', require: { regions: ['mars'] } },
        ],
      }),
    );
    expect(result.matched_rules).toEqual(['first', 'second']);
    expect(result.attempts.map((attempt) => attempt.provider)).toEqual(['pricey']);
    expect(result.ordering).toBe('sort:price');
    expect(result.limits.max_attempts).toBe(2);
    expect(result.attempts[0]!.timeouts).toEqual({ first_byte_ms: 5, attempt_ms: 120_000, total_ms: 300_000 });
    const rules = result.trace.filter((entry) => entry.stage === 'rule');
    expect(rules.map((entry) => [entry.rule, entry.matched])).toEqual([
      ['never', false],
      ['broken', false],
      ['first', true],
      ['second', true],
      ['second', undefined],
    ]);
    expect(rules[1]!.message).toContain('condition error');
  });

  it('resolves aliases, route_to and fallback chains', () => {
    const aliased = plan(run({ aliases: { fast: 'test/small' } }, { models: ['fast'] }));
    expect(aliased.requested).toEqual({ models: ['test/small'], strategy: 'alias' });
    const routed = plan(run({ rules: [{ id: 'cheapen', route_to: 'test/small', fallbacks: ['test/model'] }] }));
    expect(routed.requested).toEqual({ models: ['test/small', 'test/model'], strategy: 'rule' });
    expect(routed.attempts[0]!.endpoint).toBe('test/small@cheap');
    expect(routed.attempts[0]!.reasons[0]).toContain('primary');
  });

  it('appends request fallback models after the primary, unless models are locked', () => {
    const chained = plan(run({ defaults: { sort: 'price' } }, { models: ['test/small', 'test/model'] }));
    expect(chained.attempts.map((attempt) => attempt.model)).toEqual(['test/small', 'test/model', 'test/model', 'test/model']);
    const locked = plan(run({ lock: ['models'] }, { models: ['test/small', 'test/model'] }));
    expect(locked.attempts.map((attempt) => attempt.model)).toEqual(['test/small']);
  });

  it('answers 404 model_not_found for unknown models', () => {
    const result = run({}, { models: ['nope/model'] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ code: 'model_not_found', status: 404 });
  });

  it('picks auto models by strategy among capable ones', () => {
    const catalog = baseCatalog({
      providers: [testProvider('vision')],
      models: [testModel('test/vision', [testEndpoint('vision', 5, 5)], { input_modalities: ['text', 'image'] })],
    });
    const cheapest = plan(run({}, { models: [], model: null }, {}, catalog));
    expect(cheapest.requested.strategy).toBe('auto');
    expect(cheapest.attempts[0]!.model).toBe('test/small');
    const vision = plan(run({}, { models: ['auto'], input_modalities: ['text', 'image'] }, {}, catalog));
    expect(vision.requested.models).toEqual(['test/vision']);
    const snapshot: Snapshot = { endpoints: { 'test/model@mid': { throughput: { p50: 300 } }, 'test/small@cheap': { throughput: { p50: 10 } } } };
    const fastest = plan(run({ auto: { strategy: 'fastest' } }, { models: ['auto'] }, snapshot, catalog));
    expect(fastest.attempts[0]!.model).toBe('test/model');
    const limited = plan(run({ auto: { strategy: 'cheapest', candidates: ['test/vision'] } }, { models: ['auto'] }, {}, catalog));
    expect(limited.requested.models).toEqual(['test/vision']);
  });

  it('lets a rule route auto requests', () => {
    const routed = plan(run({ rules: [{ id: 'auto-route', when: { '===': [{ var: 'model' }, 'auto'] }, route_to: 'test/model' }] }, { models: ['auto'] }));
    expect(routed.requested).toEqual({ models: ['test/model'], strategy: 'rule' });
  });
});

describe('no route and determinism', () => {
  it('explains every exclusion grouped by reason, like OpenRouter', () => {
    const result = run({ require: { zdr: true } }, { provider: { ignore: ['pricey'] } });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatchObject({ code: 'no_route', status: 404 });
    expect(result.error.message).toMatch(/^No endpoints found for test\/model/);
    expect(result.error.message).toContain('zdr (policy): 2 [test/model@cheap, test/model@mid]');
    expect(result.error.message).toContain('request_ignore (request): 1 [test/model@pricey]');
    expect(result.error.excluded).toHaveLength(3);
  });

  it('gives byte-identical plans for identical inputs and different first picks across seeds', () => {
    const first = JSON.stringify(run({}, {}, {}, baseCatalog(), 42));
    expect(JSON.stringify(run({}, {}, {}, baseCatalog(), 42))).toBe(first);
    const picks = new Set(Array.from({ length: 30 }, (_, seed) => attempts(run({}, {}, {}, baseCatalog(), seed))[0]));
    expect(picks.size).toBeGreaterThan(1);
  });

  it('estimates costs and plan limits', () => {
    const result = plan(run({ defaults: { sort: 'price' } }));
    expect(result.attempts[0]!.estimated_cost).toEqual({ min: 0.001, max: 0.0015 });
    expect(result.estimate).toEqual({ prompt_tokens: 1000, max_completion_tokens: 500 });
    expect(result.limits).toEqual({ max_attempts: 5, total_ms: 300_000 });
    expect(result.policy).toEqual({ id: 'test', version: 'test-policy' });
  });

  it('applies long-context price tiers to the estimate', () => {
    const endpoints = [testEndpoint('cheap', 1, 1, { pricing: { prompt: '0.000001', completion: '0.000001', overrides: [{ min_prompt_tokens: 500, prompt: '0.000002' }] } })];
    expect(plan(run({}, {}, {}, baseCatalog({}, endpoints))).attempts[0]!.estimated_cost).toEqual({ min: 0.002, max: 0.0025 });
  });
});
