/**
 * `createApp(deps)`: the Express app, built only from what it is given. It reads no environment,
 * no file and no global; `server.ts` does that and listens.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { trace, type Tracer } from '@opentelemetry/api';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as engine from '../engine/index.ts';
import type { Identity, Snapshot } from '../engine/index.ts';
import { computeCost } from './accounting/cost.ts';
import { systemClock, type Clock } from './clock.ts';
import type { CostFunction, CredentialResolver } from './execute/execute-plan.ts';
import { isLoopbackHost, type GatewayKeyVerifier } from './http/auth.ts';
import { GatewayError } from './http/errors.ts';
import { readJsonBody } from './http/read-json-body.ts';
import { sendError, type GatewayContext, type RoutingEngine, type RoutingSource } from './http/gateway-context.ts';
import { listModelsHandler, modelEndpointsHandler } from './http/routes/catalog-routes.ts';
import { chatCompletionsHandler } from './http/routes/chat-completions.ts';
import { completionsHandler } from './http/routes/completions.ts';
import { embeddingsHandler } from './http/routes/embeddings.ts';
import { generationHandler } from './http/routes/generation-route.ts';
import { keyRoutes, type KeyRoutesDependencies } from './http/routes/key-routes.ts';
import { planHandler } from './http/routes/plan-route.ts';
import type { EndpointHealthFields } from './http/models-view.ts';
import type { RequestAccounting } from './http/request-accounting.ts';
import { silentLogger, type Logger } from './logger.ts';
import { globalTracingRegistered, NOOP_TRACER } from './telemetry/noop.ts';
import type { AdapterRegistry } from './providers/spec.ts';
import { MemoryGenerationStore, type GenerationStore } from './store/generation-record.ts';

export type { RoutingSource, RoutingState, RoutingEngine } from './http/gateway-context.ts';

/** Default body limit, 4 MiB; prompts carrying images as data URLs may need `server.body_limit_bytes` raised. */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_KEEP_ALIVE_INTERVAL_MS = 1000;

/** What the app is built from. Only `routing`, `adapters`, `credentials` and `keys` are required. */
export interface AppDependencies {
  /** The compiled policy and catalog in force (swappable for hot reload). */
  routing: RoutingSource;
  /** Adapters by wire protocol. */
  adapters: AdapterRegistry;
  /** Provider id -> secret. */
  credentials: CredentialResolver;
  /** Gateway key check. */
  keys: GatewayKeyVerifier;
  /** Default: the real engine (`requestFacts`, `evaluate`). Tests may pass a fake. */
  engine?: RoutingEngine;
  /** Default: an in-memory store. */
  store?: GenerationStore;
  /** Default: the global tracer when a tracer provider is registered, else a shared no-op (no spans, no contexts). */
  tracer?: Tracer;
  clock?: Clock;
  /** Default: `gen-<unix seconds>-<20 random characters>`. */
  newId?: () => string;
  /** Live state for the engine. Default: no health data, every provider's credential present. */
  snapshot?: () => Snapshot;
  logger?: Logger;
  /** Cost of a served attempt and its breakdown. Default: accounting's `computeCost`. */
  cost?: CostFunction;
  bodyLimitBytes?: number;
  /** Comment lines while waiting for a stream's first byte. */
  keepAliveIntervalMs?: number;
  /** Budgets, key credit limits and rate limits on the request path. Default: none. */
  accounting?: RequestAccounting;
  /** Stored keys: `/api/v1/key`, `/api/v1/credits`, the management API `/api/v1/keys`. Default: not served. */
  keyRoutes?: KeyRoutesDependencies;
  /** Health fields of the endpoints route (uptime over 5 min, 30 min, 1 day...). Default: from `snapshot`. */
  endpointHealth?: (endpointId: string) => EndpointHealthFields;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ID_CODES = Buffer.from(ID_ALPHABET, 'latin1');

// Random bytes are drawn in blocks (one system call per 200 ids instead of one per id). This
// module-level pool is the only state createApp shares between apps; it holds nothing but entropy.
const RANDOM_BLOCK = 4000;
let randomPool = Buffer.alloc(0);
let randomOffset = RANDOM_BLOCK;
const suffixBytes = Buffer.alloc(20);

/** `gen-1732530000-AbC...`: sortable by time, 20 random base-62 characters. */
export function newGenerationId(clock: Clock = systemClock): string {
  if (randomOffset + 20 > RANDOM_BLOCK) {
    randomPool = randomBytes(RANDOM_BLOCK);
    randomOffset = 0;
  }
  for (let index = 0; index < 20; index++) suffixBytes[index] = ID_CODES[(randomPool[randomOffset + index] as number) % ID_CODES.length] as number;
  randomOffset += 20;
  return `gen-${Math.floor(clock.now() / 1000)}-${suffixBytes.toString('latin1', 0, 20)}`;
}

function resolve(dependencies: AppDependencies): GatewayContext {
  const clock = dependencies.clock ?? systemClock;
  return {
    routing: dependencies.routing,
    engine: dependencies.engine ?? { requestFacts: engine.requestFacts, evaluate: engine.evaluate },
    adapters: dependencies.adapters,
    credentials: dependencies.credentials,
    keys: dependencies.keys,
    store: dependencies.store ?? new MemoryGenerationStore(),
    tracer: dependencies.tracer ?? (globalTracingRegistered() ? trace.getTracer('switchyard') : NOOP_TRACER),
    clock,
    newId: dependencies.newId ?? (() => newGenerationId(clock)),
    snapshot: dependencies.snapshot ?? (() => ({})),
    logger: dependencies.logger ?? silentLogger,
    cost: dependencies.cost ?? ((usage, pricing, finishReason) => computeCost(usage, pricing, { finishReason })),
    keepAliveIntervalMs: dependencies.keepAliveIntervalMs ?? DEFAULT_KEEP_ALIVE_INTERVAL_MS,
    ...(dependencies.accounting ? { accounting: dependencies.accounting } : {}),
    ...(dependencies.endpointHealth ? { endpointHealth: dependencies.endpointHealth } : {}),
  };
}

const CHAT_PATHS: ReadonlySet<string> = new Set(['/api/v1/chat/completions', '/v1/chat/completions']);

export function createApp(dependencies: AppDependencies): express.Express {
  const gateway = resolve(dependencies);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  const json = readJsonBody(dependencies.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES);

  const storedKeys = dependencies.keyRoutes?.verifier;

  /** Who is calling, or why they may not. */
  function identify(request: IncomingMessage): Identity | GatewayError {
    const identity = gateway.keys.verify(request.headers.authorization);
    if (!identity) return new GatewayError('authentication', 'Missing or invalid gateway key. Send `Authorization: Bearer <key>`.');
    if (!gateway.keys.required && !isLoopbackHost(request.headers.host)) {
      return new GatewayError('forbidden', 'Without gateway keys, Switchyard answers only requests addressed to localhost.');
    }
    return identity;
  }

  /** As `identify`, then a look in the key store for a stored key this replica has not mirrored yet. */
  function identifyOrLookUp(request: IncomingMessage): Identity | GatewayError | Promise<Identity | GatewayError> {
    const identity = identify(request);
    if (!(identity instanceof GatewayError) || identity.errorType !== 'authentication' || !storedKeys) return identity;
    return storedKeys.lookup(request.headers.authorization).then(
      (found) => found ?? identity,
      () => identity,
    );
  }

  function authenticate(request: Request, response: Response, next: NextFunction): void {
    const accept = (identity: Identity | GatewayError): void => {
      if (identity instanceof GatewayError) {
        sendError(gateway, response, identity);
        return;
      }
      response.locals.identity = identity;
      next();
    };
    const identity = identifyOrLookUp(request);
    if (identity instanceof Promise) void identity.then(accept);
    else accept(identity);
  }

  const api = express.Router();
  const chat = chatCompletionsHandler(gateway);
  api.post('/chat/completions', authenticate, json, (request: Request, response: Response) => chat(request, response, response.locals.identity as Identity));
  const embeddings = embeddingsHandler(gateway);
  api.post('/embeddings', authenticate, json, (request: Request, response: Response) => embeddings(request, response, response.locals.identity as Identity));
  const completions = completionsHandler(gateway);
  api.post('/completions', authenticate, json, (request: Request, response: Response) => completions(request, response, response.locals.identity as Identity));
  api.post('/plan', authenticate, json, planHandler(gateway));
  api.get('/generation', authenticate, generationHandler(gateway));
  if (dependencies.keyRoutes) {
    const routes = keyRoutes(gateway, dependencies.keyRoutes);
    api.use(['/key', '/auth/key', '/credits', '/keys'], authenticate, (request: Request, response: Response, next: NextFunction) => {
      if (request.method === 'POST' || request.method === 'PATCH') json(request, response, next);
      else next();
    });
    api.use(routes);
  }
  // The model list is public, as OpenRouter's is.
  api.get('/models', listModelsHandler(gateway));
  api.get('/models/:author/:slug/endpoints', modelEndpointsHandler(gateway));

  app.use('/api/v1', api);
  app.use('/v1', api);
  app.get('/healthz', (_request, response) => {
    const { policy, catalog } = gateway.routing.current();
    response.json({ status: 'ok', policy: { id: policy.id, version: policy.version }, catalog: { version: catalog.version } });
  });

  // Chat completions are the hot path: served before Express's per-request set-up (prototype
  // swaps, router walk) with the same authentication, body reading and envelope as the route above,
  // which still serves the path with a query string.
  // `handle` is Express's per-app dispatch (the app function calls it); its types leave it out.
  const dispatch = app as unknown as { handle: (request: IncomingMessage, response: ServerResponse, callback?: (error?: unknown) => void) => void };
  const expressHandle = dispatch.handle.bind(app);
  dispatch.handle = function handle(request: IncomingMessage, response: ServerResponse, callback?: (error?: unknown) => void): void {
    if (request.method !== 'POST' || !CHAT_PATHS.has(request.url ?? '')) {
      expressHandle(request, response, callback);
      return;
    }
    const serve = (identity: Identity | GatewayError): void => {
      if (identity instanceof GatewayError) {
        request.resume();
        sendError(gateway, response, identity);
        return;
      }
      json(request, response, (error?: unknown) => {
        if (error) sendError(gateway, response, error);
        else void chat(request, response, identity);
      });
    };
    const identity = identifyOrLookUp(request);
    if (identity instanceof Promise) void identity.then(serve);
    else serve(identity);
  };

  app.use((request: Request, response: Response) => {
    sendError(gateway, response, new GatewayError('not_found', `No route for ${request.method} ${request.path}.`));
  });
  // Body-parser failures (malformed JSON, too large) and anything a handler let through.
  app.use((error: unknown, _request: Request, response: Response, _next: NextFunction) => {
    void _next;
    sendError(gateway, response, error);
  });
  return app;
}
