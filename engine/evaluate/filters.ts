/**
 * Hard filters, in precedence order (ARCHITECTURE.md, "Precedence"):
 *   1. catalog and snapshot: provider disabled, credentials missing;
 *   2. operator constraints (policy `require`, then each matching rule's `require`): data
 *      collection, ZDR, regions, quantization floor, max price, max request cost, provider
 *      allow/deny; then budgets; then rate limits;
 *   3. the request's `provider` object: only, ignore, data_collection, zdr, max_price,
 *      quantizations, require_parameters (they can only narrow further);
 *   4. capabilities: context length, max_tokens, input modalities, the `:free` variant, service tiers.
 * The first failing check names the exclusion. Soft capability preferences (tools,
 * response_format) run per model afterwards, see `applySoftCapabilities`.
 */
import { QUANTIZATION_ORDER } from '../types.ts';
import type { Budget, Constraints, EndpointHealth, ExclusionCode, ProviderPreferences, Quantization, RequestFacts, Variant } from '../types.ts';
import type { EndpointInfo } from './catalog-index.ts';
import type { CostBounds } from './cost.ts';
import { matchesAnyProvider } from './provider-match.ts';
import type { ConstraintSource } from './rules.ts';

/** A budget that applies to this request and its headroom. */
export interface BudgetCheck {
  budget: Budget;
  scopeKey: string;
  spent: number;
  remaining: number;
  /** Who required it (`policy` or a rule id). */
  source: string;
}

/** The request's own narrowing preferences, after policy locks. */
export interface RequestFilters {
  only: readonly string[] | null;
  ignore: readonly string[] | null;
  maxPrice: ProviderPreferences['max_price'] | null;
  dataCollectionDeny: boolean;
  zdr: boolean;
  quantizations: readonly Quantization[] | null;
  requireParameters: boolean;
  /** Names given in `order`/`only`: a tier endpoint named in full may compete. */
  namedInFull: readonly string[];
}

export interface FilterContext {
  facts: RequestFacts;
  /** Provider ids (or base slugs) with credentials; null = all present. */
  credentials: readonly string[] | null;
  constraints: readonly ConstraintSource[];
  budgets: readonly BudgetCheck[];
  /** Rule id / `policy` that asked to respect rate limits, or null. */
  rateLimitSource: string | null;
  request: RequestFilters;
}

/** Why a candidate failed a check. */
export interface Failure {
  reason: ExclusionCode;
  detail: string;
  source: string;
}

const PER_MILLION = 1_000_000;

function failure(reason: ExclusionCode, detail: string, source: string): Failure {
  return { reason, detail, source };
}

function includesIgnoringCase(list: readonly string[], value: string): boolean {
  const wanted = value.toLowerCase();
  for (const entry of list) if (entry.toLowerCase() === wanted) return true;
  return false;
}

function quantizationRank(level: Quantization | undefined): number {
  return level === undefined || level === 'unknown' ? -1 : QUANTIZATION_ORDER.indexOf(level);
}

function formatUsd(value: number): string {
  return `$${Number(value.toPrecision(4))}`;
}

function checkPrices(maxPrice: NonNullable<ProviderPreferences['max_price']>, info: EndpointInfo, source: string): Failure | null {
  const price = info.endpoint.price;
  if (maxPrice.prompt !== undefined && price.prompt * PER_MILLION > maxPrice.prompt) {
    return failure('max_price', `prompt price ${formatUsd(price.prompt * PER_MILLION)}/M exceeds ${formatUsd(maxPrice.prompt)}/M`, source);
  }
  if (maxPrice.completion !== undefined && price.completion * PER_MILLION > maxPrice.completion) {
    return failure('max_price', `completion price ${formatUsd(price.completion * PER_MILLION)}/M exceeds ${formatUsd(maxPrice.completion)}/M`, source);
  }
  if (maxPrice.request !== undefined && price.request > maxPrice.request) {
    return failure('max_price', `request price ${formatUsd(price.request)} exceeds ${formatUsd(maxPrice.request)}`, source);
  }
  if (maxPrice.image !== undefined && price.image > maxPrice.image) {
    return failure('max_price', `image price ${formatUsd(price.image)} exceeds ${formatUsd(maxPrice.image)}`, source);
  }
  return null;
}

function checkConstraints(constraints: Constraints, source: string, info: EndpointInfo, cost: CostBounds): Failure | null {
  const provider = info.endpoint.provider;
  if (constraints.data_collection === 'deny' && provider.data_policy.trains_on_prompts) {
    return failure('data_collection', `${provider.id} trains on prompts`, source);
  }
  if (constraints.zdr === true && !provider.data_policy.zdr) return failure('zdr', `${provider.id} has no zero data retention`, source);
  if (constraints.regions !== undefined && !includesIgnoringCase(constraints.regions, provider.region)) {
    return failure('region', `region ${provider.region} not in [${constraints.regions.join(', ')}]`, source);
  }
  const floor = constraints.quantization_floor;
  if (floor !== undefined && floor !== 'unknown') {
    const level = info.endpoint.endpoint.quantization;
    if (quantizationRank(level) < quantizationRank(floor)) return failure('quantization', `quantization ${level ?? 'unknown'} below floor ${floor}`, source);
  }
  if (constraints.max_price !== undefined) {
    const priced = checkPrices(constraints.max_price, info, source);
    if (priced !== null) return priced;
  }
  if (constraints.max_request_cost !== undefined && cost.max > constraints.max_request_cost) {
    return failure(
      'max_request_cost',
      `worst-case cost ${formatUsd(cost.max)} (${cost.completionTokens} completion tokens) exceeds cap ${formatUsd(constraints.max_request_cost)}`,
      source,
    );
  }
  const allow = constraints.providers?.allow;
  if (allow !== undefined && !matchesAnyProvider(allow, info)) return failure('provider_not_allowed', `${provider.id} not in allow list`, source);
  const deny = constraints.providers?.deny;
  if (deny !== undefined && matchesAnyProvider(deny, info)) return failure('provider_denied', `${provider.id} is denied`, source);
  return null;
}

/** Catalog, snapshot and operator constraints before budgets. */
function checkBeforeBudgets(context: FilterContext, info: EndpointInfo, cost: CostBounds): Failure | null {
  const provider = info.endpoint.provider;
  if (provider.status === 'disabled') return failure('provider_disabled', `${provider.id} is disabled`, 'catalog');
  if (context.credentials !== null) {
    const base = info.baseSlug;
    if (!context.credentials.includes(info.providerId) && !context.credentials.includes(base)) {
      return failure('credentials_missing', `no credentials for ${provider.id}`, 'snapshot');
    }
  }
  for (const entry of context.constraints) {
    const failed = checkConstraints(entry.constraints, entry.source, info, cost);
    if (failed !== null) return failed;
  }
  return null;
}

function checkBudgets(context: FilterContext, cost: CostBounds): Failure | null {
  for (const check of context.budgets) {
    if (cost.max > check.remaining) {
      return failure(
        'budget_exhausted',
        `budget ${check.budget.id} has ${formatUsd(Math.max(0, check.remaining))} left; worst case ${formatUsd(cost.max)}`,
        check.source,
      );
    }
  }
  return null;
}

/** Rate limits, the request's preferences and capabilities. */
function checkAfterBudgets(context: FilterContext, info: EndpointInfo, health: EndpointHealth | undefined, variant: Variant | null): Failure | null {
  const compiled = info.endpoint;
  const provider = compiled.provider;
  const facts = context.facts;
  if (context.rateLimitSource !== null && health?.rate_limit_remaining === 0) {
    return failure('rate_limited', `${provider.id} rate limit exhausted`, context.rateLimitSource);
  }

  const request = context.request;
  if (request.only !== null && !matchesAnyProvider(request.only, info)) return failure('request_only', `${provider.id} not in provider.only`, 'request');
  if (request.ignore !== null && matchesAnyProvider(request.ignore, info)) return failure('request_ignore', `${provider.id} in provider.ignore`, 'request');
  if (request.dataCollectionDeny && provider.data_policy.trains_on_prompts) return failure('data_collection', `${provider.id} trains on prompts`, 'request');
  if (request.zdr && !provider.data_policy.zdr) return failure('zdr', `${provider.id} has no zero data retention`, 'request');
  if (request.maxPrice !== null && request.maxPrice !== undefined) {
    const priced = checkPrices(request.maxPrice, info, 'request');
    if (priced !== null) return priced;
  }
  if (request.quantizations !== null) {
    const level = compiled.endpoint.quantization ?? 'unknown';
    if (!request.quantizations.includes(level)) return failure('request_quantizations', `quantization ${level} not in provider.quantizations`, 'request');
  }
  if (request.requireParameters) {
    const missing = facts.parameters.filter((parameter) => !compiled.parameters.has(parameter));
    if (missing.length > 0) return failure('require_parameters', `unsupported: ${missing.join(', ')}`, 'request');
  }

  const needed = facts.prompt_tokens + (facts.max_tokens ?? 0);
  if (needed > compiled.context_length) {
    return failure('context_length', `needs ${needed} tokens (prompt estimate + max_tokens), context is ${compiled.context_length}`, 'request');
  }
  if (facts.max_tokens !== null && facts.max_tokens > compiled.max_completion_tokens) {
    return failure('max_tokens', `max_tokens ${facts.max_tokens} exceeds endpoint limit ${compiled.max_completion_tokens}`, 'request');
  }
  const modalities = compiled.model.input_modalities;
  for (const modality of facts.input_modalities) {
    if (!modalities.includes(modality)) return failure('modality_unsupported', `${modality} input not supported`, 'request');
  }
  const free = compiled.endpoint.free === true;
  if (variant === 'free' && !free) return failure('variant', 'not a :free endpoint', 'request');
  if (variant !== 'free' && free) return failure('variant', 'free endpoint (request the :free variant)', 'request');
  if (info.isTier) {
    const tier = compiled.endpoint.tier;
    const variantAllows = (variant === 'nitro' && tier === 'priority') || (variant === 'floor' && tier === 'flex');
    if (!variantAllows && !includesIgnoringCase(request.namedInFull, info.fullSlug)) {
      return failure('tier', `service tier ${tier ?? ''} is used only when named in full or through :nitro/:floor`, 'catalog');
    }
  }
  return null;
}

/** The result of checking one endpoint: its first failure, and whether budgets alone kept it out. */
export interface CheckResult {
  failure: Failure | null;
  budgetOnly: boolean;
}

const PASSED: CheckResult = { failure: null, budgetOnly: false };

/** Run every hard filter on one endpoint. */
export function checkEndpoint(context: FilterContext, info: EndpointInfo, health: EndpointHealth | undefined, cost: CostBounds, variant: Variant | null): CheckResult {
  const before = checkBeforeBudgets(context, info, cost);
  if (before !== null) return { failure: before, budgetOnly: false };
  const budget = context.budgets.length > 0 ? checkBudgets(context, cost) : null;
  const after = checkAfterBudgets(context, info, health, variant);
  if (budget !== null) return { failure: budget, budgetOnly: after === null };
  return after === null ? PASSED : { failure: after, budgetOnly: false };
}

/** Request needs that are soft per OpenRouter: the parameter each needs and a label for messages. */
export function softNeeds(facts: RequestFacts): Array<{ parameter: string; reason: ExclusionCode; label: string }> {
  const needs: Array<{ parameter: string; reason: ExclusionCode; label: string }> = [];
  if (facts.tools || (facts.tool_choice !== null && facts.tool_choice !== 'none')) needs.push({ parameter: 'tools', reason: 'tools_unsupported', label: 'tool use' });
  if (facts.response_format === 'json_schema') needs.push({ parameter: 'structured_outputs', reason: 'response_format_unsupported', label: 'structured outputs' });
  if (facts.response_format === 'json_object') needs.push({ parameter: 'response_format', reason: 'response_format_unsupported', label: 'response_format' });
  return needs;
}
