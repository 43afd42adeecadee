/**
 * Human-readable output for the CLI: values on one line, expected-vs-actual blocks, plans and
 * their traces. `--json` output never goes through here.
 */
import { formatDiagnostic, type Diagnostic, type Exclusion, type ExpectationFailure, type NoRouteError, type Plan, type PlanAttempt, type TraceEntry } from '../../engine/index.ts';

/** A value on one line: strings bare, lists and objects in flow style. */
export function inline(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.entries(value)
      .filter(([, entry]) => entry !== undefined)
      .map(([key, entry]) => `${key}: ${inline(entry)}`)
      .join(', ')}}`;
  }
  return String(value);
}

/**
 * One failed expectation as a small diff: the expected lines prefixed `-`, the actual `+`. Lists
 * of strings are shown one entry per line when they differ in more than one place.
 */
export function formatFailure(failure: ExpectationFailure, indent: string): string[] {
  const lines = [`${indent}${failure.what}:`];
  const { expected, actual } = failure;
  const listOfStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((entry) => typeof entry === 'string');
  if (listOfStrings(expected) && listOfStrings(actual) && Math.max(expected.length, actual.length) > 3) {
    lines.push(`${indent}  - expected (${expected.length}):`, ...expected.map((entry, index) => `${indent}      ${actual[index] === entry ? ' ' : '-'} ${entry}`));
    lines.push(`${indent}  + actual (${actual.length}):`, ...actual.map((entry, index) => `${indent}      ${expected[index] === entry ? ' ' : '+'} ${entry}`));
    return lines;
  }
  if (listOfStrings(actual) && !listOfStrings(expected) && actual.length > 1) {
    lines.push(`${indent}  - expected: ${inline(expected)}`, `${indent}  + actual:`, ...actual.map((entry) => `${indent}      ${entry}`));
    return lines;
  }
  lines.push(`${indent}  - expected: ${inline(expected)}`, `${indent}  + actual:   ${inline(actual)}`);
  return lines;
}

export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map(formatDiagnostic);
}

/** USD with as many decimals as a per-token price needs (up to 8), trailing zeros dropped. */
function usd(value: number): string {
  return value.toFixed(value >= 1 ? 4 : 8).replace(/\.?0+$/, '') || '0';
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) => indent + row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join('  ').trimEnd());
}

/** The plan as a reader wants it: who is tried, in what order, at what cost, and who fell out. */
export function formatPlan(plan: Plan): string[] {
  const lines = [
    `policy ${plan.policy.id} (${plan.policy.version})  ordering: ${plan.ordering}  strategy: ${plan.requested.strategy}`,
    `requested: ${plan.requested.models.join(', ') || '(default)'}  estimate: ${plan.estimate.prompt_tokens} prompt tokens, up to ${plan.estimate.max_completion_tokens} completion`,
    `matched rules: ${plan.matched_rules.join(', ') || '(none)'}  fallbacks: ${plan.allow_fallbacks ? 'allowed' : 'off'}  max attempts: ${plan.limits.max_attempts}`,
    '',
    `attempts (${plan.attempts.length}):`,
    ...table([
      ['#', 'endpoint', 'provider', 'est. cost USD', 'why'],
      ...plan.attempts.map((attempt, index) => [
        String(index + 1),
        attempt.endpoint,
        attempt.provider_name,
        `${usd(attempt.estimated_cost.min)}..${usd(attempt.estimated_cost.max)}`,
        attempt.reasons.join('; '),
      ]),
    ]),
  ];
  if (plan.excluded.length > 0) {
    lines.push('', `excluded (${plan.excluded.length}):`);
    lines.push(...table(plan.excluded.map((exclusion) => [exclusion.endpoint, exclusion.reason, `by ${exclusion.source}`, exclusion.detail])));
  }
  if (plan.budgets.length > 0) {
    lines.push('', 'budgets:');
    lines.push(...table(plan.budgets.map((budget) => [budget.id, budget.scope_key, `spent ${usd(budget.spent)} of ${usd(budget.limit)}`, `${usd(budget.remaining)} left`])));
  }
  return lines;
}

export function formatNoRoute(error: { code: string; status: number; message: string } & Partial<Pick<NoRouteError, 'excluded' | 'matched_rules'>>): string[] {
  const lines = [`no route: ${error.code} (HTTP ${error.status}): ${error.message}`];
  if (error.matched_rules && error.matched_rules.length > 0) lines.push(`matched rules: ${error.matched_rules.join(', ')}`);
  if (error.excluded && error.excluded.length > 0) {
    lines.push('', `excluded (${error.excluded.length}):`);
    lines.push(...table(error.excluded.map((exclusion) => [exclusion.endpoint, exclusion.reason, `by ${exclusion.source}`, exclusion.detail])));
  }
  return lines;
}

/**
 * `--explain`: each step the engine took (rules checked, matched or not and why), then a verdict
 * per candidate: its attempt position and why, or its exclusion and why.
 */
export function formatExplanation(
  trace: readonly TraceEntry[],
  attempts: readonly Pick<PlanAttempt, 'endpoint' | 'reasons'>[],
  excluded: readonly Exclusion[],
): string[] {
  const lines = ['', 'trace:'];
  lines.push(
    ...table(
      trace.map((entry) => {
        const verdict = entry.matched === undefined ? '' : entry.matched ? 'matched' : 'not matched';
        const message = entry.message === verdict ? '' : entry.message;
        return [entry.stage, entry.rule ?? '', verdict, message];
      }),
    ),
  );
  lines.push('', 'candidates:');
  lines.push(
    ...table([
      ...attempts.map((attempt, index) => [attempt.endpoint, `attempt ${index + 1}`, attempt.reasons.join('; ')]),
      ...excluded.map((exclusion) => [exclusion.endpoint, `excluded: ${exclusion.reason}`, `by ${exclusion.source}: ${exclusion.detail}`]),
    ]),
  );
  return lines;
}
