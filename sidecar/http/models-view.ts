/**
 * The catalog as OpenRouter's `GET /models` and `GET /models/:author/:slug/endpoints` show it.
 * Views are built once per compiled catalog and reused until the catalog is replaced.
 */
import type { CatalogModel, CompiledCatalog, CompiledEndpoint, Percentiles, Pricing } from '../../engine/index.ts';

/** OpenRouter's pricing object: strings, USD per token (per request / image for those keys). */
export type WirePricing = Record<string, string>;

/** OpenRouter's `Model`. */
export interface ModelView {
  id: string;
  canonical_slug: string;
  name: string;
  created: number;
  description: string;
  context_length: number;
  architecture: { modality: string; input_modalities: string[]; output_modalities: string[]; tokenizer: string; instruct_type: string | null };
  pricing: WirePricing;
  top_provider: { context_length: number; max_completion_tokens: number | null; is_moderated: boolean };
  per_request_limits: null;
  supported_parameters: string[];
  default_parameters: null;
}

/** Measured health of one endpoint as the endpoints route reports it (the ops area's rolling windows). */
export interface EndpointHealthFields {
  uptime_last_5m: number | null;
  uptime_last_30m: number | null;
  uptime_last_1d: number | null;
  /** Time to first token, ms, by percentile. */
  latency_last_30m: Percentiles | null;
  /** Tokens per second by percentile. */
  throughput_last_30m: Percentiles | null;
}

/** OpenRouter's `Endpoint`; health and performance come from live measurements, null until measured. */
export interface EndpointView {
  name: string;
  model_id: string;
  model_name: string;
  context_length: number;
  pricing: WirePricing;
  provider_name: string;
  tag: string;
  quantization: string | null;
  max_completion_tokens: number | null;
  max_prompt_tokens: number | null;
  supported_parameters: string[];
  status: number;
  /** Percent; null until measured. */
  uptime_last_5m: number | null;
  uptime_last_30m: number | null;
  uptime_last_1d: number | null;
  /** Time to first token, ms, by percentile; null until measured. */
  latency_last_30m: Percentiles | null;
  /** Tokens per second by percentile; null until measured. */
  throughput_last_30m: Percentiles | null;
  supports_implicit_caching: boolean;
}

export interface ModelEndpointsView {
  id: string;
  name: string;
  created: number;
  description: string;
  architecture: ModelView['architecture'];
  endpoints: EndpointView[];
}

function wirePricing(pricing: Pricing): WirePricing {
  const wire: WirePricing = { prompt: pricing.prompt, completion: pricing.completion, request: pricing.request ?? '0', image: pricing.image ?? '0' };
  if (pricing.input_cache_read !== undefined) wire.input_cache_read = pricing.input_cache_read;
  if (pricing.input_cache_write !== undefined) wire.input_cache_write = pricing.input_cache_write;
  if (pricing.internal_reasoning !== undefined) wire.internal_reasoning = pricing.internal_reasoning;
  return wire;
}

function architecture(model: CatalogModel): ModelView['architecture'] {
  return {
    modality: `${model.input_modalities.join('+')}->${model.output_modalities.join('+')}`,
    input_modalities: model.input_modalities,
    output_modalities: model.output_modalities,
    tokenizer: model.tokenizer ?? 'Other',
    instruct_type: null,
  };
}

/** The cheapest active endpoint (prompt + completion price), or the first when none is active. */
function topEndpoint(endpoints: readonly CompiledEndpoint[]): CompiledEndpoint | undefined {
  let top: CompiledEndpoint | undefined;
  for (const endpoint of endpoints) {
    if (endpoint.provider.status !== 'active') continue;
    if (!top || endpoint.price.prompt + endpoint.price.completion < top.price.prompt + top.price.completion) top = endpoint;
  }
  return top ?? endpoints[0];
}

function modelView(model: CatalogModel, endpoints: readonly CompiledEndpoint[]): ModelView {
  const top = topEndpoint(endpoints);
  const parameters = new Set<string>();
  for (const endpoint of endpoints) for (const parameter of endpoint.endpoint.supported_parameters) parameters.add(parameter);
  return {
    id: model.id,
    canonical_slug: model.id,
    name: model.name,
    created: model.created ?? 0,
    description: model.description ?? '',
    context_length: model.context_length,
    architecture: architecture(model),
    pricing: top ? wirePricing(top.endpoint.pricing) : { prompt: '0', completion: '0', request: '0', image: '0' },
    top_provider: {
      context_length: top?.context_length ?? model.context_length,
      max_completion_tokens: top?.endpoint.max_completion_tokens ?? null,
      is_moderated: false,
    },
    per_request_limits: null,
    supported_parameters: [...parameters].sort(),
    default_parameters: null,
  };
}

function endpointView(model: CatalogModel, endpoint: CompiledEndpoint): EndpointView {
  return {
    name: `${endpoint.provider.name} | ${model.id}`,
    model_id: model.id,
    model_name: model.name,
    context_length: endpoint.context_length,
    pricing: wirePricing(endpoint.endpoint.pricing),
    provider_name: endpoint.provider.name,
    tag: endpoint.provider.id,
    quantization: endpoint.endpoint.quantization ?? null,
    max_completion_tokens: endpoint.endpoint.max_completion_tokens ?? null,
    max_prompt_tokens: null,
    supported_parameters: endpoint.endpoint.supported_parameters,
    status: endpoint.provider.status === 'disabled' ? -1 : 0,
    uptime_last_5m: null,
    uptime_last_30m: null,
    uptime_last_1d: null,
    latency_last_30m: null,
    throughput_last_30m: null,
    supports_implicit_caching: endpoint.endpoint.pricing.input_cache_read !== undefined,
  };
}

interface CatalogViews {
  models: ModelView[];
  /** Parameter sets, same order as `models`, for the `supported_parameters` filter. */
  parameterSets: ReadonlySet<string>[];
  endpoints: Map<string, ModelEndpointsView>;
}

const viewsByCatalog = new WeakMap<CompiledCatalog, CatalogViews>();

function views(catalog: CompiledCatalog): CatalogViews {
  const cached = viewsByCatalog.get(catalog);
  if (cached) return cached;
  const built: CatalogViews = { models: [], parameterSets: [], endpoints: new Map() };
  for (const model of catalog.models.values()) {
    const endpoints = catalog.endpointsByModel.get(model.id) ?? [];
    const view = modelView(model, endpoints);
    built.models.push(view);
    built.parameterSets.push(new Set(view.supported_parameters));
    built.endpoints.set(model.id, {
      id: model.id,
      name: model.name,
      created: view.created,
      description: view.description,
      architecture: view.architecture,
      endpoints: endpoints.map((endpoint) => endpointView(model, endpoint)),
    });
  }
  viewsByCatalog.set(catalog, built);
  return built;
}

/** `GET /models`, optionally only models supporting every listed parameter. */
export function listModels(catalog: CompiledCatalog, requiredParameters: readonly string[]): ModelView[] {
  const all = views(catalog);
  if (requiredParameters.length === 0) return all.models;
  return all.models.filter((_, index) => requiredParameters.every((parameter) => all.parameterSets[index]?.has(parameter)));
}

/** `GET /models/:author/:slug/endpoints`, or undefined for an unknown model. */
export function modelEndpoints(catalog: CompiledCatalog, modelId: string): ModelEndpointsView | undefined {
  return views(catalog).endpoints.get(modelId);
}
