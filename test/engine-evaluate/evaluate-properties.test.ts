// Property tests of evaluate() over random catalogs, policies and requests, compiled from YAML by the
// real compileCatalog/compilePolicy: it never throws, it is deterministic, and no plan contains an
// excluded endpoint or one that violates a constraint that applied.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  compileCatalog,
  compilePolicy,
  evaluate,
  QUANTIZATION_ORDER,
  type Catalog,
  type CatalogEndpoint,
  type CompiledCatalog,
  type CompiledPolicy,
  type Constraints,
  type EvaluateResult,
  type PolicyDocument,
  type PolicyRule,
  type Quantization,
  type RequestFacts,
  type Snapshot,
} from '../../engine/index.ts';

const PROVIDERS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon/turbo'];
const REGIONS = ['us', 'eu'];
const PARAMETERS = ['max_tokens', 'temperature', 'tools', 'tool_choice', 'response_format', 'structured_outputs', 'seed'];
const PRICES = [0.05, 0.5, 1, 2, 3, 10, 30];
const CONDITIONS: unknown[] = [
  { '===': [{ var: 'team' }, 'ml'] },
  { in: ['batch', { var: 'tags' }] },
  { '>': [{ var: 'prompt_tokens' }, 2000] },
  { var: 'stream' },
  { '!': [{ var: 'tools' }] },
];

const quantization = fc.constantFrom<Quantization | undefined>(undefined, 'unknown', ...QUANTIZATION_ORDER);

const catalogArbitrary = fc
  .record({
    providers: fc.array(
      fc.record({
        trains: fc.boolean(),
        zdr: fc.boolean(),
        region: fc.constantFrom(...REGIONS),
        status: fc.constantFrom<'active' | 'degraded' | 'disabled'>('active', 'active', 'active', 'degraded', 'disabled'),
      }),
      { minLength: PROVIDERS.length, maxLength: PROVIDERS.length },
    ),
    models: fc.array(
      fc.record({
        context: fc.constantFrom(4000, 32_000, 128_000, 128_000),
        image: fc.boolean(),
        endpoints: fc.uniqueArray(
          fc.record({
            provider: fc.constantFrom(...PROVIDERS),
            prompt: fc.constantFrom(...PRICES),
            completion: fc.constantFrom(...PRICES),
            quantization,
            maxCompletion: fc.option(fc.constantFrom(256, 4096, 16_000), { nil: undefined }),
            parameters: fc.subarray(PARAMETERS),
            free: fc.constantFrom(false, false, false, true),
          }),
          { minLength: 1, maxLength: 4, selector: (endpoint) => endpoint.provider },
        ),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  })
  .map(({ providers, models }): Catalog => ({
    providers: providers.map((provider, index) => ({
      id: PROVIDERS[index]!,
      name: `Provider ${PROVIDERS[index]!.toUpperCase()}`,
      protocol: 'simulated',
      data_policy: { trains_on_prompts: provider.trains, retention_days: provider.trains ? 30 : 0, zdr: provider.zdr },
      region: provider.region,
      status: provider.status,
    })),
    models: models.map((model, index) => ({
      id: `lab/model-${index}`,
      name: `Model ${index}`,
      context_length: model.context,
      input_modalities: model.image ? ['text', 'image'] : ['text'],
      output_modalities: ['text'],
      endpoints: model.endpoints.map((endpoint): CatalogEndpoint => ({
        provider: endpoint.provider,
        upstream_model: `model-${index}`,
        pricing: { prompt: (endpoint.prompt / 1e6).toFixed(10), completion: (endpoint.completion / 1e6).toFixed(10) },
        supported_parameters: endpoint.parameters,
        ...(endpoint.quantization !== undefined ? { quantization: endpoint.quantization } : {}),
        ...(endpoint.maxCompletion !== undefined ? { max_completion_tokens: endpoint.maxCompletion } : {}),
        ...(endpoint.free ? { free: true } : {}),
      })),
    })),
  }));

/** At most `count` of the given optional fields: with every field present, almost nothing would route. */
function someOf<T extends object>(fields: { [K in keyof T]: fc.Arbitrary<T[K]> }, count: number): fc.Arbitrary<Partial<T>> {
  const keys = Object.keys(fields) as Array<keyof T>;
  return fc
    .shuffledSubarray(keys, { maxLength: count })
    .chain((chosen) => fc.tuple(...chosen.map((key) => fields[key] as fc.Arbitrary<unknown>)).map((values) => Object.fromEntries(chosen.map((key, index) => [key, values[index]])) as Partial<T>));
}

const constraintsArbitrary: fc.Arbitrary<Constraints> = someOf(
    {
      data_collection: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
      zdr: fc.boolean(),
      regions: fc.subarray(REGIONS, { minLength: 1 }),
      quantization_floor: fc.constantFrom(...QUANTIZATION_ORDER),
      max_price: fc.record({ prompt: fc.constantFrom(...PRICES), completion: fc.constantFrom(...PRICES) }, { requiredKeys: [] }),
      max_request_cost: fc.constantFrom(0.001, 0.01, 0.1, 1),
      providers: fc.oneof(fc.record({ allow: fc.subarray(['alpha', 'beta', 'gamma', 'epsilon'], { minLength: 1 }) }), fc.record({ deny: fc.subarray(['alpha', 'beta', 'delta'], { minLength: 1 }) })),
      budgets: fc.constant(['team-daily']),
      respect_rate_limits: fc.boolean(),
    },
    2,
  ).map((constraints) => constraints as Constraints);

function policyArbitrary(modelIds: string[]): fc.Arbitrary<PolicyDocument> {
  const rule = (index: number): fc.Arbitrary<PolicyRule> =>
    fc
      .record(
        {
          when: fc.constantFrom(...CONDITIONS),
          require: constraintsArbitrary,
          sort: fc.constantFrom<PolicyRule['sort']>('price', 'latency', 'throughput', 'reliability'),
          attempts: fc.integer({ min: 1, max: 6 }),
          fallbacks: fc.subarray(modelIds, { minLength: 1 }),
          lock: fc.subarray(['order', 'sort', 'only', 'ignore', 'models', 'variants', 'allow_fallbacks', 'max_price', 'preferences'] as const, { minLength: 1 }),
          split: fc.record({ weights: fc.constant({ alpha: 70, beta: 30 }), sticky: fc.constantFrom('user', 'key') }),
        },
        { requiredKeys: [] },
      )
      .map((fields) => ({ id: `rule-${index}`, ...fields }) as PolicyRule);
  return fc
    .record({
      require: constraintsArbitrary,
      rules: fc.integer({ min: 0, max: 3 }).chain((count) => fc.tuple(...Array.from({ length: count }, (_, index) => rule(index)))),
      sort: fc.option(fc.constantFrom<'price' | 'latency'>('price', 'latency'), { nil: undefined }),
      downgrade: fc.boolean(),
    })
    .map(({ require, rules, sort, downgrade }) => ({
      version: 1 as const,
      id: 'property',
      require,
      budgets: [{ id: 'team-daily', scope: 'team' as const, period: 'day' as const, limit: 0.01, ...(downgrade ? { downgrade_to: [modelIds[0]!] } : {}) }],
      defaults: { attempts: 4, ...(sort !== undefined ? { sort } : {}) },
      ...(rules.length > 0 ? { rules: rules as PolicyRule[] } : {}),
    }));
}

function factsArbitrary(modelIds: string[]): fc.Arbitrary<RequestFacts> {
  return fc
    .record({
      models: fc.shuffledSubarray([...modelIds, 'auto'], { maxLength: Math.min(3, modelIds.length + 1) }),
      variant: fc.constantFrom(null, null, null, null, 'free', 'nitro', 'floor'),
      team: fc.constantFrom(null, 'ml'),
      tags: fc.subarray(['batch', 'eval']),
      prompt_tokens: fc.integer({ min: 1, max: 12_000 }),
      max_tokens: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: null }),
      tools: fc.boolean(),
      image: fc.constantFrom(false, false, false, true),
      stream: fc.boolean(),
      parameters: fc.subarray(PARAMETERS),
      provider: someOf(
        {
          order: fc.subarray(PROVIDERS, { minLength: 1 }),
          allow_fallbacks: fc.boolean(),
          only: fc.subarray(['alpha', 'beta', 'gamma', 'Provider DELTA', 'epsilon'], { minLength: 1 }),
          ignore: fc.subarray(['alpha', 'gamma'], { minLength: 1 }),
          data_collection: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
          zdr: fc.boolean(),
          sort: fc.record({ by: fc.constantFrom<'price' | 'throughput' | 'latency'>('price', 'throughput', 'latency'), partition: fc.constantFrom<'model' | 'none'>('model', 'none') }),
          max_price: fc.record({ prompt: fc.constantFrom(...PRICES) }),
          quantizations: fc.subarray(['fp8', 'bf16', 'unknown'] as Quantization[], { minLength: 1 }),
          require_parameters: fc.boolean(),
          preferred_max_latency: fc.record({ p50: fc.constantFrom(0.5, 2) }),
        },
        2,
      ),
    })
    .map((input) => ({
      model: input.models[0] ?? null,
      models: input.models,
      variants: input.models.map((_, index) => (index === 0 ? (input.variant as RequestFacts['variants'][number]) : null)),
      tags: input.tags,
      key: 'key-1',
      user: 'user-1',
      team: input.team,
      headers: {},
      prompt_tokens: input.prompt_tokens,
      max_tokens: input.max_tokens,
      tools: input.tools,
      tool_choice: null,
      response_format: null,
      input_modalities: input.image ? ['text', 'image'] : ['text'],
      stream: input.stream,
      parameters: input.parameters,
      provider: input.provider,
      session: 'user-1',
    }));
}

const snapshotArbitrary = (endpointIds: string[]): fc.Arbitrary<Snapshot> =>
  fc.record({
    endpoints: fc.dictionary(
      fc.constantFrom(...endpointIds),
      fc.record(
        {
          error_rate: fc.double({ min: 0, max: 1, noNaN: true }),
          recently_failed: fc.boolean(),
          circuit: fc.constantFrom<'closed' | 'open' | 'half_open'>('closed', 'open', 'half_open'),
          latency_ms: fc.record({ p50: fc.integer({ min: 50, max: 5000 }) }),
          throughput: fc.record({ p50: fc.integer({ min: 5, max: 500 }) }),
          rate_limit_remaining: fc.integer({ min: 0, max: 3 }),
        },
        { requiredKeys: [] },
      ),
    ),
    spend: fc.constantFrom({}, { 'team-daily|team=ml|2026-11-25': 0.0095 }),
    credentials: fc.option(fc.subarray(PROVIDERS, { minLength: 3 }), { nil: undefined, freq: 3 }),
  }).map((snapshot) => (snapshot.credentials === undefined ? { endpoints: snapshot.endpoints, spend: snapshot.spend } : snapshot) as Snapshot);

interface Scenario {
  catalog: CompiledCatalog;
  policy: CompiledPolicy;
  facts: RequestFacts;
  snapshot: Snapshot;
  seed: number;
}

const scenarioArbitrary: fc.Arbitrary<Scenario> = catalogArbitrary.chain((catalogObject) => {
  const compiledCatalog = compileCatalog([{ text: stringify(catalogObject), file: 'property-catalog.yaml' }]);
  if (!compiledCatalog.ok) throw new Error(`generated catalog does not compile: ${JSON.stringify(compiledCatalog.diagnostics)}`);
  const catalog = compiledCatalog.value;
  const modelIds = catalogObject.models.map((model) => model.id);
  const endpointIds = catalog.endpoints.map((endpoint) => endpoint.id);
  return fc.record({
    policy: policyArbitrary(modelIds).map((document) => {
      const compiled = compilePolicy(stringify(document), 'property-policy.yaml', catalog);
      if (!compiled.ok) throw new Error(`generated policy does not compile: ${JSON.stringify(compiled.diagnostics)}\n${stringify(document)}`);
      return compiled.value;
    }),
    facts: factsArbitrary(modelIds),
    snapshot: snapshotArbitrary(endpointIds),
    seed: fc.integer(),
  }).map((parts) => ({ catalog, ...parts }));
});

const NOW = Date.UTC(2026, 10, 25, 12);
const PER_MILLION = 1_000_000;

function run(scenario: Scenario): EvaluateResult {
  return evaluate(scenario.policy, scenario.catalog, scenario.facts, scenario.snapshot, { now: NOW, seed: scenario.seed });
}

function matchesName(name: string, providerId: string, providerName: string): boolean {
  const wanted = name.toLowerCase();
  return wanted === providerId || wanted === providerName.toLowerCase() || providerId.startsWith(`${wanted}/`);
}

/** Independent re-check of the operator constraints that applied (policy + matched rules). */
function violations(scenario: Scenario, result: Extract<EvaluateResult, { ok: true }>): string[] {
  const problems: string[] = [];
  const applied: Constraints[] = [scenario.policy.require];
  for (const compiled of scenario.policy.rules) {
    if (result.plan.matched_rules.includes(compiled.rule.id) && compiled.rule.require !== undefined) applied.push(compiled.rule.require);
  }
  for (const attempt of result.plan.attempts) {
    const endpoint = scenario.catalog.endpoints.find((candidate) => candidate.id === attempt.endpoint);
    if (endpoint === undefined) {
      problems.push(`${attempt.endpoint} is not in the catalog`);
      continue;
    }
    const provider = endpoint.provider;
    if (provider.status === 'disabled') problems.push(`${attempt.endpoint}: disabled provider`);
    if (scenario.snapshot.credentials !== undefined && !scenario.snapshot.credentials.includes(provider.id)) problems.push(`${attempt.endpoint}: no credentials`);
    for (const constraints of applied) {
      if (constraints.data_collection === 'deny' && provider.data_policy.trains_on_prompts) problems.push(`${attempt.endpoint}: trains on prompts`);
      if (constraints.zdr === true && !provider.data_policy.zdr) problems.push(`${attempt.endpoint}: not zdr`);
      if (constraints.regions !== undefined && !constraints.regions.includes(provider.region)) problems.push(`${attempt.endpoint}: region`);
      if (constraints.quantization_floor !== undefined) {
        const level = endpoint.endpoint.quantization;
        const rank = level === undefined || level === 'unknown' ? -1 : QUANTIZATION_ORDER.indexOf(level);
        if (rank < QUANTIZATION_ORDER.indexOf(constraints.quantization_floor as (typeof QUANTIZATION_ORDER)[number])) problems.push(`${attempt.endpoint}: below floor`);
      }
      if (constraints.max_price?.prompt !== undefined && endpoint.price.prompt * PER_MILLION > constraints.max_price.prompt) problems.push(`${attempt.endpoint}: prompt price`);
      if (constraints.max_price?.completion !== undefined && endpoint.price.completion * PER_MILLION > constraints.max_price.completion) problems.push(`${attempt.endpoint}: completion price`);
      if (constraints.max_request_cost !== undefined && attempt.estimated_cost.max > constraints.max_request_cost) problems.push(`${attempt.endpoint}: request cost`);
      const allow = constraints.providers?.allow;
      if (allow !== undefined && !allow.some((name) => matchesName(name, provider.id, provider.name))) problems.push(`${attempt.endpoint}: not allowed`);
      const deny = constraints.providers?.deny;
      if (deny !== undefined && deny.some((name) => matchesName(name, provider.id, provider.name))) problems.push(`${attempt.endpoint}: denied`);
    }
    for (const budget of result.plan.budgets) if (attempt.estimated_cost.max > budget.remaining) problems.push(`${attempt.endpoint}: over budget ${budget.id}`);
    const facts = scenario.facts;
    if (facts.prompt_tokens + (facts.max_tokens ?? 0) > endpoint.context_length) problems.push(`${attempt.endpoint}: context`);
    if (facts.max_tokens !== null && facts.max_tokens > endpoint.max_completion_tokens) problems.push(`${attempt.endpoint}: max_tokens`);
    for (const modality of facts.input_modalities) if (!endpoint.model.input_modalities.includes(modality)) problems.push(`${attempt.endpoint}: modality`);
    if (facts.provider.zdr === true && !provider.data_policy.zdr) problems.push(`${attempt.endpoint}: request zdr`);
    if (facts.provider.data_collection === 'deny' && provider.data_policy.trains_on_prompts) problems.push(`${attempt.endpoint}: request data_collection`);
    if (facts.provider.require_parameters === true && facts.parameters.some((parameter) => !endpoint.parameters.has(parameter))) problems.push(`${attempt.endpoint}: require_parameters`);
  }
  return problems;
}

describe('evaluate properties (random catalogs, policies and requests)', () => {
  it('never throws, is deterministic, and plans only endpoints that pass every constraint', () => {
    let plans = 0;
    let errors = 0;
    fc.assert(
      fc.property(scenarioArbitrary, (scenario) => {
        const first = run(scenario);
        const second = run(scenario);
        expect(second).toEqual(first);
        expect(JSON.stringify(second)).toBe(JSON.stringify(first));
        if (!first.ok) {
          errors++;
          expect(['no_route', 'model_not_found', 'budget_exceeded']).toContain(first.error.code);
          expect(first.error.message.length).toBeGreaterThan(0);
          return;
        }
        plans++;
        const plan = first.plan;
        expect(plan.attempts.length).toBeGreaterThan(0);
        expect(plan.attempts.length).toBeLessThanOrEqual(plan.limits.max_attempts);
        const planned = plan.attempts.map((attempt) => attempt.endpoint);
        expect(new Set(planned).size).toBe(planned.length);
        const excluded = new Set(plan.excluded.map((exclusion) => exclusion.endpoint));
        for (const endpoint of planned) expect(excluded.has(endpoint), `${endpoint} is both planned and excluded`).toBe(false);
        expect(violations(scenario, first)).toEqual([]);
        for (const attempt of plan.attempts) expect(attempt.estimated_cost.max).toBeGreaterThanOrEqual(attempt.estimated_cost.min);
      }),
      { numRuns: 300, seed: 20261125 },
    );
    // Both outcomes must have been exercised for the properties to mean something.
    console.log(`property runs: ${plans} plans, ${errors} no-route errors`);
    expect(plans).toBeGreaterThan(60);
    expect(errors).toBeGreaterThan(10);
  });

  it("a request's provider preferences only narrow the endpoints that pass the filters", () => {
    // Endpoints that passed every filter: planned, or cut only by ordering (attempt limit, allow_fallbacks).
    const ORDERING_CUTS = new Set(['attempt_limit', 'no_fallbacks', 'request_order']);
    const eligible = (result: EvaluateResult): Set<string> => {
      if (!result.ok) return new Set();
      const passed = result.plan.attempts.map((attempt) => attempt.endpoint);
      for (const exclusion of result.plan.excluded) if (ORDERING_CUTS.has(exclusion.reason)) passed.push(exclusion.endpoint);
      return new Set(passed);
    };
    const narrowing: fc.Arbitrary<RequestFacts['provider']> = fc.oneof(
      fc.record({ only: fc.subarray(['alpha', 'beta', 'gamma', 'epsilon'], { minLength: 1 }) }),
      fc.record({ ignore: fc.subarray(['alpha', 'gamma'], { minLength: 1 }) }),
      fc.constant({ data_collection: 'deny' as const }),
      fc.constant({ zdr: true }),
      fc.record({ max_price: fc.record({ prompt: fc.constantFrom(...PRICES) }) }),
      fc.record({ quantizations: fc.subarray(['fp8', 'bf16', 'unknown'] as Quantization[], { minLength: 1 }) }),
      fc.constant({ require_parameters: true }),
    );
    let compared = 0;
    let strictlyNarrowed = 0;
    fc.assert(
      fc.property(scenarioArbitrary, narrowing, (scenario, extra) => {
        // Soft capability preferences, auto's "first 3 routable models" and budget downgrades can
        // legitimately bring in other endpoints when the first choices fall out: compare without them.
        const facts: RequestFacts = { ...scenario.facts, tools: false, response_format: null, models: scenario.facts.models.filter((model) => model !== 'auto') };
        facts.model = facts.models[0] ?? null;
        facts.variants = facts.models.map(() => null);
        if (facts.models.length === 0) return;
        const base: Scenario = { ...scenario, facts: { ...facts, provider: {} } };
        const narrowed: Scenario = { ...scenario, facts: { ...facts, provider: extra } };
        const before = run(base);
        const after = run(narrowed);
        const downgraded = (result: EvaluateResult): boolean => (result.ok ? result.plan.trace : result.error.trace).some((entry) => entry.message.includes('downgrading'));
        if (downgraded(before) || downgraded(after)) return;
        compared++;
        const allowed = eligible(before);
        const narrowedEligible = eligible(after);
        if (narrowedEligible.size > 0 && narrowedEligible.size < allowed.size) strictlyNarrowed++;
        for (const endpoint of narrowedEligible) expect(allowed.has(endpoint), `${endpoint} passes only with the narrower request`).toBe(true);
      }),
      { numRuns: 500, seed: 7 },
    );
    expect(compared).toBeGreaterThan(250);
    // Cases where the narrower request still routes but to fewer endpoints: the property has teeth.
    expect(strictlyNarrowed).toBeGreaterThan(10);
  });
});
