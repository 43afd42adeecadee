// The JSON Schemas are the source of truth for YAML, engine/types.ts for TypeScript: these tests pin
// them together key by key. Each sample is typed `Required<...>`, so TypeScript fails when a type
// gains a key the sample lacks (and excess-property checks fail on keys the type does not have).
import { describe, expect, it } from 'vitest';
import catalogSchema from '../../schemas/catalog.v1.schema.json' with { type: 'json' };
import factsSchema from '../../schemas/facts.v1.schema.json' with { type: 'json' };
import policySchema from '../../schemas/policy.v1.schema.json' with { type: 'json' };
import type {
  Budget,
  CatalogEndpoint,
  CatalogModel,
  CatalogProvider,
  Constraints,
  PolicyDocument,
  PolicyRule,
  ProviderPreferences,
  RequestFacts,
  WeightedSplit,
} from '../../engine/index.ts';

type Schema = { properties?: Record<string, unknown>; required?: string[] };
const keysOf = (schema: unknown): string[] => Object.keys((schema as Schema).properties ?? {}).sort();
const sorted = (value: object): string[] => Object.keys(value).sort();

describe('schemas agree with engine/types.ts', () => {
  it('facts', () => {
    const facts: Required<RequestFacts> = {
      model: null, models: [], variants: [], tags: [], key: null, user: null, team: null, headers: {}, prompt_tokens: 0, max_tokens: null,
      tools: false, tool_choice: null, response_format: null, input_modalities: [], stream: false, parameters: [], provider: {}, session: null,
    };
    expect(keysOf(factsSchema)).toEqual(sorted(facts));
    expect([...(factsSchema as Schema).required ?? []].sort()).toEqual(sorted(facts));
    const preferences: Required<ProviderPreferences> = {
      order: [], allow_fallbacks: true, only: [], ignore: [], data_collection: 'allow', zdr: false, sort: { by: 'price', partition: 'model' },
      max_price: {}, quantizations: [], require_parameters: false, preferred_min_throughput: {}, preferred_max_latency: {},
    };
    expect(keysOf(factsSchema.properties.provider)).toEqual(sorted(preferences));
  });

  it('policy', () => {
    const document: Required<PolicyDocument> = {
      version: 1, id: 'x', description: '', expose_headers: [], aliases: {}, auto: { strategy: 'cheapest' }, defaults: {}, require: {}, budgets: [],
      lock: [], rules: [], options: {},
    };
    expect(keysOf(policySchema)).toEqual(sorted(document));
    const rule: Required<PolicyRule> = {
      id: 'r', description: '', when: true, require: {}, route_to: 'auto', sort: 'price', split: { weights: {} }, targets: {}, fallbacks: [],
      attempts: 1, retries: {}, timeouts: {}, lock: [], final: false,
    };
    expect(keysOf(policySchema.definitions.rule)).toEqual(sorted(rule));
    const constraints: Required<Constraints> = {
      data_collection: 'deny', zdr: true, regions: [], quantization_floor: 'fp8', max_price: {}, max_request_cost: 1, providers: {}, budgets: [],
      respect_rate_limits: true,
    };
    expect(keysOf(policySchema.definitions.constraints)).toEqual(sorted(constraints));
    const budget: Required<Budget> = { id: 'b', scope: 'tag', period: 'day', limit: 1, tag: 't', alerts: [], downgrade_to: [] };
    expect(keysOf(policySchema.definitions.budget)).toEqual(sorted(budget));
    const split: Required<WeightedSplit> = { weights: {}, by: 'model', sticky: 'user' };
    expect(keysOf(policySchema.definitions.split)).toEqual(sorted(split));
  });

  it('catalog', () => {
    const provider: Required<CatalogProvider> = {
      id: 'p', name: 'P', protocol: 'simulated', base_url: 'https://x', data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true },
      region: 'us', status: 'active', options: {},
    };
    expect(keysOf(catalogSchema.definitions.provider)).toEqual(sorted(provider));
    const endpoint: Required<CatalogEndpoint> = {
      provider: 'p', upstream_model: 'm', pricing: { prompt: '0', completion: '0' }, context_length: 1, max_completion_tokens: 1,
      quantization: 'fp8', supported_parameters: [], tier: 'default', free: false,
    };
    expect(keysOf(catalogSchema.definitions.endpoint)).toEqual(sorted(endpoint));
    const model: Required<CatalogModel> = {
      id: 'a/b', name: 'n', description: '', created: 0, context_length: 1, input_modalities: [], output_modalities: [], tokenizer: '', endpoints: [],
    };
    expect(keysOf(catalogSchema.definitions.model)).toEqual(sorted(model));
  });
});
