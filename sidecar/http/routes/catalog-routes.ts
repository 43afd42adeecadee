/** `GET /models`, `GET /models/:author/:slug/endpoints`: the catalog in OpenRouter's shapes. */
import type { Request, Response } from 'express';
import { GatewayError } from '../errors.ts';
import { sendError, type GatewayContext } from '../gateway-context.ts';
import { listModels, modelEndpoints } from '../models-view.ts';

function parameterFilter(value: unknown): string[] {
  if (typeof value !== 'string' || value === '') return [];
  return value
    .split(',')
    .map((parameter) => parameter.trim())
    .filter((parameter) => parameter !== '');
}

export function listModelsHandler(gateway: GatewayContext) {
  return function handleListModels(request: Request, response: Response): void {
    const data = listModels(gateway.routing.current().catalog, parameterFilter(request.query.supported_parameters));
    response.json({ data });
  };
}

export function modelEndpointsHandler(gateway: GatewayContext) {
  return function handleModelEndpoints(request: Request, response: Response): void {
    const modelId = `${String(request.params.author)}/${String(request.params.slug)}`;
    const view = modelEndpoints(gateway.routing.current().catalog, modelId);
    if (!view) {
      sendError(gateway, response, new GatewayError('model_not_found', `Model '${modelId}' is not in the catalog.`, { model: modelId }));
      return;
    }
    // Health is live; everything else is cached per catalog. The ops windows give every field
    // (and reading them takes no half-open probe slot, as a routing snapshot would).
    const measuredHealth = gateway.endpointHealth;
    if (measuredHealth) {
      response.json({ data: { ...view, endpoints: view.endpoints.map((endpoint) => ({ ...endpoint, ...measuredHealth(`${modelId}@${endpoint.tag}`) })) } });
      return;
    }
    const health = gateway.snapshot().endpoints ?? {};
    const endpoints = view.endpoints.map((endpoint) => {
      const measured = health[`${modelId}@${endpoint.tag}`];
      if (!measured) return endpoint;
      return {
        ...endpoint,
        uptime_last_30m: measured.uptime ?? null,
        latency_last_30m: measured.latency_ms ?? null,
        throughput_last_30m: measured.throughput ?? null,
      };
    });
    response.json({ data: { ...view, endpoints } });
  };
}
