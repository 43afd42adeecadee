/**
 * Which models each inference route may reach. Chat and legacy completions generate text;
 * embeddings return vectors. Each route evaluates the policy against its own view of the catalog,
 * so a chat request never lands on an embeddings-only model (or the reverse), whatever the rules
 * or `auto` pick, and the pure engine needs no notion of routes.
 */
import type { CatalogModel, CompiledCatalog, CompiledEndpoint, RequestFacts } from '../../engine/index.ts';
import { GatewayError } from './errors.ts';
import type { GatewayContext, RoutingState } from './gateway-context.ts';

/** The kind of output a route asks for. */
export type RouteKind = 'text' | 'embeddings';

/** A model serves embeddings when its catalog entry says its output is `embeddings`. */
export function modelKind(model: CatalogModel): RouteKind {
  return model.output_modalities.includes('embeddings') ? 'embeddings' : 'text';
}

const VIEWS: Record<RouteKind, WeakMap<CompiledCatalog, CompiledCatalog>> = { text: new WeakMap(), embeddings: new WeakMap() };

/** The catalog restricted to one kind of model; built once per compiled catalog (the engine indexes it by identity). */
export function catalogFor(catalog: CompiledCatalog, kind: RouteKind): CompiledCatalog {
  const cached = VIEWS[kind].get(catalog);
  if (cached) return cached;
  const models = new Map<string, CatalogModel>();
  for (const [id, model] of catalog.models) if (modelKind(model) === kind) models.set(id, model);
  const endpointsByModel = new Map<string, readonly CompiledEndpoint[]>();
  for (const [id, endpoints] of catalog.endpointsByModel) if (models.has(id)) endpointsByModel.set(id, endpoints);
  const view: CompiledCatalog = {
    catalog: { providers: catalog.catalog.providers, models: catalog.catalog.models.filter((model) => models.has(model.id)) },
    version: catalog.version,
    providers: catalog.providers,
    models,
    endpointsByModel,
    endpoints: catalog.endpoints.filter((endpoint) => models.has(endpoint.model.id)),
  };
  VIEWS[kind].set(catalog, view);
  return view;
}

/**
 * The gateway as one route sees it: the same dependencies, routing against `catalogFor(kind)`.
 * `adjustFacts` corrects what the engine's chat-shaped `requestFacts` cannot know about the route's
 * body (the prompt-token estimate of an embeddings `input`, for one).
 */
export function gatewayFor(gateway: GatewayContext, kind: RouteKind, adjustFacts?: (facts: RequestFacts, body: Record<string, unknown>) => RequestFacts): GatewayContext {
  const engine: GatewayContext['engine'] = adjustFacts
    ? {
        evaluate: gateway.engine.evaluate,
        requestFacts(body, headers, identity, options) {
          const result = gateway.engine.requestFacts(body, headers, identity, options);
          return result.ok ? { ok: true, facts: adjustFacts(result.facts, body as Record<string, unknown>) } : result;
        },
      }
    : gateway.engine;
  return {
    ...gateway,
    engine,
    routing: {
      current(): RoutingState {
        const state = gateway.routing.current();
        return { policy: state.policy, catalog: catalogFor(state.catalog, kind) };
      },
    },
  };
}

/**
 * A clear 400 when the body names a model of the other kind (say, an embeddings model sent to chat),
 * rather than the engine's "model not found" against the route's view.
 */
export function wrongKindError(gateway: GatewayContext, body: Record<string, unknown>, kind: RouteKind, route: string): GatewayError | undefined {
  const { catalog } = gateway.routing.current();
  const requested = [body.model, ...(Array.isArray(body.models) ? body.models : [])].filter((entry): entry is string => typeof entry === 'string');
  const wrong = requested.filter((entry) => {
    const model = catalog.models.get(entry.trim());
    return model !== undefined && modelKind(model) !== kind;
  });
  if (wrong.length === 0 || wrong.length < requested.length) return undefined;
  const other = kind === 'embeddings' ? 'a text generation model (use /chat/completions)' : 'an embeddings model (use /embeddings)';
  return new GatewayError('invalid_request', `${wrong.join(', ')} is ${other}; ${route} cannot serve it.`, { param: 'model' });
}
