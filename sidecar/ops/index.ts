/**
 * The ops area's surface: health windows and circuits, metrics, hot reload, drain, probes,
 * request logs and the dashboard, put together for `server.ts`.
 *
 * It plugs into `createApp` only through what `createApp` already takes: `routing` (the
 * reloader), `store` (observed: every generation record feeds metrics, health and the request
 * log), `snapshot` (health in the engine snapshot) and `engine` (budget headroom from plans).
 * Its own routes are answered by `listener()` (which hands every other request to the app), and by
 * a separate admin listener for probes and scrapes (`admin()`).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import * as engine from '../../engine/index.ts';
import type { Diagnostic, Snapshot } from '../../engine/index.ts';
import type { Clock } from '../clock.ts';
import { dashboardRouter } from '../dashboard/dashboard-routes.ts';
import type { GatewayKeyVerifier } from '../http/auth.ts';
import type { RoutingEngine } from '../http/gateway-context.ts';
import type { Logger } from '../logger.ts';
import type { GenerationRecord, GenerationStore } from '../store/generation-record.ts';
import { Drainer, healthzHandler, readyzHandler, type ReadinessCheck } from './drain.ts';
import { EndpointHealthTracker, type HealthOptions } from './endpoint-health.ts';
import { GatewayMetrics, metricsHandler } from './metrics.ts';
import { PolicyReloader, policyStatusHandler, type LoadedRouting, type RoutingFiles } from './policy-reloader.ts';
import { pathOf, RequestLog } from './request-log.ts';
import { isOpsPath, routeTemplate } from './route-template.ts';
import type { CircuitOptions } from './circuit-breaker.ts';

export { Drainer, DEFAULT_DRAIN_DEADLINE_MS, healthzHandler, readyzHandler, type DrainReport, type ReadinessCheck } from './drain.ts';
export { EndpointHealthTracker, DEFAULT_HEALTH_OPTIONS, observationFromAttempt, type EndpointRouteHealth, type EndpointStatistics } from './endpoint-health.ts';
export { DEFAULT_CIRCUIT_OPTIONS, type CircuitState } from './circuit-breaker.ts';
export { GatewayMetrics, metricsHandler } from './metrics.ts';
export { PolicyReloader, RoutingHolder, loadRouting, policyStatusHandler, type PolicyStatus, type RoutingFiles } from './policy-reloader.ts';
export { RequestLog, createPinoLogger, REDACTED_PATHS } from './request-log.ts';
export { routeTemplate } from './route-template.ts';

export interface OpsOptions {
  clock: Clock;
  logger: Logger;
  files: RoutingFiles;
  health?: Partial<Omit<HealthOptions, 'circuit'>> & { circuit?: Partial<CircuitOptions> };
  /** Drain deadline, ms. */
  drainDeadlineMs?: number;
  /** Log request messages (off by default). */
  logPrompts?: boolean;
  /** Export Node process metrics. Default true. */
  processMetrics?: boolean;
  /** Reload debounce, ms. */
  debounceMs?: number;
  /** Called after each applied reload. */
  onReload?: (state: LoadedRouting) => void;
}

/** What the ops routes need from the app. */
export interface FrontDependencies {
  /** The generation log (as given to `createApp`, observed or not). */
  store: Pick<GenerationStore, 'list'>;
  keys: GatewayKeyVerifier;
  /** Extra readiness checks (storage, Redis...); the policy check is built in. */
  readiness?: readonly ReadinessCheck[];
}

export class Ops {
  readonly health: EndpointHealthTracker;
  readonly metrics: GatewayMetrics;
  readonly drainer: Drainer;
  readonly requestLog: RequestLog;
  readonly #options: OpsOptions;

  constructor(
    readonly reloader: PolicyReloader,
    options: OpsOptions,
    metrics: GatewayMetrics,
  ) {
    this.#options = options;
    this.metrics = metrics;
    this.health = new EndpointHealthTracker(options.clock, options.health ?? {});
    this.health.onTransition((endpoint, transition) => options.logger.warn({ endpoint, from: transition.from, to: transition.to, reason: transition.reason }, `circuit ${transition.to.replace('_', '-')}: ${endpoint}`));
    this.drainer = new Drainer({ clock: options.clock, logger: options.logger, ...(options.drainDeadlineMs === undefined ? {} : { deadlineMs: options.drainDeadlineMs }) });
    this.requestLog = new RequestLog({ logger: options.logger, clock: options.clock, logPrompts: options.logPrompts ?? false });
  }

  /** Loads the policy and catalog (must succeed), then builds every part. Call `watch()` to start hot reload. */
  static async start(options: OpsOptions): Promise<{ ok: true; ops: Ops; warnings: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] }> {
    let health: EndpointHealthTracker | undefined;
    const metrics = new GatewayMetrics({ processMetrics: options.processMetrics ?? true, circuits: () => health?.circuits() ?? [] });
    const started = await PolicyReloader.start({
      files: options.files,
      clock: options.clock,
      logger: options.logger,
      metrics,
      ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
      ...(options.onReload ? { onApplied: options.onReload } : {}),
    });
    if (!started.ok) return started;
    const ops = new Ops(started.reloader, options, metrics);
    health = ops.health;
    return { ok: true, ops, warnings: started.warnings };
  }

  /** Watch the policy and catalog directories. */
  watch(): void {
    this.reloader.watch();
  }

  /** Every generation record: metrics, endpoint health, the request log line. */
  observe(record: GenerationRecord): void {
    try {
      this.metrics.observeGeneration(record);
      this.health.recordAttempts(record.attempts);
      this.requestLog.onRecord(record);
    } catch (error) {
      this.#options.logger.error({ err: error, id: record.id }, 'ops could not observe a generation record');
    }
  }

  /** The store to give `createApp`: appends also go to `observe`. */
  observeStore(store: GenerationStore): GenerationStore {
    const observed: GenerationStore = {
      append: (record) => {
        store.append(record);
        this.observe(record);
      },
      get: (id) => store.get(id),
      list: (options) => store.list(options),
      flush: () => store.flush(),
      close: () => store.close(),
    };
    // Present exactly when the inner store has it (routes wait on it before they answer).
    if (store.durable) observed.durable = () => store.durable?.();
    return observed;
  }

  /** The engine snapshot: live endpoint health merged with the rest of the live state. */
  snapshot(rest: () => Omit<Snapshot, 'endpoints'> = () => ({})): () => Snapshot {
    return this.health.snapshotWith(rest);
  }

  /** The real engine, with budget headroom of every plan going to the metrics. */
  engine(): RoutingEngine {
    return {
      requestFacts: engine.requestFacts,
      evaluate: (policy, catalog, facts, snapshot, options) => {
        const result = engine.evaluate(policy, catalog, facts, snapshot, options);
        if (result.ok) this.metrics.observeBudgets(result.plan.budgets);
        return result;
      },
    };
  }

  /**
   * Every request: in-flight tracking (drain), the request log, request metrics, all from one
   * `close` listener. Plain Node objects. Returns the request's path (without the query).
   */
  #observe(request: IncomingMessage, response: ServerResponse): string {
    const clock = this.#options.clock;
    const startedAt = clock.monotonic();
    // Taken now: routers rewrite request.url while they run.
    const path = pathOf(request.url);
    const route = routeTemplate(path);
    this.drainer.arrived(response);
    this.metrics.requestArrived();
    response.once('close', () => {
      const durationMs = clock.monotonic() - startedAt;
      this.drainer.left();
      this.requestLog.ended(request, response, path, route, durationMs);
      this.metrics.requestLeft();
      this.metrics.observeRequest(route, request.method ?? 'GET', response.statusCode, durationMs / 1000);
    });
    return path;
  }

  #probes(readiness: readonly ReadinessCheck[]): Router {
    const router = express.Router();
    const policyCheck: ReadinessCheck = {
      name: 'policy',
      check: () => {
        const { policy, catalog } = this.reloader.current();
        return { ok: true, detail: `${policy.id}@${policy.version}, catalog ${catalog.version}` };
      },
    };
    router.get('/healthz', healthzHandler());
    router.get('/readyz', readyzHandler([policyCheck, ...readiness], this.drainer));
    router.get('/metrics', metricsHandler(this.metrics));
    return router;
  }

  /** The ops routes: probes, `/metrics`, `/api/v1/policy`, the dashboard. */
  #routes(dependencies: FrontDependencies): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.use(this.#probes(dependencies.readiness ?? []));
    const authenticate = (request: Request, response: Response, next: NextFunction): void => {
      if (dependencies.keys.verify(request.headers.authorization)) {
        next();
        return;
      }
      response.status(401).json({ error: { code: 401, message: 'Missing or invalid gateway key. Send `Authorization: Bearer <key>`.', metadata: { error_type: 'authentication' } } });
    };
    app.get('/api/v1/policy', authenticate, policyStatusHandler(this.reloader));
    app.use(
      dashboardRouter({
        store: dependencies.store,
        clock: this.#options.clock,
        logger: this.#options.logger,
        policy: () => this.reloader.status(),
        circuits: () => this.health.circuits(),
        authenticate,
      }),
    );
    return app;
  }

  /**
   * The server's request listener: observes every request (drain, log, metrics), answers the ops
   * paths itself and hands everything else to the gateway app untouched (its own fast paths
   * included).
   */
  listener(gateway: RequestListener, dependencies: FrontDependencies): RequestListener {
    const routes = this.#routes(dependencies);
    return (request, response) => {
      if (isOpsPath(this.#observe(request, response))) routes(request, response);
      else gateway(request, response);
    };
  }

  /** The admin listener's app: probes and `/metrics` only (bind it where the kubelet and Prometheus reach it). */
  admin(readiness: readonly ReadinessCheck[] = []): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(this.#probes(readiness));
    return app;
  }

  close(): void {
    this.reloader.close();
  }
}
