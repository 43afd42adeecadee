/**
 * Facts about the catalog that never change per request, derived once per compiled catalog and
 * cached by object identity (a WeakMap: pure, and freed with the catalog). Keeps string lowering,
 * price blending and per-model capability roll-ups off the request path.
 */
import type { CatalogModel, CompiledCatalog, CompiledEndpoint } from '../types.ts';

/** Per-endpoint derived facts. */
export interface EndpointInfo {
  endpoint: CompiledEndpoint;
  /** Position in the catalog: the last tie-breaker of every ordering, for determinism. */
  index: number;
  /** Prompt + completion USD per token: the "price" of the 1/price² draw and of `sort: price`. */
  blendedPrice: number;
  providerId: string;
  /** The provider id before any `/`: `deepinfra` for `deepinfra/turbo`. */
  baseSlug: string;
  providerName: string;
  /** A non-default service tier: never matched by a base slug. */
  isTier: boolean;
  /** `<provider>/<tier>` for tier endpoints, else the provider id. */
  fullSlug: string;
  /** Long-context pricing tiers, highest threshold first (empty when none). */
  overrides: ReadonlyArray<{ minPromptTokens: number; prompt: number; completion: number; request: number }>;
}

/** Per-model roll-ups used by `auto`. */
export interface ModelInfo {
  model: CatalogModel;
  endpoints: readonly EndpointInfo[];
  /** Cheapest blended price among paid (non-free) endpoints; the free price when only free ones exist. */
  cheapestPrice: number;
  maxContextLength: number;
  maxCompletionTokens: number;
  anyTools: boolean;
  anyStructuredOutputs: boolean;
  anyResponseFormat: boolean;
}

export interface CatalogIndex {
  endpoints: ReadonlyMap<string, EndpointInfo>;
  models: ReadonlyMap<string, ModelInfo>;
  /** Every model, cheapest first (ties: catalog order): `auto` with strategy `cheapest` walks this. */
  modelsByPrice: readonly ModelInfo[];
}

const cache = new WeakMap<CompiledCatalog, CatalogIndex>();

function toNumber(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : fallback;
}

function describeEndpoint(endpoint: CompiledEndpoint, index: number): EndpointInfo {
  const tier = endpoint.endpoint.tier;
  const isTier = tier !== undefined && tier !== 'default';
  const providerId = endpoint.provider.id.toLowerCase();
  const fullSlug = isTier && !providerId.endsWith(`/${tier}`) ? `${providerId}/${tier.toLowerCase()}` : providerId;
  const overrides = (endpoint.endpoint.pricing.overrides ?? [])
    .map((override) => ({
      minPromptTokens: override.min_prompt_tokens,
      prompt: toNumber(override.prompt, endpoint.price.prompt),
      completion: toNumber(override.completion, endpoint.price.completion),
      request: toNumber(override.request, endpoint.price.request),
    }))
    .sort((a, b) => b.minPromptTokens - a.minPromptTokens);
  return {
    endpoint,
    index,
    blendedPrice: endpoint.price.prompt + endpoint.price.completion,
    providerId,
    baseSlug: providerId.split('/')[0] ?? providerId,
    providerName: endpoint.provider.name.toLowerCase(),
    isTier,
    fullSlug,
    overrides,
  };
}

function buildIndex(catalog: CompiledCatalog): CatalogIndex {
  const endpoints = new Map<string, EndpointInfo>();
  const order = new Map<CompiledEndpoint, number>();
  catalog.endpoints.forEach((endpoint, index) => order.set(endpoint, index));
  const models = new Map<string, ModelInfo>();
  let modelIndex = 0;
  const modelOrder = new Map<string, number>();
  for (const [modelId, modelEndpoints] of catalog.endpointsByModel) {
    const model = catalog.models.get(modelId);
    if (model === undefined) continue;
    modelOrder.set(modelId, modelIndex++);
    const infos = modelEndpoints.map((endpoint) => {
      const info = describeEndpoint(endpoint, order.get(endpoint) ?? endpoints.size);
      endpoints.set(endpoint.id, info);
      return info;
    });
    const paid = infos.filter((info) => info.endpoint.endpoint.free !== true);
    const priced = paid.length > 0 ? paid : infos;
    models.set(modelId, {
      model,
      endpoints: infos,
      cheapestPrice: priced.length > 0 ? Math.min(...priced.map((info) => info.blendedPrice)) : Number.POSITIVE_INFINITY,
      maxContextLength: Math.max(0, ...infos.map((info) => info.endpoint.context_length)),
      maxCompletionTokens: Math.max(0, ...infos.map((info) => info.endpoint.max_completion_tokens)),
      anyTools: infos.some((info) => info.endpoint.parameters.has('tools')),
      anyStructuredOutputs: infos.some((info) => info.endpoint.parameters.has('structured_outputs')),
      anyResponseFormat: infos.some((info) => info.endpoint.parameters.has('response_format')),
    });
  }
  const modelsByPrice = [...models.values()].sort(
    (a, b) => a.cheapestPrice - b.cheapestPrice || (modelOrder.get(a.model.id) ?? 0) - (modelOrder.get(b.model.id) ?? 0),
  );
  return { endpoints, models, modelsByPrice };
}

/** The derived index of a compiled catalog, built on first use. */
export function catalogIndex(catalog: CompiledCatalog): CatalogIndex {
  let index = cache.get(catalog);
  if (index === undefined) {
    index = buildIndex(catalog);
    cache.set(catalog, index);
  }
  return index;
}
