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
      for (const key of ['p50', 'p75', 'p90', 'p99'] as const) {
        const wanted = minThroughput[key];
        const actual = throughput[key];
        if (wanted !== undefined && actual !== undefined && actual < wanted) return true;
      }
    }
    const maxLatency = preferences.preferred_max_latency;
    if (maxLatency !== undefined && latency !== undefined) {
      for (const key of ['p50', 'p75', 'p90', 'p99'] as const) {
        const wanted = maxLatency[key];
        const actual = latency[key];
        // Preferences are in seconds (OpenRouter), snapshot latencies in ms.
        if (wanted !== undefined && actual !== undefined && actual > wanted * 1000) return true;
      }
    }
  }
  return false;
}

/** The request's narrowing preferences after policy locks, tracing what a lock discarded. */
function requestFilters(facts: RequestFacts, rules: RuleOutcome, trace: TraceEntry[]): RequestFilters {
  const provider = facts.provider;
  const locked = (name: 'only' | 'ignore' | 'max_price', present: boolean): boolean => {
    if (!present || !rules.lock.has(name)) return false;
    trace.push({ stage: 'filter', message: `request provider.${name} ignored: locked by ${rules.lockSource}` });
    return true;
  };
  const only = provider.only !== undefined && !locked('only', true) ? provider.only : null;
  const ignore = provider.ignore !== undefined && !locked('ignore', true) ? provider.ignore : null;
  const maxPrice = provider.max_price !== undefined && !locked('max_price', true) ? provider.max_price : null;
  const namedInFull: string[] = [];
  if (provider.order !== undefined && !rules.lock.has('order')) namedInFull.push(...provider.order);
  if (only !== null) namedInFull.push(...only);
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

/** Budgets named by the constraints that apply to this request, with headroom. */
function budgetChecks(policy: CompiledPolicy, facts: RequestFacts, snapshot: Snapshot, rules: RuleOutcome, now: number, trace: TraceEntry[]): BudgetCheck[] {
  const checks: BudgetCheck[] = [];
  for (const entry of rules.constraints) {
    const ids = entry.constraints.budgets;
    if (ids === undefined) continue;
    for (const id of ids) {
      if (checks.some((check) => check.budget.id === id)) continue;
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

/** Mutable state of one evaluation. */
interface Walk {
  context: FilterContext;
  snapshot: Snapshot;
  excluded: Exclusion[];
  /** Endpoints kept out by budgets alone (they would pass everything else). */
  budgetOnly: Candidate[];
  trace: TraceEntry[];
}

/** Filter one model's endpoints into candidates (recording exclusions), then apply soft capability preferences. */
function modelCandidates(walk: Walk, info: ModelInfo, variant: Variant | null, chainIndex: number, targets: Targets | null, preferences: RequestFacts['provider'] | null): Candidate[] {
  const { context, excluded } = walk;
  const endpoints = walk.snapshot.endpoints ?? NO_ENDPOINTS;
  const candidates: Candidate[] = [];
  for (const endpointInfo of info.endpoints) {
    const compiled = endpointInfo.endpoint;
    const health = endpoints[compiled.id];
    const cost = estimateCost(endpointInfo, context.facts);
    const check = checkEndpoint(context, endpointInfo, health, cost, variant);
    const candidate: Candidate = {
      info: endpointInfo,
      health,
      cost,
      demotion: health === undefined ? null : health.circuit === 'open' ? 'circuit open' : health.recently_failed === true ? 'recently failed' : health.rate_limit_remaining === 0 ? 'rate limit exhausted' : null,
      missesTargets: targets !== null || preferences !== null ? missesTargets(health, targets, preferences) : false,
      chainIndex,
      position: '',
    };
    if (check.failure !== null) {
      excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, ...check.failure });
      if (check.budgetOnly) walk.budgetOnly.push(candidate);
      continue;
    }
    candidates.push(candidate);
  }
  if (candidates.length === 0) return candidates;

  for (const need of softNeeds(context.facts)) {
    let supported = 0;
    for (const candidate of candidates) if (candidate.info.endpoint.parameters.has(need.parameter)) supported++;
    if (supported === candidates.length) continue;
    if (supported === 0) {
      walk.trace.push({ stage: 'filter', message: `${info.model.id}: no endpoint supports ${need.label}; kept, parameter dropped (soft preference)` });
      continue;
    }
    for (let index = candidates.length - 1; index >= 0; index--) {
      const candidate = candidates[index]!;
      if (candidate.info.endpoint.parameters.has(need.parameter)) continue;
      const compiled = candidate.info.endpoint;
      excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason: need.reason, detail: `other endpoints of ${info.model.id} support ${need.label}`, source: 'request' });
      candidates.splice(index, 1);
    }
  }
  return candidates;
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

function noRoute(code: NoRouteError['code'], status: NoRouteError['status'], message: string, walk: Walk, rules: RuleOutcome): EvaluateResult {
  walk.trace.push({ stage: 'plan', message });
  return { ok: false, error: { code, status, message, excluded: walk.excluded, matched_rules: rules.matchedRules, trace: walk.trace } };
}

/** (policy, catalog, facts, snapshot, {now, seed}) -> plan, or NoRouteError. Never throws on valid compiled inputs. */
export function evaluate(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot, options: EvaluateOptions): EvaluateResult {
  const trace: TraceEntry[] = [];
  const rules = evaluateRules(policy, facts, trace);
  const resolved = resolveChain(policy, catalog, facts, snapshot, rules, options.seed, trace);
  if (!resolved.ok) return { ok: false, error: resolved.error };

  const request = requestFilters(facts, rules, trace);
  const budgets = budgetChecks(policy, facts, snapshot, rules, options.now, trace);
  const walk: Walk = {
    context: {
      facts,
      credentials: snapshot.credentials !== undefined ? new Set(snapshot.credentials.map((id) => id.toLowerCase())) : null,
      constraints: rules.constraints,
      budgets,
      rateLimitSource: rateLimitSource(rules),
      request,
    },
    snapshot,
    excluded: [],
    budgetOnly: [],
    trace,
  };

  // Request-side ordering preferences, unless locked.
  const provider = facts.provider;
  const lockedNote = (what: string): void => {
    trace.push({ stage: 'order', message: `request ${what} ignored: locked by ${rules.lockSource}` });
  };
  let order: readonly string[] | null = provider.order ?? null;
  if (order !== null && rules.lock.has('order')) {
    lockedNote('provider.order');
    order = null;
  }
  let requestSort = provider.sort ?? null;
  if (requestSort !== null && rules.lock.has('sort')) {
    lockedNote('provider.sort');
    requestSort = null;
  }
  let allowFallbacks = provider.allow_fallbacks ?? true;
  if (!allowFallbacks && rules.lock.has('allow_fallbacks')) {
    lockedNote('provider.allow_fallbacks');
    allowFallbacks = true;
  }
  let preferences: RequestFacts['provider'] | null = provider.preferred_min_throughput !== undefined || provider.preferred_max_latency !== undefined ? provider : null;
  if (preferences !== null && rules.lock.has('preferences')) {
    lockedNote('provider.preferred_min_throughput/preferred_max_latency');
    preferences = null;
  }
  const targets = rules.targets?.value ?? null;
  const partitionNone = requestSort !== null && requestSort.partition === 'none';
  const split = rules.split !== null && rules.split.value.by !== 'model' ? rules.split : null;
  const stickyValue = split !== null && split.value.sticky !== undefined ? factValue(facts, split.value.sticky) : null;

  const ordered: Candidate[] = [];
  const pooled: Candidate[] = [];
  const chainModels: string[] = [];
  const roles: string[] = [];
  let firstLabel: string | null = null;

  const settingsFor = (variant: Variant | null): OrderSettings => {
    let sort: OrderSettings['sort'] = null;
    if (requestSort !== null) sort = { by: requestSort.by, source: 'request' };
    else if (variant === 'nitro' && !rules.lock.has('variants')) sort = { by: 'throughput', source: 'variant :nitro' };
    else if (variant === 'floor' && !rules.lock.has('variants')) sort = { by: 'price', source: 'variant :floor' };
    else if (rules.sort !== null) sort = { by: rules.sort.value, source: rules.sort.source === 'policy' ? 'policy' : `rule ${rules.sort.source}` };
    return { order, allowFallbacks, sort, split: split !== null ? { split: split.value, source: split.source, stickyValue } : null, seed: options.seed };
  };

  const takeModel = (info: ModelInfo, variant: Variant | null, role: string): boolean => {
    if (chainModels.includes(info.model.id)) return false;
    const chainIndex = chainModels.length;
    chainModels.push(info.model.id);
    roles.push(role);
    const candidates = modelCandidates(walk, info, variant, chainIndex, targets, preferences);
    if (candidates.length === 0) {
      trace.push({ stage: 'filter', message: `${info.model.id} (${role}): no endpoint left` });
      return false;
    }
    if (partitionNone) {
      pooled.push(...candidates);
      return true;
    }
    const result = orderCandidates(candidates, settingsFor(variant), info.model.id);
    for (const drop of result.dropped) {
      const compiled = drop.candidate.info.endpoint;
      walk.excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason: drop.reason, detail: drop.detail, source: 'request' });
    }
    firstLabel ??= result.label;
    trace.push({ stage: 'order', message: `${info.model.id} (${role}): ${result.ordered.length} endpoint(s), ${result.label}` });
    ordered.push(...result.ordered);
    return result.ordered.length > 0;
  };

  const walkChain = (chain: readonly ChainItem[]): void => {
    for (const item of chain) {
      if (item.kind === 'model') {
        takeModel(item.model, item.variant, item.role);
        continue;
      }
      let routable = 0;
      for (const info of item.ranked) {
        if (routable >= AUTO_MODELS) break;
        if (takeModel(info, item.variant, routable === 0 ? `${item.role}, auto pick` : `${item.role}, auto fallback`)) routable++;
      }
    }
  };

  walkChain(resolved.chain);
  let strategy: Plan['requested']['strategy'] = resolved.strategy;

  // Budgets alone blocked every route: downgrade if a budget names cheaper models, else 402.
  if (ordered.length === 0 && pooled.length === 0 && walk.budgetOnly.length > 0) {
    const downgrades: ChainItem[] = [];
    const index = catalogIndex(catalog);
    for (const check of budgets) {
      for (const name of check.budget.downgrade_to ?? []) {
        const info = index.models.get(policy.aliases.get(name) ?? name);
        if (info !== undefined) downgrades.push({ kind: 'model', model: info, variant: null, role: `budget downgrade (${check.budget.id})` });
      }
    }
    if (downgrades.length > 0) {
      trace.push({ stage: 'resolve', message: `budgets exhausted for the requested models; downgrading to ${downgrades.map((item) => (item.kind === 'model' ? item.model.model.id : 'auto')).join(', ')}` });
      walkChain(downgrades);
      strategy = 'fallback';
    }
    if (ordered.length === 0 && pooled.length === 0) {
      return noRoute('budget_exceeded', 402, budgetMessage(budgets, walk.budgetOnly, facts), walk, rules);
    }
  }

  if (partitionNone && pooled.length > 0) {
    const result = orderCandidates(pooled, settingsFor(null), 'all-models');
    for (const drop of result.dropped) {
      const compiled = drop.candidate.info.endpoint;
      walk.excluded.push({ endpoint: compiled.id, provider: compiled.provider.id, model: compiled.model.id, reason: drop.reason, detail: drop.detail, source: 'request' });
    }
    firstLabel = `${result.label} (partition none)`;
    trace.push({ stage: 'order', message: `all models together (partition none): ${result.ordered.length} endpoint(s), ${result.label}` });
    ordered.push(...result.ordered);
  }

  if (ordered.length === 0) {
    return noRoute('no_route', 404, noRouteMessage(chainModels, walk.excluded), walk, rules);
  }

  const maxAttempts = Math.max(1, rules.attempts.value);
  if (ordered.length > maxAttempts) {
    const cut = ordered.slice(maxAttempts).map((candidate) => candidate.info.endpoint.id);
    trace.push({ stage: 'plan', message: `attempts capped at ${maxAttempts} (${rules.attempts.source}); not planned: ${cut.slice(0, 5).join(', ')}${cut.length > 5 ? `, +${cut.length - 5} more` : ''}` });
  }
  if (ordered[0]!.chainIndex > 0) strategy = 'fallback';

  const attempts: PlanAttempt[] = [];
  const count = Math.min(ordered.length, maxAttempts);
  for (let position = 0; position < count; position++) {
    const candidate = ordered[position]!;
    const compiled = candidate.info.endpoint;
    const drop: string[] = [];
    for (const parameter of facts.parameters) if (!compiled.parameters.has(parameter)) drop.push(parameter);
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
      drop_parameters: drop,
      reasons: [`model ${compiled.model.id}: ${roles[candidate.chainIndex] ?? 'chain'}`, candidate.position],
    });
  }

  const plan: Plan = {
    plan_version: 'v1',
    policy: { id: policy.id, version: policy.version },
    requested: { models: chainModels, strategy },
    attempts,
    excluded: walk.excluded,
    matched_rules: rules.matchedRules,
    ordering: firstLabel ?? 'none',
    allow_fallbacks: allowFallbacks,
    limits: { max_attempts: maxAttempts, total_ms: rules.timeouts.total_ms },
    estimate: { prompt_tokens: facts.prompt_tokens, max_completion_tokens: facts.max_tokens ?? ordered[0]!.cost.completionTokens },
    budgets: budgets.map((check) => ({ id: check.budget.id, scope_key: check.scopeKey, spent: check.spent, limit: check.budget.limit, remaining: check.remaining })),
    trace,
  };
  trace.push({ stage: 'plan', message: `${attempts.length} attempt(s); first ${attempts[0]!.endpoint}` });
  return { ok: true, plan };
}
