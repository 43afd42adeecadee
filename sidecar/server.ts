/**
 * The only file that reads the environment and the disk, and listens. Everything else is built by
 * `createApp` from what this file hands it, with the ops parts (hot reload, endpoint health,
 * metrics, request log, probes, drain) composed around it.
 *
 * Start-up refuses (and returns every diagnostic) when the config, a catalog or the policy is
 * invalid, when a mounted secret cannot be read, or when asked to listen beyond loopback without
 * gateway keys.
 */
import { accessSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { Counter } from 'prom-client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CompiledCatalog, Diagnostic, Snapshot } from '../engine/index.ts';
import { createApp } from './app.ts';
import { systemClock } from './clock.ts';
import { isLoopback, loadConfig, resolveSecret, type ConfigOverrides, type GatewayConfig } from './config/load-config.ts';
import { addDecimals } from './accounting/decimal.ts';
import { createAlertNotifier } from './accounting/alerts.ts';
import { createKeyVerifier, sha256Hex, type GatewayKey } from './http/auth.ts';
import { RequestAccounting } from './http/request-accounting.ts';
import { createStoredKeyVerifier } from './http/stored-keys.ts';
import { openAccountingState, seedBudgetSpend, type SpendLog } from './state/index.ts';
import { inRange, type TimeRange } from './store/generation-backend.ts';
import type { CostSummer } from './store/key-usage.ts';
import { MemoryKeyStore, type KeyStore } from './store/index.ts';
import type { Logger } from './logger.ts';
import { createPinoLogger, Ops, type ReadinessCheck } from './ops/index.ts';
import { createAdapterRegistry } from './providers/index.ts';
import { MemoryGenerationStore, type GenerationStore } from './store/generation-record.ts';
import { DEFAULT_POSTGRES_JOURNAL, DEFAULT_SQLITE_PATH, openStores } from './store/index.ts';
import { setUpTracing, type Tracing } from './telemetry/tracing.ts';

/** Records kept by `storage.kind: memory` (the oldest are dropped). */
export const MEMORY_STORE_CAPACITY = 10_000;

export interface ServerOptions extends ConfigOverrides {
  /** Config path; default `$SWITCHYARD_CONFIG` or `./switchyard.yaml`. */
  configPath?: string;
  /** Default: process.env. */
  env?: Record<string, string | undefined>;
  /** Default: process.cwd(). */
  cwd?: string;
  /** Default: pino to stdout at the configured level. */
  logger?: Logger;
}

export interface RunningGateway {
  url: string;
  host: string;
  port: number;
  config: GatewayConfig;
  /** Port of the probes/metrics listener, when one was asked for. */
  adminPort: number | undefined;
  /** Drain: stop accepting, let requests and streams in flight finish (up to the drain deadline), flush. */
  close(reason?: string): Promise<void>;
}

export type StartResult = { ok: true; gateway: RunningGateway } | { ok: false; diagnostics: Diagnostic[] };

function fileProblem(file: string, code: string, message: string, hint?: string): Diagnostic {
  return { code, severity: 'error', message, file, line: 1, column: 1, ...(hint ? { hint } : {}) };
}

function readFile(path: string, what: string, diagnostics: Diagnostic[]): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    diagnostics.push(fileProblem(path, 'config_file_missing', `${what} ${path} ${reason}`));
    return undefined;
  }
}

function checkReadable(path: string, what: string, diagnostics: Diagnostic[]): void {
  try {
    accessSync(path);
  } catch {
    diagnostics.push(fileProblem(path, 'config_file_missing', `${what} ${path} does not exist or cannot be read`));
  }
}

/** Provider keys, read once. Unreadable secret files are errors; unset variables are not. */
function resolveCredentials(config: GatewayConfig, env: Record<string, string | undefined>, diagnostics: Diagnostic[]): Map<string, string> {
  const credentials = new Map<string, string>();
  for (const [provider, reference] of Object.entries(config.credentials)) {
    try {
      const secret = resolveSecret(reference, env, (path) => readFileSync(path, 'utf8'));
      if (secret !== undefined) credentials.set(provider, secret);
    } catch {
      diagnostics.push(fileProblem(config.file, 'config_secret_unreadable', `credentials.${provider}: secret file cannot be read`));
    }
  }
  return credentials;
}

function resolveGatewayKeys(config: GatewayConfig, env: Record<string, string | undefined>, diagnostics: Diagnostic[], logger: Logger): GatewayKey[] {
  const keys: GatewayKey[] = [];
  config.gatewayKeys.forEach((reference, index) => {
    const identity = { ...(reference.name ? { name: reference.name } : {}), ...(reference.user ? { user: reference.user } : {}), ...(reference.team ? { team: reference.team } : {}) };
    if (reference.sha256) {
      keys.push({ sha256: reference.sha256, ...identity });
      return;
    }
    try {
      const source = reference.env !== undefined ? { env: reference.env } : { file: reference.file ?? '' };
      const secret = resolveSecret(source, env, (path) => readFileSync(path, 'utf8'));
      if (secret === undefined) {
        logger.info({ key: reference.name ?? index, variable: reference.env }, 'gateway key variable is not set; that key is inactive');
        return;
      }
      keys.push({ sha256: sha256Hex(secret), ...identity });
    } catch {
      diagnostics.push(fileProblem(config.file, 'config_secret_unreadable', `gateway_keys[${index}]: key file cannot be read`));
    }
  });
  return keys;
}

/** Providers the engine may route to: those with a key, and those that need none. */
function credentialSnapshot(catalog: CompiledCatalog, config: GatewayConfig, credentials: ReadonlyMap<string, string>): Omit<Snapshot, 'endpoints'> {
  const present = [...catalog.providers.keys()].filter((provider) => !(provider in config.credentials) || credentials.has(provider));
  return { credentials: present };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Where generation records and stored keys go, and how to flush them at shutdown. */
export interface Storage {
  generations: GenerationStore;
  keys: KeyStore;
  /** A key's spend from the generation log (`/api/v1/key`, key-limit counters). */
  usage: CostSummer;
  /** The stored log's spend by period (budgets of a memory state at start-up); absent in memory. */
  spendLog?: SpendLog;
  close(): Promise<void>;
}

/** Spend of a key in the in-memory log (its most recent records only). */
function memoryUsage(generations: MemoryGenerationStore): CostSummer {
  return {
    async sumCost(key: string, range: TimeRange) {
      const records = await generations.list({ limit: MEMORY_STORE_CAPACITY });
      return addDecimals('0', ...records.filter((record) => record.key === key && inRange(record, range)).map((record) => record.total_cost));
    },
  };
}

/**
 * The configured storage: SQLite (default `.data/switchyard.db` under the working directory),
 * Postgres, or memory. Used by `serve` and by the `keys` and `generations` commands.
 */
export async function openStorage(config: GatewayConfig, env: Record<string, string | undefined>, cwd: string, logger?: Logger): Promise<Storage> {
  const { storage } = config;
  const batching = { onError: (error: unknown) => logger?.error({ err: error }, 'generation log write failed; records stay buffered and are retried') };
  if (storage.kind === 'sqlite') {
    const stores = await openStores({ kind: 'sqlite', path: storage.path ?? resolvePath(cwd, DEFAULT_SQLITE_PATH), batching });
    return { ...stores, usage: stores.generations, spendLog: stores.generations.backend };
  }
  if (storage.kind === 'postgres') {
    const connectionString = storage.url ? resolveSecret(storage.url, env, (path) => readFileSync(path, 'utf8')) : undefined;
    if (!connectionString) throw new Error('storage.url resolves to nothing');
    const stores = await openStores({ kind: 'postgres', connectionString, ...(storage.schema ? { schema: storage.schema } : {}), journalDirectory: resolvePath(cwd, DEFAULT_POSTGRES_JOURNAL), batching });
    return { ...stores, usage: stores.generations, spendLog: stores.generations.backend };
  }
  // In memory, the most recent records only: a long-running gateway must not grow without bound.
  const generations = new MemoryGenerationStore(MEMORY_STORE_CAPACITY);
  return { generations, keys: new MemoryKeyStore(), usage: memoryUsage(generations), close: () => generations.close() };
}

/** Load everything, then listen. Never exits the process; the CLI decides what to do. */
export async function startServer(options: ServerOptions = {}): Promise<StartResult> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const configPath = options.configPath ?? env.SWITCHYARD_CONFIG ?? 'switchyard.yaml';
  const diagnostics: Diagnostic[] = [];

  const configText = readFile(configPath, 'config file', diagnostics);
  if (configText === undefined) return { ok: false, diagnostics };
  const overrides: ConfigOverrides = { ...(options.port !== undefined ? { port: options.port } : {}), ...(options.host !== undefined ? { host: options.host } : {}) };
  const loaded = loadConfig({ file: configPath, text: configText, env, cwd, overrides });
  if (!loaded.ok) return { ok: false, diagnostics: loaded.diagnostics };
  const config = loaded.value;
  const logger: Logger = options.logger ?? createPinoLogger({ level: config.logLevel, serviceName: config.telemetry.serviceName });

  for (const file of config.catalogFiles) checkReadable(file, 'catalog', diagnostics);
  checkReadable(config.policyFile, 'policy', diagnostics);
  if (diagnostics.length > 0) return { ok: false, diagnostics };

  const credentials = resolveCredentials(config, env, diagnostics);
  const keys = resolveGatewayKeys(config, env, diagnostics, logger);
  // Stored keys (SQLite, Postgres) may stand in for config keys; checked again once they are read.
  const keysRequired = (): Diagnostic =>
    fileProblem(config.file, 'config_keys_required', `refusing to listen on ${config.server.host} without gateway keys`, 'set a gateway key (gateway_keys / SWITCHYARD_API_KEY, or `switchyard keys create`) or bind 127.0.0.1');
  if (keys.length === 0 && !isLoopback(config.server.host) && config.storage.kind === 'memory') diagnostics.push(keysRequired());
  if (diagnostics.length > 0) return { ok: false, diagnostics };

  // Compiles the catalogs and the policy (refusing on any diagnostic) and keeps them reloadable.
  let liveState: Omit<Snapshot, 'endpoints'> = {};
  const started = await Ops.start({
    clock: systemClock,
    logger,
    files: { catalogFiles: config.catalogFiles, policyFile: config.policyFile },
    drainDeadlineMs: config.server.drainTimeoutMs,
    onReload: (state) => {
      liveState = credentialSnapshot(state.catalog, config, credentials);
    },
  });
  if (!started.ok) return { ok: false, diagnostics: started.diagnostics };
  const { ops } = started;
  for (const warning of started.warnings) logger.warn({ diagnostic: warning }, warning.message);
  const initial = ops.reloader.current();
  liveState = credentialSnapshot(initial.catalog, config, credentials);
  for (const provider of Object.keys(config.credentials)) {
    if (!initial.catalog.providers.has(provider)) logger.warn({ provider }, 'credentials name a provider the catalog does not have');
  }

  let stores: Storage;
  try {
    stores = await openStorage(config, env, cwd, logger);
  } catch (error) {
    ops.close();
    return { ok: false, diagnostics: [fileProblem(config.file, 'config_storage_unavailable', `storage (${config.storage.kind}) cannot be opened: ${(error as Error).message}`)] };
  }
  const verifier = await createStoredKeyVerifier({ configKeys: createKeyVerifier(keys), store: stores.keys, refreshMs: config.accounting.keysRefreshMs, logger });
  if (!verifier.required && !isLoopback(config.server.host)) {
    verifier.close();
    ops.close();
    await stores.close();
    return { ok: false, diagnostics: [keysRequired()] };
  }
  let accounting: RequestAccounting | undefined;
  let closeAccounting = async (): Promise<void> => {};
  if (config.accounting.enabled) {
    const redisUrl = config.accounting.redisUrl ? resolveSecret(config.accounting.redisUrl, env, (path) => readFileSync(path, 'utf8')) : undefined;
    const onError = (error: unknown): void => logger.error({ err: error }, 'accounting state (Redis) failed; following accounting.fail');
    const opened = await openAccountingState(
      config.accounting.state === 'redis'
        ? // No auto-pipelining: measured slower here (bench/gateway.ts, BENCH_ACCOUNTING=redis).
          { kind: 'redis', url: redisUrl ?? '', fail: config.accounting.fail, prefix: config.accounting.redisPrefix, onError, ...(config.accounting.redisCallSpacingMs !== undefined ? { callSpacingMs: config.accounting.redisCallSpacingMs } : {}) }
        : { kind: 'memory' },
    ).catch((error: unknown) => error as Error);
    if (opened instanceof Error) {
      verifier.close();
      ops.close();
      await stores.close();
      return { ok: false, diagnostics: [fileProblem(config.file, 'config_state_unavailable', `accounting state cannot be opened: ${opened.message}`, 'start Redis, fix accounting.redis_url / REDIS_URL, or set accounting.state: memory')] };
    }
    const state = opened;
    // A memory state starts empty: count this period's spend again from the generation log, so a
    // restart does not hand every budget its limit again. `openStorage` has replayed the crash
    // journal into the log by now. Redis keeps its counters across gateway restarts.
    if (state.kind === 'memory' && stores.spendLog) {
      const startedAt = performance.now();
      try {
        const seeded = await seedBudgetSpend(state, initial.policy.budgets.values(), stores.spendLog, Date.now());
        logger.info({ ...seeded, ms: Math.round(performance.now() - startedAt) }, 'budget spend of the current periods counted from the generation log');
      } catch (error) {
        verifier.close();
        ops.close();
        await state.close();
        await stores.close();
        return { ok: false, diagnostics: [fileProblem(config.file, 'config_storage_unavailable', `budget spend cannot be read from the generation log: ${(error as Error).message}`)] };
      }
    }
    const alertCounter = new Counter({
      name: 'switchyard_budget_alerts_total',
      help: 'Budget and key-limit alert thresholds crossed (once per threshold and period), by threshold.',
      labelNames: ['threshold'],
      registers: [ops.metrics.registry],
    });
    const webhookUrl = config.accounting.alertWebhook ? resolveSecret(config.accounting.alertWebhook, env, (path) => readFileSync(path, 'utf8')) : undefined;
    const alerts = createAlertNotifier({
      log: (event) => logger.warn({ event: 'budget_alert', ...event }, `budget alert: ${event.scopeKey} reached ${Math.round(event.threshold * 100)}% (${event.spent} of ${event.limit} USD)`),
      count: (event) => alertCounter.inc({ threshold: String(event.threshold) }),
      ...(webhookUrl ? { webhookUrl } : {}),
      onError: (error, event) => logger.warn({ err: error, scope: event.scopeKey }, 'budget alert webhook failed'),
    });
    accounting = new RequestAccounting({
      state,
      generations: stores.usage,
      storedKeyOf: (identity) => verifier.storedKeyOf(identity),
      rateLimits: {
        ...(config.accounting.rateLimits.requestsPerMinute !== undefined ? { requestsPerMinute: config.accounting.rateLimits.requestsPerMinute } : {}),
        ...(config.accounting.rateLimits.tokensPerMinute !== undefined ? { tokensPerMinute: config.accounting.rateLimits.tokensPerMinute } : {}),
      },
      alertThresholds: config.accounting.alertThresholds,
      alerts,
      logger,
    });
    const requestAccounting = accounting;
    closeAccounting = async () => {
      await requestAccounting.drain();
      await alerts.drain();
      await state.close();
    };
  }
  const tracing: Tracing = await setUpTracing({ mode: config.telemetry.traces, serviceName: config.telemetry.serviceName, env });
  const store = ops.observeStore(stores.generations);
  const storageCheck: ReadinessCheck = {
    name: 'storage',
    check: async () => {
      await stores.generations.list({ limit: 1 });
      return { ok: true, detail: config.storage.kind };
    },
  };
  const app = createApp({
    routing: ops.reloader,
    engine: ops.engine(),
    adapters: createAdapterRegistry(),
    credentials: (provider) => credentials.get(provider),
    keys: verifier,
    store,
    tracer: tracing.tracer,
    snapshot: ops.snapshot(() => liveState),
    endpointHealth: (endpointId) => ops.health.routeHealth(endpointId),
    logger,
    bodyLimitBytes: config.server.bodyLimitBytes,
    keepAliveIntervalMs: config.server.keepAliveIntervalMs,
    ...(accounting ? { accounting } : {}),
    keyRoutes: { store: stores.keys, verifier, usage: stores.usage },
  });
  const server = createServer(ops.listener(app, { store, keys: verifier, readiness: [storageCheck] }));
  // Longer than common load-balancer idle timeouts, so they close first.
  server.keepAliveTimeout = 65_000;
  ops.drainer.attach(server);
  const address = await listen(server, config.server.port, config.server.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  let admin: Server | undefined;
  let adminPort: number | undefined;
  if (config.server.adminPort !== undefined) {
    admin = createServer(ops.admin([storageCheck]));
    adminPort = (await listen(admin, config.server.adminPort, config.server.adminHost)).port;
  }
  if (config.server.watch) ops.watch();

  logger.info(
    {
      url,
      admin: adminPort === undefined ? null : `http://${config.server.adminHost}:${adminPort}`,
      policy: `${initial.policy.id}@${initial.policy.version}`,
      catalog: initial.catalog.version,
      models: initial.catalog.models.size,
      providers: liveState.credentials?.length ?? 0,
      storage: config.storage.kind,
      accounting: config.accounting.enabled ? config.accounting.state : 'off',
      tracing: tracing.exporting,
      hot_reload: config.server.watch,
    },
    `Switchyard listening on ${url}/api/v1`,
  );
  if (!verifier.required) logger.warn({ host: config.server.host }, 'no gateway keys configured: accepting unauthenticated requests on loopback only');

  return {
    ok: true,
    gateway: {
      url,
      host: config.server.host,
      port: address.port,
      adminPort,
      config,
      close: async (reason = 'shutdown') => {
        await ops.drainer.drain(reason);
        ops.close();
        verifier.close();
        // Every response has ended: its record is appended and its hold settled (or settling).
        await closeAccounting();
        await stores.close();
        await tracing.shutdown();
        if (admin) {
          const closing = admin;
          await new Promise<void>((resolve) => closing.close(() => resolve()));
          closing.closeAllConnections();
        }
      },
    },
  };
}
