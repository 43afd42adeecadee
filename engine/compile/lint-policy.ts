import type { ProblemAt, SourceMap } from '../parse/source-map.ts';
import { QUANTIZATION_ORDER } from '../types.ts';
import type { CompiledCatalog, CompiledEndpoint, CompiledPolicy, Constraints, Quantization, RetryPolicy, Timeouts } from '../types.ts';
import { AUTO_MODEL } from './policy-defaults.ts';

/** A canonical text for a condition, so two spellings of the same JSON compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The largest context window any endpoint of a model offers. */
function contextWindow(catalog: CompiledCatalog, model: string): number | undefined {
  const endpoints = catalog.endpointsByModel.get(model);
  if (endpoints && endpoints.length > 0) return Math.max(...endpoints.map((endpoint) => endpoint.context_length));
  return catalog.models.get(model)?.context_length;
}

/**
 * The `lint` stage: problems that are valid YAML, valid schema and resolvable, but almost surely
 * not what the author meant. Unknown references are errors of the `resolve` stage, not lints.
 */
export function lintPolicy(policy: CompiledPolicy, catalog: CompiledCatalog, sourceMap: SourceMap): ProblemAt[] {
  const problems: ProblemAt[] = [];
  const place = (pointer: string): string => {
    const { line } = sourceMap.position(pointer);
    return `line ${line}`;
  };
  const modelOf = (reference: string): string => policy.aliases.get(reference) ?? reference;

  const firstIndexById = new Map<string, number>();
  const finals: Array<{ id: string; index: number; condition: string | undefined }> = [];
  policy.rules.forEach(({ rule }, index) => {
    const pointer = `/rules/${index}`;
    const earlierIndex = firstIndexById.get(rule.id);
    if (earlierIndex !== undefined) {
      problems.push({ code: 'lint_duplicate_rule_id', message: `rule id \`${rule.id}\` is used twice`, pointer: `${pointer}/id`, hint: `first used at ${place(`/rules/${earlierIndex}`)}; traces and tests name rules by id` });
    } else {
      firstIndexById.set(rule.id, index);
    }

    const always = rule.when === undefined || rule.when === true;
    const condition = always ? undefined : canonical(rule.when);
    const blocker = finals.find((final) => final.condition === undefined || final.condition === condition);
    if (blocker) {
      const why = blocker.condition === undefined ? 'matches every request' : 'has the same `when`';
      problems.push({
        code: 'lint_unreachable_rule',
        severity: 'warning',
        message: `rule \`${rule.id}\` can never apply: final rule \`${blocker.id}\` (${place(`/rules/${blocker.index}`)}) ${why}`,
        pointer,
        hint: 'move it above that rule, or remove `final` there',
      });
    }
    if (rule.when === false) {
      problems.push({ code: 'lint_rule_never_matches', severity: 'warning', message: `rule \`${rule.id}\` has \`when: false\` and never matches`, pointer: `${pointer}/when` });
    }
    if (rule.final === true) finals.push({ id: rule.id, index, condition });

    if (rule.fallbacks !== undefined && rule.fallbacks.length === 0) {
      problems.push({ code: 'lint_empty_fallbacks', severity: 'warning', message: `rule \`${rule.id}\` has an empty fallback chain`, pointer: `${pointer}/fallbacks`, hint: 'list fallback models, or remove `fallbacks`' });
    }
    if (rule.split) {
      const total = Object.values(rule.split.weights).reduce((sum, weight) => sum + weight, 0);
      if (total === 0) {
        problems.push({ code: 'lint_split_zero_weights', message: `split weights of rule \`${rule.id}\` sum to zero, so no arm can be drawn`, pointer: `${pointer}/split/weights`, hint: 'give at least one arm a positive weight' });
      }
    }
    if (rule.route_to !== undefined && rule.route_to !== AUTO_MODEL) {
      const primary = modelOf(rule.route_to);
      const primaryWindow = contextWindow(catalog, primary);
      (rule.fallbacks ?? []).forEach((fallback, fallbackIndex) => {
        const model = modelOf(fallback);
        const window = contextWindow(catalog, model);
        if (primaryWindow !== undefined && window !== undefined && window < primaryWindow) {
          problems.push({
            code: 'lint_fallback_context_smaller',
            severity: 'warning',
            message: `fallback \`${fallback}\` has a ${window}-token context window, smaller than the ${primaryWindow} of \`${rule.route_to}\`; long prompts will skip it`,
            pointer: `${pointer}/fallbacks/${fallbackIndex}`,
          });
        }
      });
    }
    if (rule.timeouts !== undefined) checkTimeouts({ ...policy.defaults.timeouts, ...rule.timeouts } as Timeouts, `${pointer}/timeouts`, problems);
    if (rule.retries !== undefined) checkRetries({ ...policy.defaults.retries, ...rule.retries } as RetryPolicy, `${pointer}/retries`, problems);
  });
  checkTimeouts(policy.defaults.timeouts, '/defaults/timeouts', problems);
  checkRetries(policy.defaults.retries, '/defaults/retries', problems);

  problems.push(...lintSatisfiable(policy, catalog));

  const used = new Set<string>(policy.require.budgets ?? []);
  for (const { rule } of policy.rules) for (const budget of rule.require?.budgets ?? []) used.add(budget);
  (policy.document.budgets ?? []).forEach((budget, index) => {
    if (!used.has(budget.id)) {
      problems.push({
        code: 'lint_unused_budget',
        severity: 'warning',
        message: `budget \`${budget.id}\` is declared but no \`require.budgets\` uses it, so it is never enforced`,
        pointer: `/budgets/${index}`,
        hint: 'add it to `require.budgets` (global or in a rule)',
      });
    }
  });
  return dedupe(problems);
}

function checkRetries(retries: RetryPolicy, pointer: string, problems: ProblemAt[]): void {
  if (retries.backoff_ms > retries.max_backoff_ms) {
    problems.push({ code: 'lint_inconsistent_limits', severity: 'warning', message: `\`backoff_ms\` (${retries.backoff_ms}) exceeds \`max_backoff_ms\` (${retries.max_backoff_ms})`, pointer });
  }
}

function checkTimeouts(timeouts: Timeouts, pointer: string, problems: ProblemAt[]): void {
  if (timeouts.first_byte_ms > timeouts.attempt_ms || timeouts.attempt_ms > timeouts.total_ms) {
    problems.push({
      code: 'lint_inconsistent_limits',
      severity: 'warning',
      message: `timeouts should satisfy first_byte_ms (${timeouts.first_byte_ms}) <= attempt_ms (${timeouts.attempt_ms}) <= total_ms (${timeouts.total_ms})`,
      pointer,
    });
  }
}

function dedupe(problems: ProblemAt[]): ProblemAt[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = `${problem.code}|${problem.pointer}|${problem.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const quantizationRank = (level: Quantization | undefined): number =>
  level === undefined || level === 'unknown' ? -1 : QUANTIZATION_ORDER.indexOf(level);

const providerMatches = (reference: string, endpoint: CompiledEndpoint): boolean => {
  const wanted = reference.toLowerCase();
  return endpoint.provider.id === wanted || endpoint.provider.id.startsWith(`${wanted}/`);
};

/**
 * The request-independent part of the hard constraints (the rest, such as `max_request_cost`,
 * budgets and rate limits, depends on the request or live state). Mirrors engine/evaluate/filters.
 */
function satisfies(endpoint: CompiledEndpoint, constraints: Constraints): boolean {
  const provider = endpoint.provider;
  if (provider.status === 'disabled') return false;
  if (constraints.data_collection === 'deny' && provider.data_policy.trains_on_prompts) return false;
  if (constraints.zdr === true && !provider.data_policy.zdr) return false;
  if (constraints.regions !== undefined && !constraints.regions.some((region) => region.toLowerCase() === provider.region.toLowerCase())) return false;
  const floor = constraints.quantization_floor;
  if (floor !== undefined && floor !== 'unknown' && quantizationRank(endpoint.endpoint.quantization) < quantizationRank(floor)) return false;
  const maxPrice = constraints.max_price;
  if (maxPrice?.prompt !== undefined && endpoint.price.prompt * 1_000_000 > maxPrice.prompt) return false;
  if (maxPrice?.completion !== undefined && endpoint.price.completion * 1_000_000 > maxPrice.completion) return false;
  if (maxPrice?.request !== undefined && endpoint.price.request > maxPrice.request) return false;
  const allow = constraints.providers?.allow;
  if (allow !== undefined && !allow.some((reference) => providerMatches(reference, endpoint))) return false;
  const deny = constraints.providers?.deny;
  if (deny !== undefined && deny.some((reference) => providerMatches(reference, endpoint))) return false;
  return true;
}

/** Global constraints that no endpoint meets, or a rule's that none meets together with them (warnings). */
function lintSatisfiable(policy: CompiledPolicy, catalog: CompiledCatalog): ProblemAt[] {
  const global = catalog.endpoints.filter((endpoint) => satisfies(endpoint, policy.require));
  if (global.length === 0) {
    return [{ code: 'lint_unsatisfiable_constraints', severity: 'warning', message: 'no catalog endpoint meets the global `require`, so every request would fail', pointer: '/require' }];
  }
  const problems: ProblemAt[] = [];
  policy.rules.forEach(({ rule }, index) => {
    const routed = rule.route_to !== undefined && rule.route_to !== AUTO_MODEL ? (policy.aliases.get(rule.route_to) ?? rule.route_to) : undefined;
    if (!rule.require && routed === undefined) return;
    const candidates = global.filter((endpoint) => routed === undefined || endpoint.model.id === routed);
    if (candidates.some((endpoint) => satisfies(endpoint, rule.require ?? {}))) return;
    const what = routed === undefined ? 'no catalog endpoint' : `no endpoint of \`${routed}\``;
    problems.push({
      code: 'lint_unsatisfiable_constraints',
      severity: 'warning',
      message: `${what} meets the constraints of rule \`${rule.id}\` together with the global \`require\`; requests it matches will find no route`,
      pointer: rule.require ? `/rules/${index}/require` : `/rules/${index}/route_to`,
    });
  });
  return problems;
}
