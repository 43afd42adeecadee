/**
 * The engine's contracts: catalog, policy, request facts, snapshot, plan, diagnostics.
 *
 * Everything the engine needs arrives as data shaped by these types; everything it decides leaves
 * as a `Plan` or a `NoRouteError`. The JSON Schemas in `schemas/` describe the YAML forms of
 * `Catalog` and `PolicyDocument`; the `*Compiled*` types are what `compile` turns them into.
 *
 * Naming: YAML and wire shapes use snake_case (they face users and OpenRouter); TypeScript-only
 * internals use camelCase.
 */

// ---------------------------------------------------------------------------------------------
// Results and diagnostics
// ---------------------------------------------------------------------------------------------

/** Outcome of a stage: a value, or every problem found. */
export type Result<T> = { ok: true; value: T; warnings?: Diagnostic[] } | { ok: false; diagnostics: Diagnostic[] };

/** A problem found in a policy, catalog, config or test file. */
export interface Diagnostic {
  /** Stable, documented code, e.g. `policy_schema_error`. */
  code: string;
  severity: 'error' | 'warning';
  message: string;
  /** How to fix it, when we know. */
  hint?: string;
  /** File name as given to `parse`; `<inline>` when none. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** JSON pointer into the document, e.g. `/rules/2/when`. */
  pointer?: string;
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

/** Wire protocol an adapter speaks. OpenAI-compatible hosts are configuration of one adapter. */
export type ProtocolKind = 'openai-compatible' | 'anthropic' | 'gemini' | 'azure-openai' | 'simulated';

/** Quantization levels, weakest first; a floor excludes everything before it. `unknown` never passes a floor. */
export const QUANTIZATION_ORDER = ['int4', 'fp4', 'int8', 'fp6', 'fp8', 'fp16', 'bf16', 'fp32'] as const;
export type Quantization = (typeof QUANTIZATION_ORDER)[number] | 'unknown';

/** USD per token (or per request / image), kept as given so accounting can use exact decimals. */
export interface Pricing {
  prompt: string;
  completion: string;
  request?: string;
  image?: string;
  input_cache_read?: string;
  input_cache_write?: string;
  /** Price of reasoning tokens when billed apart from completion; defaults to `completion`. */
  internal_reasoning?: string;
  /** Long-context tier: above `min_prompt_tokens`, these prices replace the base ones key by key. */
  overrides?: Array<{ min_prompt_tokens: number } & Partial<Omit<Pricing, 'overrides'>>>;
}

export interface DataPolicy {
  /** Does the provider train on (or may retain for training) prompts? */
  trains_on_prompts: boolean;
  /** Days prompts are retained; 0 = not retained. */
  retention_days: number;
  /** Zero data retention available and in force for this provider's endpoints. */
  zdr: boolean;
}

export interface CatalogProvider {
  /** Slug, e.g. `openai`, `deepinfra`, `deepinfra/turbo`. Lowercase. */
  id: string;
  /** Display name as OpenRouter reports it, e.g. `DeepInfra`. */
  name: string;
  protocol: ProtocolKind;
  /** Base URL of the provider's API. Not a secret. Simulated providers have none. */
  base_url?: string;
  data_policy: DataPolicy;
  /** e.g. `us`, `eu`. */
  region: string;
  status: 'active' | 'degraded' | 'disabled';
  /** Extra settings the adapter reads (simulated latency, azure api-version, preset quirks...). */
  options?: Record<string, unknown>;
}

export interface CatalogEndpoint {
  /** Provider id. */
  provider: string;
  /** The model name the provider expects on the wire. */
  upstream_model: string;
  pricing: Pricing;
  /** Overrides the model's context length for this endpoint. */
  context_length?: number;
  max_completion_tokens?: number;
  quantization?: Quantization;
  /** OpenRouter parameter names this endpoint accepts (`tools`, `temperature`, ...). */
  supported_parameters: string[];
  /** `default`, or a service tier such as `flex`/`priority` (never matched by a base slug). */
  tier?: string;
  /** The endpoint is the model's `:free` variant. */
  free?: boolean;
}

export interface CatalogModel {
  /** `author/slug`. */
  id: string;
  name: string;
  description?: string;
  /** Unix seconds. */
  created?: number;
  context_length: number;
  input_modalities: string[];
  output_modalities: string[];
  tokenizer?: string;
  endpoints: CatalogEndpoint[];
}

export interface Catalog {
  providers: CatalogProvider[];
  models: CatalogModel[];
}

// ---------------------------------------------------------------------------------------------
// Policy (YAML form; see schemas/policy.v1.schema.json)
// ---------------------------------------------------------------------------------------------

/** A JSON Logic expression, restricted by our allowlist at compile time. */
export type Condition = unknown;

export type SortBy = 'price' | 'latency' | 'throughput' | 'reliability';

/** Hard constraints. Everywhere they appear they only narrow; a request can never loosen them. */
export interface Constraints {
  /** `deny`: exclude providers that train on prompts. */
  data_collection?: 'allow' | 'deny';
  /** Only zero-data-retention endpoints. */
  zdr?: boolean;
  /** Allowed provider regions. */
  regions?: string[];
  /** Minimum quantization (see QUANTIZATION_ORDER). */
  quantization_floor?: Quantization;
  /** USD per million tokens (prompt, completion) and USD per request. */
  max_price?: { prompt?: number; completion?: number; request?: number };
  /** Cap on one request's worst-case cost in USD: prompt estimate + max_tokens at endpoint prices. */
  max_request_cost?: number;
  /** Provider ids (or base slugs) allowed / denied. */
  providers?: { allow?: string[]; deny?: string[] };
  /** Budget ids (declared under `budgets`) that must have headroom for the request. */
  budgets?: string[];
  /** Exclude endpoints whose rate-limit headroom in the snapshot is exhausted. */
  respect_rate_limits?: boolean;
}

export interface Budget {
  id: string;
  /** Whose spend is counted: per key, user, team, or request tag. */
  scope: 'key' | 'user' | 'team' | 'tag' | 'global';
  period: 'day' | 'week' | 'month';
  /** USD. */
  limit: number;
  /** For scope `tag`: the tag counted. */
  tag?: string;
  /** Alert thresholds as fractions, e.g. [0.5, 0.8, 1]. */
  alerts?: number[];
  /** Models to route to when the budget cannot fit the request (downgrade instead of 402). */
  downgrade_to?: string[];
}

export interface RetryPolicy {
  /** Retries of the same endpoint after a retryable error. */
  max: number;
  backoff_ms: number;
  multiplier: number;
  max_backoff_ms: number;
}

export interface Timeouts {
  /** Deadline for the first byte of one attempt. */
  first_byte_ms: number;
  /** Deadline for one whole attempt. */
  attempt_ms: number;
  /** Deadline for the whole request, all attempts included. */
  total_ms: number;
}

/** Latency / throughput targets; endpoints that miss them are demoted, never dropped. */
export interface Targets {
  /** Time to first token, ms. */
  latency_p50_ms?: number;
  latency_p90_ms?: number;
  /** Tokens per second. */
  throughput_p50?: number;
  throughput_p90?: number;
}

/** A gradual rollout / A-B split between providers (or models, with `model:`). */
export interface WeightedSplit {
  /** Keys are provider ids (or model ids when `by: model`), values non-negative weights. */
  weights: Record<string, number>;
  by?: 'provider' | 'model';
  /** Fact path whose value keeps one caller in one arm, e.g. `user` or `key`. Absent: seeded draw. */
  sticky?: string;
}

/** Request-side overrides a policy can lock (then ignored, with a trace entry). */
export type LockableOverride = 'order' | 'sort' | 'only' | 'ignore' | 'models' | 'variants' | 'allow_fallbacks' | 'max_price' | 'preferences';

export interface PolicyRule {
  id: string;
  description?: string;
  /** JSON Logic over request facts; absent = always. */
  when?: Condition;
  /** Constraints added when the rule matches (they accumulate across matching rules). */
  require?: Constraints;
  /** Replace the requested model (an id, alias or `auto`). */
  route_to?: string;
  sort?: SortBy;
  split?: WeightedSplit;
  targets?: Targets;
  /** Model fallback chain appended after the primary model. */
  fallbacks?: string[];
  attempts?: number;
  retries?: Partial<RetryPolicy>;
  timeouts?: Partial<Timeouts>;
  lock?: LockableOverride[];
  /** Stop evaluating later rules when this one matches. */
  final?: boolean;
}

export interface AutoModelSettings {
  /** How `auto` picks among capable models when no rule routes it. */
  strategy: 'cheapest' | 'fastest' | 'most_reliable';
  /** Candidate models; default every model in the catalog. */
  candidates?: string[];
}

export interface PolicyDocument {
  version: 1;
  id: string;
  description?: string;
  /** Request headers (lowercase) exposed to conditions as `headers.<name>`. */
  expose_headers?: string[];
  /** Model aliases: `fast: groq/llama-3.1-8b-instant`. */
  aliases?: Record<string, string>;
  auto?: AutoModelSettings;
  defaults?: {
    attempts?: number;
    retries?: Partial<RetryPolicy>;
    timeouts?: Partial<Timeouts>;
    sort?: SortBy;
    targets?: Targets;
  };
  /** Global constraints, applied to every request. */
  require?: Constraints;
  budgets?: Budget[];
  /** Request-side overrides locked for every request. */
  lock?: LockableOverride[];
  rules?: PolicyRule[];
  options?: {
    /** Allow `==` / `!=` in conditions (loose equality). Off: they are compile errors. */
    loose_equality?: boolean;
  };
}

// ---------------------------------------------------------------------------------------------
// Request facts (what conditions and evaluation see of a request)
// ---------------------------------------------------------------------------------------------

/** The normalized OpenRouter `provider` object. */
export interface ProviderPreferences {
  order?: string[];
  allow_fallbacks?: boolean;
  only?: string[];
  ignore?: string[];
  data_collection?: 'allow' | 'deny';
  zdr?: boolean;
  sort?: { by: 'price' | 'throughput' | 'latency'; partition: 'model' | 'none' };
  /** USD per million tokens for prompt/completion; USD per request / image. */
  max_price?: { prompt?: number; completion?: number; request?: number; image?: number };
  quantizations?: Quantization[];
  require_parameters?: boolean;
  /** Tokens/s, by percentile. A number is p50. */
  preferred_min_throughput?: { p50?: number; p75?: number; p90?: number; p99?: number };
  /** Seconds (as OpenRouter takes them), by percentile. A number is p50. */
  preferred_max_latency?: { p50?: number; p75?: number; p90?: number; p99?: number };
}

export type Variant = 'free' | 'nitro' | 'floor';

/** Who is calling, established by the sidecar's authentication (never a secret). */
export interface Identity {
  /** Gateway key id (hash prefix or name), not the key. */
  key?: string;
  user?: string;
  team?: string;
}

export interface RequestFacts {
  /** The primary requested model (first of `models`), variant stripped; null when none was given. */
  model: string | null;
  /** Requested models in order: `model` first, then `models`, variants stripped. */
  models: string[];
  /** Variant per entry of `models` (same index), or null. */
  variants: Array<Variant | null>;
  tags: string[];
  key: string | null;
  user: string | null;
  team: string | null;
  /** Only the headers the policy exposes, lowercase names. */
  headers: Record<string, string>;
  /** Cheap estimate of prompt tokens (see engine/facts). */
  prompt_tokens: number;
  /** `max_tokens` or `max_completion_tokens`, or null. */
  max_tokens: number | null;
  tools: boolean;
  tool_choice: string | null;
  response_format: 'text' | 'json_object' | 'json_schema' | null;
  /** `text`, `image`, `audio`, `file`, `video`. */
  input_modalities: string[];
  stream: boolean;
  /** Request parameter names present (OpenRouter names), for `require_parameters` and dropping. */
  parameters: string[];
  provider: ProviderPreferences;
  /** Value used for sticky routing when no other sticky fact is chosen (session id / user). */
  session: string | null;
}

// ---------------------------------------------------------------------------------------------
// Snapshot (live state, passed in)
// ---------------------------------------------------------------------------------------------

export interface Percentiles {
  p50?: number;
  p75?: number;
  p90?: number;
  p99?: number;
}

export interface EndpointHealth {
  /** Errors / attempts over the health window, 0..1. */
  error_rate?: number;
  /** A significant failure in the recent window (OpenRouter: 30 s). */
  recently_failed?: boolean;
  circuit?: 'closed' | 'open' | 'half_open';
  /** Time to first token, ms. */
  latency_ms?: Percentiles;
  /** Tokens per second. */
  throughput?: Percentiles;
  /** Percent 0..100, null when too little data. */
  uptime?: number | null;
  /** Remaining requests in the current rate-limit window; 0 = exhausted. */
  rate_limit_remaining?: number;
}

export interface Snapshot {
  /** Keyed by endpoint id (`<model>@<provider>`). */
  endpoints?: Record<string, EndpointHealth>;
  /** Spend in USD in the current period, keyed by budget scope key (see `budgetScopeKey`). */
  spend?: Record<string, number>;
  /** Provider ids with credentials present. Absent: assume all present. */
  credentials?: string[];
}

export interface EvaluateOptions {
  /** ISO time or epoch ms; budgets' periods are computed from it. */
  now: number;
  /** Seed for every draw (weighted first pick, splits without sticky). */
  seed: number;
}

// ---------------------------------------------------------------------------------------------
// Plan (output)
// ---------------------------------------------------------------------------------------------

export interface PlanAttempt {
  /** `<model>@<provider>`. */
  endpoint: string;
  provider: string;
  provider_name: string;
  protocol: ProtocolKind;
  model: string;
  upstream_model: string;
  /** Pricing as in the catalog (USD per token strings). */
  pricing: Pricing;
  /** USD: min = prompt estimate only, max = prompt estimate + max completion tokens. */
  estimated_cost: { min: number; max: number };
  timeouts: Timeouts;
  retries: RetryPolicy;
  /** Request parameters to drop for this endpoint (unsupported). */
  drop_parameters: string[];
  /** Why it is here, and here in this position (codes + text). */
  reasons: string[];
}

/** Stable reason codes for an excluded candidate. */
export type ExclusionCode =
  | 'provider_disabled'
  | 'credentials_missing'
  | 'data_collection'
  | 'zdr'
  | 'region'
  | 'quantization'
  | 'max_price'
  | 'max_request_cost'
  | 'provider_denied'
  | 'provider_not_allowed'
  | 'request_only'
  | 'request_ignore'
  | 'request_order'
  | 'request_quantizations'
  | 'require_parameters'
  | 'context_length'
  | 'max_tokens'
  | 'tools_unsupported'
  | 'response_format_unsupported'
  | 'modality_unsupported'
  | 'budget_exhausted'
  | 'rate_limited'
  | 'circuit_open'
  | 'variant'
  | 'tier'
  | 'no_fallbacks'
  | 'attempt_limit';

export interface Exclusion {
  endpoint: string;
  provider: string;
  model: string;
  reason: ExclusionCode;
  detail: string;
  /** Rule id, `policy` for top-level settings, `request` for the request's own preferences. */
  source: string;
}

export interface TraceEntry {
  stage: 'resolve' | 'rule' | 'filter' | 'order' | 'plan';
  /** Rule id when stage = rule. */
  rule?: string;
  matched?: boolean;
  message: string;
}

export interface Plan {
  plan_version: 'v1';
  policy: { id: string; version: string };
  /** What the caller asked for, and how it was resolved. */
  requested: { models: string[]; strategy: 'direct' | 'alias' | 'auto' | 'rule' | 'fallback' };
  attempts: PlanAttempt[];
  excluded: Exclusion[];
  matched_rules: string[];
  /** How the first model's endpoints were ordered, e.g. `weighted-inverse-square-price`, `sort:price`, `order`. */
  ordering: string;
  allow_fallbacks: boolean;
  limits: { max_attempts: number; total_ms: number };
  estimate: { prompt_tokens: number; max_completion_tokens: number };
  /** Budgets checked and their headroom in USD. */
  budgets: Array<{ id: string; scope_key: string; spent: number; limit: number; remaining: number }>;
  trace: TraceEntry[];
}

/** Why no route exists. `status` is what the sidecar answers (OpenRouter: 404; budgets: 402). */
export interface NoRouteError {
  code: 'no_route' | 'model_not_found' | 'budget_exceeded' | 'invalid_request';
  status: 400 | 402 | 404;
  message: string;
  excluded: Exclusion[];
  matched_rules: string[];
  trace: TraceEntry[];
}

export type EvaluateResult = { ok: true; plan: Plan } | { ok: false; error: NoRouteError };

// ---------------------------------------------------------------------------------------------
// Compiled forms (produced by compile, consumed by evaluate). Built once per load, never per request.
// ---------------------------------------------------------------------------------------------

/** Numeric prices, USD per token (per request / image for those keys). */
export interface NumericPricing {
  prompt: number;
  completion: number;
  request: number;
  image: number;
  input_cache_read: number;
  input_cache_write: number;
  internal_reasoning: number;
}

export interface CompiledEndpoint {
  /** `<model>@<provider>`. */
  id: string;
  model: CatalogModel;
  provider: CatalogProvider;
  endpoint: CatalogEndpoint;
  /** Endpoint's context length, or the model's. */
  context_length: number;
  /** Endpoint's max completion tokens, or its context length. */
  max_completion_tokens: number;
  price: NumericPricing;
  /** Set for fast `supported_parameters` checks. */
  parameters: ReadonlySet<string>;
}

export interface CompiledCatalog {
  catalog: Catalog;
  /** Content hash of the catalog source. */
  version: string;
  providers: ReadonlyMap<string, CatalogProvider>;
  models: ReadonlyMap<string, CatalogModel>;
  /** Endpoints of each model, in catalog order. */
  endpointsByModel: ReadonlyMap<string, readonly CompiledEndpoint[]>;
  endpoints: readonly CompiledEndpoint[];
}

/** A condition after allowlist checking: evaluates facts, never throws. */
export interface CompiledCondition {
  source: Condition;
  evaluate(facts: RequestFacts): { value: boolean; error?: string };
}

export interface CompiledRule {
  rule: PolicyRule;
  /** Absent `when` compiles to an always-true condition. */
  when: CompiledCondition;
  /** Where the rule starts in its file, for messages. */
  location: { file: string; line: number; column: number };
}

export interface CompiledPolicy {
  id: string;
  /** Content hash (sha256 hex, first 12) of the policy source text. */
  version: string;
  file: string;
  document: PolicyDocument;
  rules: CompiledRule[];
  defaults: {
    attempts: number;
    retries: RetryPolicy;
    timeouts: Timeouts;
    sort?: SortBy;
    targets?: Targets;
  };
  require: Constraints;
  budgets: ReadonlyMap<string, Budget>;
  lock: ReadonlySet<LockableOverride>;
  /** Alias name -> model id (resolved and checked against the catalog). */
  aliases: ReadonlyMap<string, string>;
  auto: AutoModelSettings;
  exposeHeaders: readonly string[];
}
