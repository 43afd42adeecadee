/**
 * Test-only builders of compiled catalogs and policies straight from objects, so evaluation can be
 * tested without the YAML compile stage. Conditions are JSON Logic run by json-logic-js; the real
 * compiler adds allowlisting and positions, which evaluation never looks at.
 */
import jsonLogic from 'json-logic-js';
import type {
  Catalog,
  CatalogEndpoint,
  CatalogModel,
  CatalogProvider,
  CompiledCatalog,
  CompiledCondition,
  CompiledEndpoint,
  CompiledPolicy,
  NumericPricing,
  PolicyDocument,
  RequestFacts,
  RetryPolicy,
  Timeouts,
} from '../../types.ts';

export const TEST_RETRIES: RetryPolicy = { max: 1, backoff_ms: 250, multiplier: 2, max_backoff_ms: 2000 };
export const TEST_TIMEOUTS: Timeouts = { first_byte_ms: 30_000, attempt_ms: 120_000, total_ms: 300_000 };

/** A provider with permissive defaults (active, us, no training, no ZDR). */
export function testProvider(id: string, overrides: Partial<CatalogProvider> = {}): CatalogProvider {
  return {
    id,
    name: overrides.name ?? id.charAt(0).toUpperCase() + id.slice(1),
    protocol: 'simulated',
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: false },
    region: 'us',
    status: 'active',
    ...overrides,
  };
}

/** An endpoint priced in USD per million tokens (prompt, completion). */
export function testEndpoint(provider: string, promptPerMillion: number, completionPerMillion: number, overrides: Partial<CatalogEndpoint> = {}): CatalogEndpoint {
  return {
    provider,
    upstream_model: overrides.upstream_model ?? `${provider}-model`,
    pricing: { prompt: String(promptPerMillion / 1e6), completion: String(completionPerMillion / 1e6) },
    supported_parameters: ['max_tokens', 'temperature', 'top_p', 'stop', 'seed', 'tools', 'tool_choice', 'response_format', 'structured_outputs'],
    ...overrides,
  };
}

export function testModel(id: string, endpoints: CatalogEndpoint[], overrides: Partial<CatalogModel> = {}): CatalogModel {
  return {
    id,
    name: id,
    context_length: 128_000,
    input_modalities: ['text'],
    output_modalities: ['text'],
    endpoints,
    ...overrides,
  };
}

function toNumber(value: string | undefined): number {
  return value === undefined ? 0 : Number(value);
}

/** Index a catalog the way compileCatalog does (ids `<model>@<provider>`, numeric prices). */
export function compileTestCatalog(catalog: Catalog): CompiledCatalog {
  const providers = new Map(catalog.providers.map((provider) => [provider.id, provider]));
  const models = new Map<string, CatalogModel>();
  const endpointsByModel = new Map<string, CompiledEndpoint[]>();
  const endpoints: CompiledEndpoint[] = [];
  for (const model of catalog.models) {
    models.set(model.id, model);
    const list: CompiledEndpoint[] = [];
    for (const endpoint of model.endpoints) {
      const provider = providers.get(endpoint.provider);
      if (provider === undefined) throw new Error(`test catalog: unknown provider ${endpoint.provider}`);
      const contextLength = endpoint.context_length ?? model.context_length;
      const price: NumericPricing = {
        prompt: toNumber(endpoint.pricing.prompt),
        completion: toNumber(endpoint.pricing.completion),
        request: toNumber(endpoint.pricing.request),
        image: toNumber(endpoint.pricing.image),
        input_cache_read: toNumber(endpoint.pricing.input_cache_read),
        input_cache_write: toNumber(endpoint.pricing.input_cache_write),
        internal_reasoning: toNumber(endpoint.pricing.internal_reasoning ?? endpoint.pricing.completion),
      };
      const tierSuffix = endpoint.tier !== undefined && endpoint.tier !== 'default' ? `/${endpoint.tier}` : '';
      const compiled: CompiledEndpoint = {
        id: `${model.id}@${endpoint.provider}${tierSuffix}`,
        model,
        provider,
        endpoint,
        context_length: contextLength,
        max_completion_tokens: endpoint.max_completion_tokens ?? contextLength,
        price,
        parameters: new Set(endpoint.supported_parameters),
      };
      list.push(compiled);
      endpoints.push(compiled);
    }
    endpointsByModel.set(model.id, list);
  }
  return { catalog, version: 'test-catalog', providers, models, endpointsByModel, endpoints };
}

function compileCondition(source: unknown): CompiledCondition {
  if (source === undefined) return { source: true, evaluate: () => ({ value: true }) };
  return {
    source,
    evaluate(facts: RequestFacts) {
      try {
        return { value: jsonLogic.truthy(jsonLogic.apply(source as jsonLogic.RulesLogic, facts)) };
      } catch (error) {
        return { value: false, error: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}

/** Compile a policy document from an object, with the same defaults shape compilePolicy produces. */
export function compileTestPolicy(document: Omit<PolicyDocument, 'version'> & { version?: 1 }): CompiledPolicy {
  const full: PolicyDocument = { version: 1, ...document };
  return {
    id: full.id,
    version: 'test-policy',
    file: '<inline>',
    document: full,
    rules: (full.rules ?? []).map((rule, index) => ({ rule, when: compileCondition(rule.when), location: { file: '<inline>', line: index + 1, column: 1 } })),
    defaults: {
      attempts: full.defaults?.attempts ?? 5,
      retries: { ...TEST_RETRIES, ...full.defaults?.retries },
      timeouts: { ...TEST_TIMEOUTS, ...full.defaults?.timeouts },
      ...(full.defaults?.sort !== undefined ? { sort: full.defaults.sort } : {}),
      ...(full.defaults?.targets !== undefined ? { targets: full.defaults.targets } : {}),
    },
    require: full.require ?? {},
    budgets: new Map((full.budgets ?? []).map((budget) => [budget.id, budget])),
    lock: new Set(full.lock ?? []),
    aliases: new Map(Object.entries(full.aliases ?? {})),
    auto: full.auto ?? { strategy: 'cheapest' },
    exposeHeaders: full.expose_headers ?? [],
  };
}

/** Facts for a plain request to `model`, overridable field by field. */
export function testFacts(overrides: Partial<RequestFacts> = {}): RequestFacts {
  const models = overrides.models ?? (overrides.model !== undefined && overrides.model !== null ? [overrides.model] : ['test/model']);
  return {
    model: models[0] ?? null,
    models,
    variants: models.map(() => null),
    tags: [],
    key: 'key-1',
    user: 'user-1',
    team: null,
    headers: {},
    prompt_tokens: 1000,
    max_tokens: 500,
    tools: false,
    tool_choice: null,
    response_format: null,
    input_modalities: ['text'],
    stream: false,
    parameters: ['max_tokens'],
    provider: {},
    session: null,
    ...overrides,
  };
}
