/**
 * Compare what a case expects with what the engine produced. Each mismatch becomes one failure
 * with the expected and actual values in the same shape, so a reader can diff them by eye.
 */
import type { Diagnostic, Exclusion, NoRouteError, Plan, PlanAttempt } from '../types.ts';
import type { AttemptsExpectation, CaseExpectation, DiagnosticExpectation, ExcludedExpectation } from './test-file.ts';

/** What one case produced. */
export type CaseOutcome =
  | { kind: 'plan'; plan: Plan }
  /** A no-route error, or the request rejected while building facts (400, e.g. too many `models`). */
  | { kind: 'error'; error: { code: string; status: number; message: string } & Partial<Pick<NoRouteError, 'excluded' | 'matched_rules' | 'trace'>> }
  /** The policy or catalog did not compile (or only `diagnostics` was asked for). */
  | { kind: 'diagnostics'; diagnostics: Diagnostic[]; compiled: boolean };

export interface ExpectationFailure {
  /** The expectation that failed, e.g. `attempts`, `excluded[1]`. */
  what: string;
  expected: unknown;
  actual: unknown;
}

/** A one-line picture of an outcome that is not a plan, for `actual` fields. */
function describeNonPlan(outcome: CaseOutcome): string {
  if (outcome.kind === 'error') return `no route: ${outcome.error.code} (${outcome.error.status}) ${outcome.error.message}`;
  if (outcome.kind === 'diagnostics') {
    const errors = outcome.diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
    const first = errors[0];
    return first ? `policy did not compile: ${first.code} at ${first.line}:${first.column}: ${first.message}` : 'no plan was computed';
  }
  return `plan with ${outcome.plan.attempts.length} attempts`;
}

function attemptMatches(expected: string, attempt: PlanAttempt): boolean {
  return expected.includes('@') ? attempt.endpoint === expected : attempt.provider === expected;
}

/** Attempts shown the way the expectation names them (endpoint ids if any expected entry is one). */
function attemptLabels(expected: readonly string[], attempts: readonly PlanAttempt[]): string[] {
  const byEndpoint = expected.some((entry) => entry.includes('@'));
  return attempts.map((attempt) => (byEndpoint ? attempt.endpoint : attempt.provider));
}

function checkAttempts(expectation: AttemptsExpectation, attempts: readonly PlanAttempt[]): boolean {
  if (Array.isArray(expectation) || 'exact' in expectation) {
    const expected = Array.isArray(expectation) ? expectation : expectation.exact;
    return expected.length === attempts.length && expected.every((entry, index) => attemptMatches(entry, attempts[index] as PlanAttempt));
  }
  if ('prefix' in expectation) {
    return expectation.prefix.length <= attempts.length && expectation.prefix.every((entry, index) => attemptMatches(entry, attempts[index] as PlanAttempt));
  }
  let position = 0;
  for (const attempt of attempts) {
    const wanted = expectation.contains[position];
    if (wanted !== undefined && attemptMatches(wanted, attempt)) position += 1;
  }
  return position === expectation.contains.length;
}

function attemptEntries(expectation: AttemptsExpectation): string[] {
  if (Array.isArray(expectation)) return expectation;
  if ('exact' in expectation) return expectation.exact;
  if ('prefix' in expectation) return expectation.prefix;
  return expectation.contains;
}

export function describeExclusion(exclusion: Exclusion): string {
  return `${exclusion.endpoint}: ${exclusion.reason} (${exclusion.source})`;
}

function exclusionMatches(expected: ExcludedExpectation, exclusion: Exclusion): boolean {
  if (expected.endpoint !== undefined && exclusion.endpoint !== expected.endpoint) return false;
  if (expected.provider !== undefined && exclusion.provider !== expected.provider) return false;
  if (exclusion.reason !== expected.reason) return false;
  return expected.source === undefined || exclusion.source === expected.source;
}

function diagnosticMatches(expected: DiagnosticExpectation, diagnostic: Diagnostic): boolean {
  return (
    diagnostic.code === expected.code &&
    (expected.line === undefined || diagnostic.line === expected.line) &&
    (expected.column === undefined || diagnostic.column === expected.column) &&
    (expected.severity === undefined || diagnostic.severity === expected.severity)
  );
}

export function describeDiagnostic(diagnostic: Diagnostic): string {
  return `${diagnostic.severity} ${diagnostic.code} at ${diagnostic.line}:${diagnostic.column}: ${diagnostic.message}`;
}

/** Every mismatch between a case's expectations and its outcome. */
export function compareOutcome(expectation: CaseExpectation, outcome: CaseOutcome): ExpectationFailure[] {
  const failures: ExpectationFailure[] = [];
  const plan = outcome.kind === 'plan' ? outcome.plan : null;
  const needPlan = (what: string, expected: unknown): void => {
    failures.push({ what, expected, actual: describeNonPlan(outcome) });
  };

  if (expectation.diagnostics !== undefined) {
    const actual = outcome.kind === 'diagnostics' ? outcome.diagnostics : [];
    expectation.diagnostics.forEach((expected, index) => {
      if (!actual.some((diagnostic) => diagnosticMatches(expected, diagnostic))) {
        failures.push({
          what: expectation.diagnostics && expectation.diagnostics.length > 1 ? `diagnostics[${index}]` : 'diagnostics',
          expected,
          actual: actual.length > 0 ? actual.map(describeDiagnostic) : 'no diagnostics (the policy compiled cleanly)',
        });
      }
    });
  }

  if (expectation.first_provider !== undefined) {
    if (!plan) needPlan('first_provider', expectation.first_provider);
    else if (plan.attempts[0]?.provider !== expectation.first_provider) {
      failures.push({ what: 'first_provider', expected: expectation.first_provider, actual: plan.attempts[0]?.provider ?? 'no attempts' });
    }
  }

  if (expectation.first_model !== undefined) {
    if (!plan) needPlan('first_model', expectation.first_model);
    else if (plan.attempts[0]?.model !== expectation.first_model) {
      failures.push({ what: 'first_model', expected: expectation.first_model, actual: plan.attempts[0]?.model ?? 'no attempts' });
    }
  }

  if (expectation.attempts !== undefined) {
    const entries = attemptEntries(expectation.attempts);
    if (!plan) needPlan('attempts', expectation.attempts);
    else if (!checkAttempts(expectation.attempts, plan.attempts)) {
      const mode = Array.isArray(expectation.attempts) ? 'exact' : Object.keys(expectation.attempts)[0] ?? 'exact';
      failures.push({ what: mode === 'exact' ? 'attempts' : `attempts (${mode})`, expected: entries, actual: attemptLabels(entries, plan.attempts) });
    }
  }

  if (expectation.excluded !== undefined) {
    const excluded = outcome.kind === 'plan' ? outcome.plan.excluded : outcome.kind === 'error' ? (outcome.error.excluded ?? []) : null;
    if (excluded === null) needPlan('excluded', expectation.excluded);
    else {
      expectation.excluded.forEach((expected, index) => {
        if (excluded.some((exclusion) => exclusionMatches(expected, exclusion))) return;
        const related = excluded.filter(
          (exclusion) => exclusion.provider === expected.provider || exclusion.endpoint === expected.endpoint,
        );
        const attempted = plan?.attempts.filter((attempt) => attempt.provider === expected.provider || attempt.endpoint === expected.endpoint) ?? [];
        failures.push({
          what: expectation.excluded && expectation.excluded.length > 1 ? `excluded[${index}]` : 'excluded',
          expected,
          actual:
            related.length > 0
              ? related.map(describeExclusion)
              : attempted.length > 0
                ? `not excluded: attempted as ${attempted.map((attempt) => attempt.endpoint).join(', ')}`
                : `not excluded (excluded: ${excluded.map(describeExclusion).join('; ') || 'none'})`,
        });
      });
    }
  }

  if (expectation.error !== undefined) {
    const expected = expectation.error;
    if (outcome.kind !== 'error') {
      failures.push({
        what: 'error',
        expected,
        actual: plan ? `a plan: ${plan.attempts.map((attempt) => attempt.endpoint).join(', ')}` : describeNonPlan(outcome),
      });
    } else {
      const actual = outcome.error;
      const mismatch =
        actual.code !== expected.code ||
        (expected.status !== undefined && actual.status !== expected.status) ||
        (expected.message !== undefined && !actual.message.includes(expected.message));
      if (mismatch) failures.push({ what: 'error', expected, actual: { code: actual.code, status: actual.status, message: actual.message } });
    }
  }

  if (expectation.matched_rules !== undefined) {
    const matched = outcome.kind === 'plan' ? outcome.plan.matched_rules : outcome.kind === 'error' ? (outcome.error.matched_rules ?? []) : null;
    if (matched === null) needPlan('matched_rules', expectation.matched_rules);
    else if (matched.length !== expectation.matched_rules.length || matched.some((rule, index) => rule !== expectation.matched_rules?.[index])) {
      failures.push({ what: 'matched_rules', expected: expectation.matched_rules, actual: matched });
    }
  }

  if (expectation.ordering !== undefined) {
    if (!plan) needPlan('ordering', expectation.ordering);
    else if (plan.ordering !== expectation.ordering) failures.push({ what: 'ordering', expected: expectation.ordering, actual: plan.ordering });
  }

  if (expectation.strategy !== undefined) {
    if (!plan) needPlan('strategy', expectation.strategy);
    else if (plan.requested.strategy !== expectation.strategy) {
      failures.push({ what: 'strategy', expected: expectation.strategy, actual: plan.requested.strategy });
    }
  }

  return failures;
}
