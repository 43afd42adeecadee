/**
 * `switchyard.yaml` -> a typed, validated configuration, with environment overrides applied.
 *
 * Pure: the text, the environment and the overrides come in as arguments (server.ts reads them).
 * Every problem is a Diagnostic at file:line:col; the server refuses to start on any of them.
 */
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { diagnosticAt, parseYaml, sortDiagnostics, type Diagnostic, type ProblemAt, type Result, type SourceMap } from '../../engine/index.ts';
import configSchema from '../../schemas/config.v1.schema.json' with { type: 'json' };

/** Where a secret comes from. Exactly one of the two. */
export type SecretReference = { env: string } | { file: string };

/** A gateway key: by variable, by file, or by digest. */
export interface GatewayKeyReference {
  env?: string;
  file?: string;
  sha256?: string;
  name?: string;
  user?: string;
  team?: string;
}

export type StorageKind = 'memory' | 'sqlite' | 'postgres';

/** The configuration the server runs with. Paths are absolute. */
export interface GatewayConfig {
  file: string;
  server: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    keepAliveIntervalMs: number;
    drainTimeoutMs: number;
    /** Probes and metrics listener; undefined: none. */
    adminPort: number | undefined;
    adminHost: string;
    /** Hot reload of the policy and catalogs. */
    watch: boolean;
  };
  catalogFiles: string[];
  policyFile: string;
  credentials: Record<string, SecretReference>;
  gatewayKeys: GatewayKeyReference[];
  /** `schema`: Postgres schema of the tables (default public). */
  storage: { kind: StorageKind; path: string | undefined; url: SecretReference | undefined; schema?: string };
  accounting: AccountingConfig;
  telemetry: { traces: 'auto' | 'on' | 'off'; serviceName: string };
  logLevel: string;
}

/** Budgets, key limits, rate limits and alerts (see sidecar/accounting/README.md). */
export interface AccountingConfig {
  /** False: no budgets, key limits or rate limits on the request path (costs are still computed and logged). */
  enabled: boolean;
  /** Where spend counters live: `memory` (one replica) or `redis` (several). */
  state: 'memory' | 'redis';
  redisUrl: SecretReference | undefined;
  /** Prepended to every Redis key; default `switchyard:`. */
  redisPrefix: string;
  /** When Redis is unreachable: refuse (`closed`) or serve unenforced (`open`). */
  fail: 'closed' | 'open';
  /** Per key, per minute; undefined: unlimited. */
  rateLimits: { requestsPerMinute: number | undefined; tokensPerMinute: number | undefined };
  /** Fractions of a key limit that raise an alert. */
  alertThresholds: number[];
  alertWebhook: SecretReference | undefined;
  /** How often stored keys are re-read (revocations on other replicas take effect within it). */
  keysRefreshMs: number;
  /** Least time between two Redis script calls under load, ms (`RedisStateOptions.callSpacingMs`); undefined: the state's default. */
  redisCallSpacingMs: number | undefined;
}

/** Options the command line passes; they beat both the file and the environment. */
export interface ConfigOverrides {
  port?: number;
  host?: string;
}

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;

/** Environment variables that override the file (documented in the README). */
export const CONFIG_ENVIRONMENT = {
  SWITCHYARD_CONFIG: 'Path of the config file (default ./switchyard.yaml).',
  PORT: 'Port to listen on (beats server.port).',
  SWITCHYARD_HOST: 'Interface to bind (beats server.host).',
  SWITCHYARD_CATALOG: 'Comma-separated catalog files (beats catalog).',
  SWITCHYARD_POLICY: 'Policy file (beats policy).',
  SWITCHYARD_BODY_LIMIT_BYTES: 'Largest body accepted (beats server.body_limit_bytes).',
  SWITCHYARD_DRAIN_TIMEOUT_MS: 'Drain deadline on SIGTERM (beats server.drain_timeout_ms).',
  SWITCHYARD_ADMIN_PORT: 'Port of the probes/metrics listener (beats server.admin_port).',
  SWITCHYARD_ADMIN_HOST: 'Interface of the probes/metrics listener (beats server.admin_host).',
  SWITCHYARD_STORAGE: 'memory, sqlite or postgres (beats storage.kind).',
  SWITCHYARD_SQLITE_PATH: 'SQLite file (beats storage.path).',
  DATABASE_URL: 'Postgres connection string; storage defaults to postgres when it is set (and storage.kind is not).',
  REDIS_URL: 'Redis for budgets, key limits and rate limits across replicas; accounting.state defaults to redis when it is set.',
  SWITCHYARD_REDIS_PREFIX: 'Prefix of every Redis key (beats accounting.redis_prefix).',
  SWITCHYARD_ACCOUNTING_STATE: 'memory or redis (beats accounting.state).',
  SWITCHYARD_ACCOUNTING_FAIL: 'closed or open: what happens while Redis is unreachable (beats accounting.fail).',
  SWITCHYARD_TRACES: 'auto, on or off (beats telemetry.traces).',
  SWITCHYARD_LOG_LEVEL: 'Log level (beats logging.level).',
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validateConfig = ajv.compile(configSchema);

/** What a parsed file looks like once it passed the schema. */
interface ConfigDocument {
  version: 1;
  server?: {
    host?: string;
    port?: number;
    body_limit_bytes?: number;
    keep_alive_interval_ms?: number;
    drain_timeout_ms?: number;
    admin_port?: number;
    admin_host?: string;
    watch?: boolean;
  };
  catalog: string[];
  policy: string;
  credentials?: Record<string, SecretReference>;
  gateway_keys?: GatewayKeyReference[];
  storage?: { kind?: StorageKind; path?: string; url?: SecretReference; schema?: string };
  accounting?: {
    enabled?: boolean;
    state?: 'memory' | 'redis';
    redis_prefix?: string;
    redis_url?: SecretReference;
    fail?: 'closed' | 'open';
    rate_limits?: { requests_per_minute?: number; tokens_per_minute?: number };
    alerts?: { thresholds?: number[]; webhook_url?: SecretReference };
    keys_refresh_ms?: number;
    redis_call_spacing_ms?: number;
  };
  telemetry?: { traces?: 'auto' | 'on' | 'off'; service_name?: string };
  logging?: { level?: string };
}

function describe(pointer: string): string {
  if (pointer === '') return 'the config';
  return pointer
    .slice(1)
    .split('/')
    .map((segment, index) => (/^\d+$/.test(segment) ? `[${segment}]` : index === 0 ? segment : `.${segment}`))
    .join('');
}

/** Literal strings where a secret reference belongs: the one mistake that must never pass. */
function literalSecrets(data: unknown): ProblemAt[] {
  if (typeof data !== 'object' || data === null) return [];
  const document = data as Record<string, unknown>;
  const problems: ProblemAt[] = [];
  const check = (value: unknown, pointer: string): void => {
    if (typeof value === 'string' || typeof value === 'number') {
      problems.push({
        code: 'config_literal_secret',
        message: `${describe(pointer)} holds a literal value; secrets are never written in the config`,
        hint: 'use {env: VARIABLE_NAME} or {file: /path/to/secret}',
        pointer,
      });
    }
  };
  const credentials = document.credentials;
  if (typeof credentials === 'object' && credentials !== null) for (const [provider, value] of Object.entries(credentials)) check(value, `/credentials/${provider}`);
  const keys = document.gateway_keys;
  if (Array.isArray(keys)) keys.forEach((value, index) => check(value, `/gateway_keys/${index}`));
  const storage = document.storage;
  if (typeof storage === 'object' && storage !== null) check((storage as Record<string, unknown>).url, '/storage/url');
  const accounting = document.accounting as { redis_url?: unknown; alerts?: { webhook_url?: unknown } } | null | undefined;
  if (typeof accounting === 'object' && accounting !== null) {
    check(accounting.redis_url, '/accounting/redis_url');
    if (typeof accounting.alerts === 'object' && accounting.alerts !== null) check(accounting.alerts.webhook_url, '/accounting/alerts/webhook_url');
  }
  return problems;
}

function schemaProblem(error: ErrorObject): ProblemAt | undefined {
  // Branch errors inside oneOf are summarised by the oneOf error itself.
  if (error.schemaPath.includes('/oneOf/')) return undefined;
  const pointer = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties': {
      const property = String(params.additionalProperty);
      return { code: 'config_unknown_property', message: `unknown property \`${property}\` in ${describe(pointer)}`, pointer: `${pointer}/${property}`, target: 'key' };
    }
    case 'required':
      return { code: 'config_missing_property', message: `${describe(pointer)} is missing required property \`${String(params.missingProperty)}\``, pointer };
    case 'oneOf':
      return error.schemaPath.includes('gateway_key')
        ? { code: 'config_invalid_value', message: `${describe(pointer)} needs exactly one of \`env\`, \`file\` or \`sha256\``, pointer }
        : { code: 'config_invalid_value', message: `${describe(pointer)} must be {env: NAME} or {file: PATH}`, pointer };
    case 'enum':
      return { code: 'config_invalid_value', message: `${describe(pointer)} must be one of ${(params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(', ')}`, pointer };
    case 'const':
      return { code: 'config_invalid_value', message: `${describe(pointer)} must be ${JSON.stringify(params.allowedValue)}`, pointer };
    case 'type':
      return { code: 'config_wrong_type', message: `${describe(pointer)} must be ${String(params.type)}`, pointer };
    default:
      return { code: 'config_invalid_value', message: `${describe(pointer)} ${error.message ?? 'is invalid'}`, pointer };
  }
}

function validate(data: unknown, sourceMap: SourceMap): Diagnostic[] {
  const literal = literalSecrets(data);
  const problems = [...literal];
  if (!validateConfig(data)) {
    for (const error of validateConfig.errors ?? []) {
      const problem = schemaProblem(error);
      if (!problem) continue;
      // A literal secret already explains everything wrong at and under its place.
      if (literal.some((secret) => problem.pointer === secret.pointer || problem.pointer.startsWith(`${secret.pointer}/`))) continue;
      problems.push(problem);
    }
  }
  const seen = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const problem of problems) {
    const identity = `${problem.code}|${problem.pointer}|${problem.message}`;
    if (seen.has(identity)) continue;
    seen.add(identity);
    diagnostics.push(diagnosticAt(sourceMap, problem));
  }
  return sortDiagnostics(diagnostics);
}

function environmentProblem(variable: string, message: string): Diagnostic {
  return { code: 'config_env_invalid', severity: 'error', message: `${variable}: ${message}`, file: '<environment>', line: 1, column: 1 };
}

function integerFrom(env: Record<string, string | undefined>, variable: string, minimum: number, maximum: number, problems: Diagnostic[]): number | undefined {
  const text = env[variable];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    problems.push(environmentProblem(variable, `must be an integer from ${minimum} to ${maximum}, got ${JSON.stringify(text)}`));
    return undefined;
  }
  return value;
}

function oneOf<T extends string>(env: Record<string, string | undefined>, variable: string, allowed: readonly T[], problems: Diagnostic[]): T | undefined {
  const text = env[variable];
  if (text === undefined || text === '') return undefined;
  if ((allowed as readonly string[]).includes(text)) return text as T;
  problems.push(environmentProblem(variable, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(text)}`));
  return undefined;
}

/**
 * Parse, validate and resolve a config text. `file` is the config's path (relative paths inside
 * resolve against its folder); `cwd` resolves paths given in the environment.
 */
export function loadConfig(input: { file: string; text: string; env: Record<string, string | undefined>; cwd: string; overrides?: ConfigOverrides }): Result<GatewayConfig> {
  const parsed = parseYaml(input.text, input.file);
  if (!parsed.ok) return parsed;
  const diagnostics = validate(parsed.value.data, parsed.value.sourceMap);
  if (diagnostics.length > 0) return { ok: false, diagnostics };
  const document = parsed.value.data as ConfigDocument;
  const { env } = input;
  const base = dirname(resolvePath(input.cwd, input.file));
  const fromFile = (path: string): string => (isAbsolute(path) ? path : resolvePath(base, path));
  const fromEnvironment = (path: string): string => resolvePath(input.cwd, path);

  const problems: Diagnostic[] = [];
  const port = input.overrides?.port ?? integerFrom(env, 'PORT', 0, 65_535, problems) ?? document.server?.port ?? DEFAULT_PORT;
  const drainTimeoutMs = integerFrom(env, 'SWITCHYARD_DRAIN_TIMEOUT_MS', 0, 3_600_000, problems) ?? document.server?.drain_timeout_ms ?? DEFAULT_DRAIN_TIMEOUT_MS;
  const adminPort = integerFrom(env, 'SWITCHYARD_ADMIN_PORT', 0, 65_535, problems) ?? document.server?.admin_port;
  const bodyLimitBytes = integerFrom(env, 'SWITCHYARD_BODY_LIMIT_BYTES', 1024, 1_073_741_824, problems) ?? document.server?.body_limit_bytes ?? 4 * 1024 * 1024;
  // The embedded SQLite file by default; Postgres when a connection string is in the environment.
  const storageKind = oneOf(env, 'SWITCHYARD_STORAGE', ['memory', 'sqlite', 'postgres'] as const, problems) ?? document.storage?.kind ?? (env.DATABASE_URL ? 'postgres' : 'sqlite');
  const accounting = document.accounting ?? {};
  const stateKind = oneOf(env, 'SWITCHYARD_ACCOUNTING_STATE', ['memory', 'redis'] as const, problems) ?? accounting.state ?? (env.REDIS_URL ? 'redis' : 'memory');
  const failMode = oneOf(env, 'SWITCHYARD_ACCOUNTING_FAIL', ['closed', 'open'] as const, problems) ?? accounting.fail ?? 'closed';
  let redisUrl = accounting.redis_url;
  if (stateKind === 'redis' && redisUrl === undefined) {
    if (env.REDIS_URL) redisUrl = { env: 'REDIS_URL' };
    else problems.push({ ...environmentProblem('REDIS_URL', 'accounting.state is redis but neither accounting.redis_url nor REDIS_URL is set'), file: input.file });
  }
  const traces = oneOf(env, 'SWITCHYARD_TRACES', ['auto', 'on', 'off'] as const, problems) ?? document.telemetry?.traces ?? 'auto';
  const logLevel = oneOf(env, 'SWITCHYARD_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, problems) ?? document.logging?.level ?? 'info';
  const catalogFromEnvironment = env.SWITCHYARD_CATALOG?.split(',').map((path) => path.trim()).filter((path) => path !== '');
  let storageUrl = document.storage?.url;
  if (storageKind === 'postgres' && storageUrl === undefined) {
    if (env.DATABASE_URL) storageUrl = { env: 'DATABASE_URL' };
    else problems.push({ ...environmentProblem('DATABASE_URL', 'storage is postgres but neither storage.url nor DATABASE_URL is set'), file: input.file });
  }
  if (problems.length > 0) return { ok: false, diagnostics: problems };

  return {
    ok: true,
    value: {
      file: resolvePath(input.cwd, input.file),
      server: {
        host: input.overrides?.host ?? (env.SWITCHYARD_HOST || undefined) ?? document.server?.host ?? DEFAULT_HOST,
        port,
        bodyLimitBytes,
        keepAliveIntervalMs: document.server?.keep_alive_interval_ms ?? 1000,
        drainTimeoutMs,
        adminPort,
        adminHost: (env.SWITCHYARD_ADMIN_HOST || undefined) ?? document.server?.admin_host ?? DEFAULT_HOST,
        watch: document.server?.watch ?? true,
      },
      catalogFiles: catalogFromEnvironment && catalogFromEnvironment.length > 0 ? catalogFromEnvironment.map(fromEnvironment) : document.catalog.map(fromFile),
      policyFile: env.SWITCHYARD_POLICY ? fromEnvironment(env.SWITCHYARD_POLICY) : fromFile(document.policy),
      credentials: Object.fromEntries(
        Object.entries(document.credentials ?? {}).map(([provider, reference]) => [provider, 'file' in reference ? { file: fromFile(reference.file) } : reference]),
      ),
      gatewayKeys: (document.gateway_keys ?? []).map((key) => (key.file === undefined ? key : { ...key, file: fromFile(key.file) })),
      storage: {
        kind: storageKind,
        path: env.SWITCHYARD_SQLITE_PATH ? fromEnvironment(env.SWITCHYARD_SQLITE_PATH) : document.storage?.path === undefined ? undefined : fromFile(document.storage.path),
        url: storageUrl && 'file' in storageUrl ? { file: fromFile(storageUrl.file) } : storageUrl,
        ...(document.storage?.schema ? { schema: document.storage.schema } : {}),
      },
      accounting: {
        enabled: accounting.enabled ?? true,
        state: stateKind,
        redisPrefix: env.SWITCHYARD_REDIS_PREFIX || accounting.redis_prefix || 'switchyard:',
        redisUrl: redisUrl && 'file' in redisUrl ? { file: fromFile(redisUrl.file) } : redisUrl,
        fail: failMode,
        rateLimits: { requestsPerMinute: accounting.rate_limits?.requests_per_minute, tokensPerMinute: accounting.rate_limits?.tokens_per_minute },
        alertThresholds: accounting.alerts?.thresholds ?? [0.5, 0.8, 1],
        alertWebhook: accounting.alerts?.webhook_url,
        keysRefreshMs: accounting.keys_refresh_ms ?? 5000,
        redisCallSpacingMs: accounting.redis_call_spacing_ms,
      },
      telemetry: { traces, serviceName: env.OTEL_SERVICE_NAME || document.telemetry?.service_name || 'switchyard' },
      logLevel,
    },
  };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The secret a reference points at, or undefined when the variable is unset or empty. A file that
 * cannot be read is an error (a mounted secret that is missing is a deployment mistake).
 */
export function resolveSecret(reference: SecretReference, env: Record<string, string | undefined>, readText: (path: string) => string): string | undefined {
  if ('env' in reference) {
    const value = env[reference.env]?.trim();
    return value === '' ? undefined : value;
  }
  const value = readText(reference.file).trim();
  return value === '' ? undefined : value;
}
