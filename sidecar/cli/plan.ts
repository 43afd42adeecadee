/**
 * `switchyard plan --request req.json`: what the gateway would do with one request, offline.
 * `--explain` adds the trace: each rule checked (matched or not, and why) and each candidate
 * excluded (and why). `--json` prints the plan object exactly as `POST /api/v1/plan` returns it.
 *
 * Exit codes: 0 a plan; 1 no route (the typed error is printed); 2 usage error or invalid input
 * (a file that does not load, a policy or catalog that does not compile, a request the gateway
 * would reject with 400).
 */
import { DEFAULT_NOW, DEFAULT_SEED, evaluate, requestFacts, type Identity, type Snapshot } from '../../engine/index.ts';
import { loadCatalog, loadPolicy, readData, UsageError } from './files.ts';
import { formatExplanation, formatNoRoute, formatPlan } from './format.ts';
import { EXIT, type Output } from './output.ts';

export interface PlanCommandOptions {
  request: string;
  snapshot?: string;
  seed?: number;
  policy?: string;
  catalog?: string[];
  /** ISO 8601 or epoch ms; default the test runner's fixed time, so plans are reproducible. */
  now?: string;
  key?: string;
  user?: string;
  team?: string;
  /** `name=value` or `name: value`. */
  header?: string[];
  explain?: boolean;
  json?: boolean;
}

/** `name=value` / `name: value` pairs into a header map (names lowercased). */
export function parseHeaders(pairs: readonly string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const match = /^([^=:]+)[=:]\s*(.*)$/.exec(pair);
    if (!match) throw new UsageError(`--header expects name=value, got "${pair}"`);
    headers[(match[1] ?? '').trim().toLowerCase()] = match[2] ?? '';
  }
  return headers;
}

export function parseNow(now: string | undefined): number {
  if (now === undefined) return DEFAULT_NOW;
  const value = /^\d+$/.test(now) ? Number(now) : Date.parse(now);
  if (Number.isNaN(value)) throw new UsageError(`--now expects ISO 8601 or epoch milliseconds, got "${now}"`);
  return value;
}

export async function planCommand(options: PlanCommandOptions, output: Output): Promise<number> {
  const catalog = loadCatalog(options.catalog);
  const policy = loadPolicy(options.policy, catalog);
  const body = readData(options.request, 'request');
  const snapshot = (options.snapshot ? readData(options.snapshot, 'snapshot') : {}) as Snapshot;
  const identity: Identity = { key: options.key, user: options.user, team: options.team };
  const facts = requestFacts(body, parseHeaders(options.header), identity, { exposeHeaders: policy.exposeHeaders });
  if (!facts.ok) {
    if (options.json) output.out(JSON.stringify({ ok: false, error: facts.error }, null, 2));
    else output.error(`invalid request (HTTP 400 ${facts.error.code}): ${facts.error.message}`);
    return EXIT.usage;
  }
  const result = evaluate(policy, catalog, facts.facts, snapshot, { now: parseNow(options.now), seed: options.seed ?? DEFAULT_SEED });
  if (options.json) {
    output.out(JSON.stringify(result.ok ? result.plan : { error: result.error }, null, 2));
    return result.ok ? EXIT.ok : EXIT.failures;
  }
  const lines = result.ok ? formatPlan(result.plan) : formatNoRoute(result.error);
  if (options.explain) {
    lines.push(
      ...(result.ok
        ? formatExplanation(result.plan.trace, result.plan.attempts, result.plan.excluded)
        : formatExplanation(result.error.trace, [], result.error.excluded)),
    );
  }
  for (const line of lines) output.out(line);
  return result.ok ? EXIT.ok : EXIT.failures;
}
