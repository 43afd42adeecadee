/**
 * A deliberately small stand-in for the engine, so the sidecar's own behaviour (execution,
 * streaming, errors) can be tested without depending on routing details: endpoints in catalog
 * order, `model` then `models`, `provider.order`/`allow_fallbacks`, unsupported parameters dropped.
 */
import type {
  Catalog,
  CompiledCatalog,
  CompiledEndpoint,
  CompiledPolicy,
  PlanAttempt,
  ProviderPreferences,
  RequestFacts,
  RetryPolicy,
  Timeouts,
} from '../../../engine/index.ts';
import type { RoutingEngine } from '../../../sidecar/app.ts';

const SAMPLING = ['temperature', 'top_p', 'top_k', 'max_tokens', 'max_completion_tokens', 'tools', 'tool_choice', 'stop', 'seed', 'response_format', 'frequency_penalty', 'presence_penalty'];

export function compileCatalogForTests(catalog: Catalog): CompiledCatalog {
  const providers = new Map(catalog.providers.map((provider) => [provider.id, provider]));
  const models = new Map(catalog.models.map((model) => [model.id, model]));
  const endpointsByModel = new Map<string, CompiledEndpoint[]>();
  const endpoints: CompiledEndpoint[] = [];
  for (const model of catalog.models) {
    const list: CompiledEndpoint[] = [];
    for (const endpoint of model.endpoints) {
      const provider = providers.get(endpoint.provider);
      if (!provider) throw new Error(`unknown provider ${endpoint.provider}`);
      const contextLength = endpoint.context_length ?? model.context_length;
      const compiled: CompiledEndpoint = {
        id: `${model.id}@${provider.id}`,
        model,
        provider,
        endpoint,
        context_length: contextLength,
        max_completion_tokens: endpoint.max_completion_tokens ?? contextLength,
        price: {
          prompt: Number(endpoint.pricing.prompt),
          completion: Number(endpoint.pricing.completion),
          request: 0,
          image: 0,
          input_cache_read: 0,
          input_cache_write: 0,
          internal_reasoning: Number(endpoint.pricing.completion),
        },
        parameters: new Set(endpoint.supported_parameters),
      };
      list.push(compiled);
      endpoints.push(compiled);
    }
    endpointsByModel.set(model.id, list);
  }
  return { catalog, version: 'test-catalog', providers, models, endpointsByModel, endpoints };
}

export function policyForTests(overrides: { timeouts?: Partial<Timeouts>; retries?: Partial<RetryPolicy> } = {}): CompiledPolicy {
  const timeouts: Timeouts = { first_byte_ms: 5_000, attempt_ms: 10_000, total_ms: 20_000, ...overrides.timeouts };
  const retries: RetryPolicy = { max: 0, backoff_ms: 10, multiplier: 2, max_backoff_ms: 100, ...overrides.retries };
  return {
    id: 'test-policy',
    version: 'abc123abc123',
    file: '<test>',
    document: { version: 1, id: 'test-policy' },
    rules: [],
    defaults: { attempts: 10, retries, timeouts },
    require: {},
    budgets: new Map(),
    lock: new Set(),
    aliases: new Map(),
    auto: { strategy: 'cheapest' },
    exposeHeaders: [],
  };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

export const fakeEngine: RoutingEngine = {
  requestFacts(body) {
    const record = body as Record<string, unknown>;
    const models = [...(typeof record.model === 'string' ? [record.model] : []), ...strings(record.models)];
    const facts: RequestFacts = {
      model: models[0] ?? null,
      models,
      variants: models.map(() => null),
      tags: [],
      key: null,
      user: null,
      team: null,
      headers: {},
      prompt_tokens: 10,
      max_tokens: typeof record.max_tokens === 'number' ? record.max_tokens : null,
      tools: Array.isArray(record.tools),
      tool_choice: null,
      response_format: null,
      input_modalities: ['text'],
      stream: record.stream === true,
      parameters: SAMPLING.filter((name) => record[name] !== undefined),
      provider: (record.provider ?? {}) as ProviderPreferences,
      session: null,
    };
    return { ok: true, facts };
  },
  evaluate(policy, catalog, facts) {
    const first = facts.models[0];
    if (!first || !catalog.models.has(first)) {
      return {
        ok: false,
        error: { code: 'model_not_found', status: 404, message: `Model '${first ?? ''}' is not in the catalog.`, excluded: [], matched_rules: [], trace: [] },
      };
    }
    const order = facts.provider.order ?? [];
    const attempts: PlanAttempt[] = [];
    for (const model of facts.models) {
      const endpoints = [...(catalog.endpointsByModel.get(model) ?? [])];
      if (order.length > 0) endpoints.sort((a, b) => rank(order, a.provider.id) - rank(order, b.provider.id));
      for (const endpoint of endpoints) {
        attempts.push({
          endpoint: endpoint.id,
          provider: endpoint.provider.id,
          provider_name: endpoint.provider.name,
          protocol: endpoint.provider.protocol,
          model: endpoint.model.id,
          upstream_model: endpoint.endpoint.upstream_model,
          pricing: endpoint.endpoint.pricing,
          estimated_cost: { min: 0, max: 0 },
          timeouts: policy.defaults.timeouts,
          retries: policy.defaults.retries,
          drop_parameters: facts.parameters.filter((parameter) => !endpoint.parameters.has(parameter)),
          reasons: ['test'],
        });
      }
    }
    const allowFallbacks = facts.provider.allow_fallbacks !== false;
    const planned = allowFallbacks ? attempts : attempts.slice(0, 1);
    return {
      ok: true,
      plan: {
        plan_version: 'v1',
        policy: { id: policy.id, version: policy.version },
        requested: { models: facts.models, strategy: 'direct' },
        attempts: planned,
        excluded: [],
        matched_rules: [],
        ordering: order.length > 0 ? 'order' : 'catalog',
        allow_fallbacks: allowFallbacks,
        limits: { max_attempts: planned.length, total_ms: policy.defaults.timeouts.total_ms },
        estimate: { prompt_tokens: facts.prompt_tokens, max_completion_tokens: 0 },
        budgets: [],
        trace: [],
      },
    };
  },
};

function rank(order: readonly string[], provider: string): number {
  const index = order.indexOf(provider);
  return index === -1 ? order.length : index;
}
