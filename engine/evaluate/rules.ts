/**
 * Rule matching: which rules apply to a request, and the settings they add up to.
 *
 * Constraints (`require`) of every matching rule accumulate: they only narrow. Every other setting
 * is taken from the first matching rule that sets it, then from the policy defaults. `final: true`
 * stops matching. Locks are the policy's own locks plus those of the first matching rule that sets any.
 */
import type { CompiledPolicy, Constraints, LockableOverride, RequestFacts, RetryPolicy, SortBy, Targets, Timeouts, TraceEntry, WeightedSplit } from '../types.ts';

/** Constraints and who set them (`policy` or a rule id). */
export interface ConstraintSource {
  source: string;
  constraints: Constraints;
}

/** A setting and the rule it came from (`policy` for defaults). */
export interface Sourced<T> {
  value: T;
  source: string;
}

export interface RuleOutcome {
  matchedRules: string[];
  constraints: ConstraintSource[];
  routeTo: Sourced<string> | null;
  sort: Sourced<SortBy> | null;
  split: Sourced<WeightedSplit> | null;
  targets: Sourced<Targets> | null;
  fallbacks: Sourced<string[]> | null;
  attempts: Sourced<number>;
  retries: RetryPolicy;
  timeouts: Timeouts;
  lock: ReadonlySet<LockableOverride>;
  /** Who locked each override (`policy` or a rule id), for trace messages. */
  lockSource: string;
}

function hasConstraints(constraints: Constraints | undefined): constraints is Constraints {
  if (constraints === undefined) return false;
  for (const key in constraints) if (constraints[key as keyof Constraints] !== undefined) return true;
  return false;
}

/** Evaluate the policy's rules in order against the facts, tracing each one checked. */
export function evaluateRules(policy: CompiledPolicy, facts: RequestFacts, trace: TraceEntry[]): RuleOutcome {
  const matchedRules: string[] = [];
  const constraints: ConstraintSource[] = [];
  if (hasConstraints(policy.require)) constraints.push({ source: 'policy', constraints: policy.require });
  let routeTo: Sourced<string> | null = null;
  let sort: Sourced<SortBy> | null = null;
  let split: Sourced<WeightedSplit> | null = null;
  let targets: Sourced<Targets> | null = null;
  let fallbacks: Sourced<string[]> | null = null;
  let attempts: Sourced<number> | null = null;
  let retries: Partial<RetryPolicy> | null = null;
  let timeouts: Partial<Timeouts> | null = null;
  let ruleLock: Sourced<readonly LockableOverride[]> | null = null;

  const rules = policy.rules;
  for (let position = 0; position < rules.length; position++) {
    const compiled = rules[position]!;
    const rule = compiled.rule;
    const result = compiled.when.evaluate(facts);
    if (result.error !== undefined) {
      trace.push({ stage: 'rule', rule: rule.id, matched: false, message: `condition error, treated as not matched: ${result.error}` });
      continue;
    }
    if (!result.value) {
      trace.push({ stage: 'rule', rule: rule.id, matched: false, message: 'condition false' });
      continue;
    }
    trace.push({ stage: 'rule', rule: rule.id, matched: true, message: rule.final === true ? 'matched (final)' : 'matched' });
    matchedRules.push(rule.id);
    if (hasConstraints(rule.require)) constraints.push({ source: rule.id, constraints: rule.require });
    if (routeTo === null && rule.route_to !== undefined) routeTo = { value: rule.route_to, source: rule.id };
    if (sort === null && rule.sort !== undefined) sort = { value: rule.sort, source: rule.id };
    if (split === null && rule.split !== undefined) split = { value: rule.split, source: rule.id };
    if (targets === null && rule.targets !== undefined) targets = { value: rule.targets, source: rule.id };
    if (fallbacks === null && rule.fallbacks !== undefined) fallbacks = { value: rule.fallbacks, source: rule.id };
    if (attempts === null && rule.attempts !== undefined) attempts = { value: rule.attempts, source: rule.id };
    if (retries === null && rule.retries !== undefined) retries = rule.retries;
    if (timeouts === null && rule.timeouts !== undefined) timeouts = rule.timeouts;
    if (ruleLock === null && rule.lock !== undefined) ruleLock = { value: rule.lock, source: rule.id };
    if (rule.final === true) {
      const skipped = rules.length - position - 1;
      if (skipped > 0) trace.push({ stage: 'rule', rule: rule.id, message: `final: ${skipped} later rule(s) not checked` });
      break;
    }
  }

  const defaults = policy.defaults;
  let lock: ReadonlySet<LockableOverride> = policy.lock;
  let lockSource = 'policy';
  if (ruleLock !== null && ruleLock.value.length > 0) {
    lock = new Set([...policy.lock, ...ruleLock.value]);
    lockSource = policy.lock.size > 0 ? `policy+${ruleLock.source}` : ruleLock.source;
  }
  return {
    matchedRules,
    constraints,
    routeTo,
    sort: sort ?? (defaults.sort !== undefined ? { value: defaults.sort, source: 'policy' } : null),
    split,
    targets: targets ?? (defaults.targets !== undefined ? { value: defaults.targets, source: 'policy' } : null),
    fallbacks,
    attempts: attempts ?? { value: defaults.attempts, source: 'policy' },
    retries: retries === null ? defaults.retries : { ...defaults.retries, ...retries },
    timeouts: timeouts === null ? defaults.timeouts : { ...defaults.timeouts, ...timeouts },
    lock,
    lockSource,
  };
}
