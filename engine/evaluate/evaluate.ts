/**
 * evaluate(policy, catalog, facts, snapshot, {now, seed}) -> plan, or why there is none.
 *
 * Pure and deterministic: no clock, no randomness but the seed, no I/O; identical inputs give a
 * byte-identical plan. Stages: rules -> model chain -> per-model hard filters -> soft capability
 * preferences -> ordering -> plan. Semantics are documented in engine/README.md, "Evaluation".
 */
import type {
  CompiledCatalog,
  CompiledPolicy,
  EndpointHealth,
  EvaluateOptions,
  EvaluateResult,
  Exclusion,
  NoRouteError,
  Plan,
  PlanAttempt,
  RequestFacts,
  Snapshot,
  Targets,
  TraceEntry,
  Variant,
} from '../types.ts';
import { budgetScopeKey } from './budgets.ts';
import { catalogIndex, type ModelInfo } from './catalog-index.ts';
import { estimateCost } from './cost.ts';
import { checkEndpoint, softNeeds, type BudgetCheck, type FilterContext, type RequestFilters } from './filters.ts';
import { orderCandidates, type Candidate, type OrderSettings } from './ordering.ts';
import { AUTO_MODELS, factValue, resolveChain, type ChainItem } from './resolve.ts';
import { evaluateRules, type RuleOutcome } from './rules.ts';

const NO_ENDPOINTS: Readonly<Record<string, never>> = Object.freeze({});
const NO_NAMES: readonly string[] = Object.freeze([]);
const PERCENTILES = ['p50', 'p75', 'p90', 'p99'] as const;

/** Does the endpoint miss a latency/throughput target (policy) or preference (request)? Unknown statistics never miss. */
function missesTargets(health: EndpointHealth | undefined, targets: Targets | null, preferences: RequestFacts['provider'] | null): boolean {
  if (health === undefined) return false;
  const latency = health.latency_ms;
  const throughput = health.throughput;
  if (targets !== null) {
    if (targets.latency_p50_ms !== undefined && latency?.p50 !== undefined && latency.p50 > targets.latency_p50_ms) return true;
    if (targets.latency_p90_ms !== undefined && latency?.p90 !== undefined && latency.p90 > targets.latency_p90_ms) return true;
    if (targets.throughput_p50 !== undefined && throughput?.p50 !== undefined && throughput.p50 < targets.throughput_p50) return true;
    if (targets.throughput_p90 !== undefined && throughput?.p90 !== undefined && throughput.p90 < targets.throughput_p90) return true;
  }
  if (preferences !== null) {
    const minThroughput = preferences.preferred_min_throughput;
    if (minThroughput !== undefined && throughput !== undefined) {
      for (const key of PERCENTILES) {
        const wanted = minThroughput[key];
        const actual = throughput[key];
        if (wanted !== undefined && actual !== undefined && actual < wanted) return true;
      }
    }
    const maxLatency = preferences.preferred_max_latency;
    if (maxLatency !== undefined && latency !== undefined) {
      for (const key of PERCENTILES) {
        const wanted = maxLatency[key];
        const actual = latency[key];
        // Preferences are in seconds (OpenRouter), snapshot latencies in ms.
        if (wanted !== undefined && actual !== undefined && actual > wanted * 1000) return true;
      }
    }
  }
  return false;
}

function lockedFilter(rules: RuleOutcome, name: 'only' | 'ignore' | 'max_price', trace: TraceEntry[]): boolean {
  if (!rules.lock.has(name)) return false;
  trace.push({ stage: 'filter', message: `request provider.${name} ignored: locked by ${rules.lockSource}` });
  return true;
}

/** The request's narrowing preferences after policy locks, tracing what a lock discarded. */
function requestFilters(facts: RequestFacts, rules: RuleOutcome, trace: TraceEntry[]): RequestFilters {
  const provider = facts.provider;
  const only = provider.only !== undefined && !lockedFilter(rules, 'only', trace) ? provider.only : null;
  const ignore = provider.ignore !== undefined && !lockedFilter(rules, 'ignore', trace) ? provider.ignore : null;
  const maxPrice = provider.max_price !== undefined && !lockedFilter(rules, 'max_price', trace) ? provider.max_price : null;
  let namedInFull: readonly string[] = NO_NAMES;
  const order = provider.order !== undefined && !rules.lock.has('order') ? provider.order : null;
  if (order !== null || only !== null) namedInFull = [...(order ?? NO_NAMES), ...(only ?? NO_NAMES)];
  return {
    only,
    ignore,
    maxPrice,
    dataCollectionDeny: provider.data_collection === 'deny',
    zdr: provider.zdr === true,
    quantizations: provider.quantizations ?? null,
    requireParameters: provider.require_parameters === true,
    namedInFull,
  };
}

function hasBudget(checks: readonly BudgetCheck[], id: string): boolean {
  for (const check of checks) if (check.budget.id === id) return true;
  return false;
}

/** Budgets named by the constraints that apply to this request, with headroom. */
function budgetChecks(policy: CompiledPolicy, facts: RequestFacts, snapshot: Snapshot, rules: RuleOutcome, now: number, trace: TraceEntry[]): BudgetCheck[] {
  const checks: BudgetCheck[] = [];
  for (const entry of rules.constraints) {
    const ids = entry.constraints.budgets;
    if (ids === undefined) continue;
    for (const id of ids) {
      if (hasBudget(checks, id)) continue;
      const budget = policy.budgets.get(id);
      if (budget === undefined) {
        trace.push({ stage: 'filter', message: `budget ${id} (${entry.source}) is not declared; ignored` });
        continue;
      }
      const scopeKey = budgetScopeKey(budget, facts, now);
      if (scopeKey === null) {
        trace.push({ stage: 'filter', message: `budget ${id} does not apply: request has no ${budget.scope}${budget.scope === 'tag' ? ` ${budget.tag ?? ''}` : ''}` });
        continue;
      }
      const spent = snapshot.spend?.[scopeKey] ?? 0;
      checks.push({ budget, scopeKey, spent, remaining: budget.limit - spent, source: entry.source });
    }
  }
  return checks;
}

function rateLimitSource(rules: RuleOutcome): string | null {
  for (const entry of rules.constraints) if (entry.constraints.respect_rate_limits === true) return entry.source;
  return null;
}

/**
 * Mutable state of one evaluation. Stages are module-level functions taking it, not closures:
 * a closure per call costs an allocation (and, under tsx's keepNames, a defineProperty).
 */
interface Evaluation {
  policy: CompiledPolicy;
  facts: RequestFacts;
  rules: RuleOutcome;
  seed: number;
  context: FilterContext;
  snapshot: Snapshot;
  excluded: Exclusion[];
  /** Endpoints kept out by budgets alone (they would pass everything else). */
  budgetOnly: Candidate[];
  trace: TraceEntry[];
  /** Request ordering preferences after locks. */
  order: readonly string[] | null;
  requestSort: NonNullable<RequestFacts['provider']['sort']> | null;
  allowFallbacks: boolean;
  preferences: RequestFacts['provider'] | null;
  targets: Targets | null;
  partitionNone: boolean;
  split: OrderSettings['split'];
  ordered: Candidate[];
  /** Candidates of every model, sorted together at the end (partition none). */
  pooled: Candidate[];
  chainModels: string[];
  roles: string[];
  firstLabel: string | null;
}

function demotionOf(health: EndpointHealth | undefined): string | null {
  if (health === undefined) return null;
  if (health.circuit === 'open') return 'circuit open';
  if (health.recently_failed === true) return 'recently failed';
  return health.rate_limit_remaining === 0 ? 'rate limit exhausted' : null;
}

function excludeCandidate(state: Evaluation, candidate: Candidate, reason: Exclusion['reason'], detail: string): void {
  const compiled = candidate.info.endpoint;
  state.excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason, detail, source: 'request' });
}

/** Filter one model's endpoints into candidates (recording exclusions), then apply soft capability preferences. */
function modelCandidates(state: Evaluation, info: ModelInfo, variant: Variant | null, chainIndex: number): Candidate[] {
  const context = state.context;
  const endpoints = state.snapshot.endpoints ?? NO_ENDPOINTS;
  const checkTargets = state.targets !== null || state.preferences !== null;
  const candidates: Candidate[] = [];
  for (const endpointInfo of info.endpoints) {
    const compiled = endpointInfo.endpoint;
    const health = endpoints[compiled.id];
    const cost = estimateCost(endpointInfo, context.facts);
    const check = checkEndpoint(context, endpointInfo, health, cost, variant);
    if (check.failure !== null) {
      state.excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason: check.failure.reason, detail: check.failure.detail, source: check.failure.source });
      if (check.budgetOnly) state.budgetOnly.push({ info: endpointInfo, health, cost, demotion: null, missesTargets: false, chainIndex, position: '' });
      continue;
    }
    const candidate: Candidate = {
      info: endpointInfo,
      health,
      cost,
      demotion: demotionOf(health),
      missesTargets: checkTargets ? missesTargets(health, state.targets, state.preferences) : false,
      chainIndex,
      position: '',
    };
    candidates.push(candidate);
  }
  if (candidates.length === 0) return candidates;

  for (const need of softNeeds(context.facts)) {
    let supported = 0;
    for (const candidate of candidates) if (candidate.info.endpoint.parameters.has(need.parameter)) supported++;
    if (supported === candidates.length) continue;
    if (supported === 0) {
      state.trace.push({ stage: 'filter', message: `${info.model.id}: no endpoint supports ${need.label}; kept, parameter dropped (soft preference)` });
      continue;
    }
    for (let index = candidates.length - 1; index >= 0; index--) {
      const candidate = candidates[index]!;
      if (candidate.info.endpoint.parameters.has(need.parameter)) continue;
      excludeCandidate(state, candidate, need.reason, `other endpoints of ${info.model.id} support ${need.label}`);
      candidates.splice(index, 1);
    }
  }
  return candidates;
}

/** Ordering settings for one model: request sort, then its variant, then the rule/policy sort. */
function settingsFor(state: Evaluation, variant: Variant | null): OrderSettings {
  const rules = state.rules;
  let sort: OrderSettings['sort'] = null;
  if (state.requestSort !== null) sort = { by: state.requestSort.by, source: 'request' };
  else if (variant === 'nitro' && !rules.lock.has('variants')) sort = { by: 'throughput', source: 'variant :nitro' };
  else if (variant === 'floor' && !rules.lock.has('variants')) sort = { by: 'price', source: 'variant :floor' };
  else if (rules.sort !== null) sort = { by: rules.sort.value, source: rules.sort.source === 'policy' ? 'policy' : `rule ${rules.sort.source}` };
  return { order: state.order, allowFallbacks: state.allowFallbacks, sort, split: state.split, seed: state.seed };
}

function appendOrdered(state: Evaluation, candidates: Candidate[], settings: OrderSettings, label: string): number {
  const result = orderCandidates(candidates, settings, label);
  for (const drop of result.dropped) excludeCandidate(state, drop.candidate, drop.reason, drop.detail);
  state.firstLabel ??= result.label;
  for (const candidate of result.ordered) state.ordered.push(candidate);
  state.trace.push({ stage: 'order', message: `${label}: ${result.ordered.length} endpoint(s), ${result.label}` });
  return result.ordered.length;
}

/** Filter and order one model of the chain; true when it contributed an endpoint. */
function takeModel(state: Evaluation, info: ModelInfo, variant: Variant | null, role: string): boolean {
  if (state.chainModels.includes(info.model.id)) return false;
  const chainIndex = state.chainModels.length;
  state.chainModels.push(info.model.id);
  state.roles.push(role);
  const candidates = modelCandidates(state, info, variant, chainIndex);
  if (candidates.length === 0) {
    state.trace.push({ stage: 'filter', message: `${info.model.id} (${role}): no endpoint left` });
    return false;
  }
  if (state.partitionNone) {
    for (const candidate of candidates) state.pooled.push(candidate);
    return true;
  }
  return appendOrdered(state, candidates, settingsFor(state, variant), `${info.model.id} (${role})`) > 0;
}

function walkChain(state: Evaluation, chain: readonly ChainItem[]): void {
  for (const item of chain) {
    if (item.kind === 'model') {
      takeModel(state, item.model, item.variant, item.role);
      continue;
    }
    let routable = 0;
    for (const info of item.ranked) {
      if (routable >= AUTO_MODELS) break;
      if (takeModel(state, info, item.variant, routable === 0 ? `${item.role}, auto pick` : `${item.role}, auto fallback`)) routable++;
    }
  }
}

function lockedNote(state: Evaluation, what: string): void {
  state.trace.push({ stage: 'order', message: `request ${what} ignored: locked by ${state.rules.lockSource}` });
}

/** The request's ordering preferences (order, sort, allow_fallbacks, performance preferences), minus locked ones. */
function applyOrderingPreferences(state: Evaluation): void {
  const provider = state.facts.provider;
  const lock = state.rules.lock;
  if (provider.order !== undefined) {
    if (lock.has('order')) lockedNote(state, 'provider.order');
    else state.order = provider.order;
  }
  if (provider.sort !== undefined) {
    if (lock.has('sort')) lockedNote(state, 'provider.sort');
    else state.requestSort = provider.sort;
  }
  if (provider.allow_fallbacks === false) {
    if (lock.has('allow_fallbacks')) lockedNote(state, 'provider.allow_fallbacks');
    else state.allowFallbacks = false;
  }
  if (provider.preferred_min_throughput !== undefined || provider.preferred_max_latency !== undefined) {
    if (lock.has('preferences')) lockedNote(state, 'provider.preferred_min_throughput/preferred_max_latency');
    else state.preferences = provider;
  }
  state.partitionNone = state.requestSort !== null && state.requestSort.partition === 'none';
}

/** Models the exhausted budgets name in `downgrade_to`. */
function downgradeChain(state: Evaluation, catalog: CompiledCatalog): ChainItem[] {
  const downgrades: ChainItem[] = [];
  const index = catalogIndex(catalog);
  for (const check of state.context.budgets) {
    for (const name of check.budget.downgrade_to ?? []) {
      const info = index.models.get(state.policy.aliases.get(name) ?? name);
      if (info !== undefined) downgrades.push({ kind: 'model', model: info, variant: null, role: `budget downgrade (${check.budget.id})` });
    }
  }
  return downgrades;
}

function dropParameters(facts: RequestFacts, parameters: ReadonlySet<string>): string[] {
  const drop: string[] = [];
  for (const parameter of facts.parameters) if (!parameters.has(parameter)) drop.push(parameter);
  return drop;
}

function planBudgets(checks: readonly BudgetCheck[]): Plan['budgets'] {
  const budgets: Plan['budgets'] = [];
  for (const check of checks) budgets.push({ id: check.budget.id, scope_key: check.scopeKey, spent: check.spent, limit: check.budget.limit, remaining: check.remaining });
  return budgets;
}

function formatUsd(value: number): string {
  return `$${Number(value.toPrecision(4))}`;
}

/** OpenRouter-style "No endpoints found ..." with the reasons grouped. */
function noRouteMessage(models: readonly string[], excluded: readonly Exclusion[]): string {
  if (models.length === 0) return 'No endpoints found: no model in the catalog can serve this request (auto found no capable model)';
  const subject = models.join(', ');
  if (excluded.length === 0) return `No endpoints found for ${subject}: the catalog lists no endpoint for it`;
  const groups = new Map<string, string[]>();
  for (const exclusion of excluded) {
    const key = `${exclusion.reason} (${exclusion.source})`;
    const list = groups.get(key);
    if (list === undefined) groups.set(key, [exclusion.endpoint]);
    else list.push(exclusion.endpoint);
  }
  const parts: string[] = [];
  for (const [key, endpoints] of groups) {
    const shown = endpoints.slice(0, 3).join(', ');
    parts.push(`${key}: ${endpoints.length} [${shown}${endpoints.length > 3 ? ', ...' : ''}]`);
  }
  return `No endpoints found for ${subject} that satisfy the routing constraints; excluded by ${parts.join('; ')}`;
}

/** 402 message: which budget, what is left, what the cheapest eligible endpoint needs, and what would fit. */
function budgetMessage(checks: readonly BudgetCheck[], budgetOnly: readonly Candidate[], facts: RequestFacts): string {
  const tightest = checks.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  let cheapest = budgetOnly[0]!;
  for (const candidate of budgetOnly) if (candidate.cost.max < cheapest.cost.max) cheapest = candidate;
  const remaining = Math.max(0, tightest.remaining);
  let message = `Budget ${tightest.budget.id} (${tightest.scopeKey}) has ${formatUsd(remaining)} left of ${formatUsd(tightest.budget.limit)}; the cheapest eligible endpoint ${cheapest.info.endpoint.id} needs up to ${formatUsd(cheapest.cost.max)} (${facts.prompt_tokens} prompt + ${cheapest.cost.completionTokens} completion tokens)`;
  const completionPrice = cheapest.info.endpoint.price.completion;
  const fitting = completionPrice > 0 ? Math.floor((remaining - cheapest.cost.min) / completionPrice) : 0;
  message += fitting >= 1 ? `; it would fit with max_tokens <= ${fitting}` : '; nothing fits until the budget resets';
  return message;
}

function noRoute(code: NoRouteError['code'], status: NoRouteError['status'], message: string, state: Evaluation): EvaluateResult {
  state.trace.push({ stage: 'plan', message });
  return { ok: false, error: { code, status, message, excluded: state.excluded, matched_rules: state.rules.matchedRules, trace: state.trace } };
}

/** (policy, catalog, facts, snapshot, {now, seed}) -> plan, or NoRouteError. Never throws on valid compiled inputs. */
export function evaluate(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot, options: EvaluateOptions): EvaluateResult {
  const trace: TraceEntry[] = [];
  const rules = evaluateRules(policy, facts, trace);
  const resolved = resolveChain(policy, catalog, facts, snapshot, rules, options.seed, trace);
  if (!resolved.ok) return { ok: false, error: resolved.error };

  const budgets = budgetChecks(policy, facts, snapshot, rules, options.now, trace);
  const split = rules.split !== null && rules.split.value.by !== 'model' ? rules.split : null;
  const state: Evaluation = {
    policy,
    facts,
    rules,
    seed: options.seed,
    context: {
      facts,
      credentials: snapshot.credentials ?? null,
      constraints: rules.constraints,
      budgets,
      rateLimitSource: rateLimitSource(rules),
      request: requestFilters(facts, rules, trace),
    },
    snapshot,
    excluded: [],
    budgetOnly: [],
    trace,
    order: null,
    requestSort: null,
    allowFallbacks: true,
    preferences: null,
    targets: rules.targets?.value ?? null,
    partitionNone: false,
    split: split === null ? null : { split: split.value, source: split.source, stickyValue: split.value.sticky !== undefined ? factValue(facts, split.value.sticky) : null },
    ordered: [],
    pooled: [],
    chainModels: [],
    roles: [],
    firstLabel: null,
  };
  applyOrderingPreferences(state);

  walkChain(state, resolved.chain);
  let strategy: Plan['requested']['strategy'] = resolved.strategy;

  // Budgets alone blocked every route: downgrade if a budget names cheaper models, else 402.
  if (state.ordered.length === 0 && state.pooled.length === 0 && state.budgetOnly.length > 0) {
    const downgrades = downgradeChain(state, catalog);
    if (downgrades.length > 0) {
      trace.push({ stage: 'resolve', message: `budgets exhausted for the requested models; downgrading to ${downgrades.map(chainItemName).join(', ')}` });
      walkChain(state, downgrades);
      strategy = 'fallback';
    }
    if (state.ordered.length === 0 && state.pooled.length === 0) {
      return noRoute('budget_exceeded', 402, budgetMessage(budgets, state.budgetOnly, facts), state);
    }
  }

  if (state.partitionNone && state.pooled.length > 0) {
    appendOrdered(state, state.pooled, settingsFor(state, null), 'all models (partition none)');
    state.firstLabel = `${state.firstLabel ?? ''} (partition none)`;
  }

  const ordered = state.ordered;
  if (ordered.length === 0) return noRoute('no_route', 404, noRouteMessage(state.chainModels, state.excluded), state);

  // Candidates past the attempt limit are listed as excluded (`attempt_limit`), so the plan names every endpoint it leaves out.
  const maxAttempts = Math.max(1, rules.attempts.value);
  if (ordered.length > maxAttempts) {
    const source = rules.attempts.source;
    for (let index = maxAttempts; index < ordered.length; index++) {
      const compiled = ordered[index]!.info.endpoint;
      state.excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason: 'attempt_limit', detail: `beyond max_attempts ${maxAttempts}`, source });
    }
    trace.push({ stage: 'plan', message: `attempts capped at ${maxAttempts} (${source}); ${ordered.length - maxAttempts} more candidate(s) listed as attempt_limit` });
  }
  if (ordered[0]!.chainIndex > 0) strategy = 'fallback';

  const attempts: PlanAttempt[] = [];
  const count = Math.min(ordered.length, maxAttempts);
  for (let position = 0; position < count; position++) {
    const candidate = ordered[position]!;
    const compiled = candidate.info.endpoint;
    attempts.push({
      endpoint: compiled.id,
      provider: compiled.provider.id,
      provider_name: compiled.provider.name,
      protocol: compiled.provider.protocol,
      model: compiled.model.id,
      upstream_model: compiled.endpoint.upstream_model,
      pricing: compiled.endpoint.pricing,
      estimated_cost: { min: candidate.cost.min, max: candidate.cost.max },
      timeouts: rules.timeouts,
      retries: rules.retries,
      drop_parameters: dropParameters(facts, compiled.parameters),
      reasons: [`model ${compiled.model.id}: ${state.roles[candidate.chainIndex] ?? 'chain'}`, candidate.position],
    });
  }

  trace.push({ stage: 'plan', message: `${attempts.length} attempt(s); first ${attempts[0]!.endpoint}` });
  return {
    ok: true,
    plan: {
      plan_version: 'v1',
      policy: { id: policy.id, version: policy.version },
      requested: { models: state.chainModels, strategy },
      attempts,
      excluded: state.excluded,
      matched_rules: rules.matchedRules,
      ordering: state.firstLabel ?? 'none',
      allow_fallbacks: state.allowFallbacks,
      limits: { max_attempts: maxAttempts, total_ms: rules.timeouts.total_ms },
      estimate: { prompt_tokens: facts.prompt_tokens, max_completion_tokens: facts.max_tokens ?? ordered[0]!.cost.completionTokens },
      budgets: planBudgets(budgets),
      trace,
    },
  };
}

function chainItemName(item: ChainItem): string {
  return item.kind === 'model' ? item.model.model.id : 'auto';
}
