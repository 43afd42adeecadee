/**
 * Replay a request sample through two policies and compare the plans: which requests change
 * first provider, and what that does to estimated cost and expected latency, in total and per
 * requested model. No I/O here; `diff.ts` reads the files and `bench/diff.ts` times it.
 *
 * Estimates, per request and policy, from the plan's first attempt (the endpoint that serves the
 * request when nothing fails):
 * - cost (USD) = the attempt's `estimated_cost.min` (the engine's prompt-side estimate: prompt
 *   tokens at the endpoint's prompt price, plus any per-request price) + completion tokens x the
 *   endpoint's completion price (as the engine prices it, long-context tiers included). Completion tokens are the
 *   record's `usage.completion_tokens` when the sample line is a generation-log record, else the
 *   request's `max_tokens` capped at `completionTokens` (default 256).
 * - latency (ms) = the snapshot's p50 time to first token for that endpoint, else `defaultLatencyMs`
 *   (default 1000).
 * A request with no route under a policy counts 0 cost and no latency for that policy.
 */
import { requestFacts, evaluate, fnv1a, type CompiledCatalog, type CompiledPolicy, type EvaluateResult, type Identity, type Plan, type PlanAttempt, type RequestFacts, type Snapshot } from '../../engine/index.ts';

/** One line of the sample. */
export interface SampleRequest {
  /** 1-based line number in the sample file. */
  line: number;
  body: unknown;
  headers: Record<string, string>;
  identity: Identity;
  /** Completion tokens actually produced, when the line is a generation-log record with usage. */
  completionTokens: number | null;
  /** Prompt tokens actually billed, for a bare generation record (it holds no prompt to estimate from). */
  promptTokens: number | null;
  /** FNV-1a hash of the line's text: the per-request seed, stable when the sample is reordered. */
  hash: number;
}

export interface DiffSettings {
  snapshot: Snapshot;
  now: number;
  /** Mixed into every request's seed; both policies see the same seed for a request. */
  seed: number;
  completionTokens: number;
  defaultLatencyMs: number;
  /** How many changed requests to list. */
  limit: number;
}

export const DIFF_DEFAULTS = { completionTokens: 256, defaultLatencyMs: 1000, limit: 20 } as const;

export interface DiffChange {
  line: number;
  model: string;
  old: string | null;
  new: string | null;
  old_endpoint: string | null;
  new_endpoint: string | null;
}

interface Totals {
  requests: number;
  changed: number;
  cost_usd: { old: number; new: number; change: number };
  latency_ms: { old_mean: number; new_mean: number; change: number };
}

export interface DiffReport extends Totals {
  /** Lines the gateway would reject with 400 (not counted anywhere else). */
  invalid: Array<{ line: number; code: string; message: string }>;
  no_route: { old: number; new: number };
  changes: DiffChange[];
  per_model: Array<{ model: string } & Totals>;
  settings: { completion_tokens: number; default_latency_ms: number; seed: number };
}

/** 32-bit FNV-1a, the engine's (one hash for every seeded choice). */
export { fnv1a };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A generation record as `GenerationStore.exportJsonl` writes it holds no prompt text: it is
 * replayed as a request for its requested models, with its caller, tags and stream flag, and the
 * prompt tokens it was billed for. Tools, response_format and images are unknown for such lines.
 */
function bodyFromGenerationRecord(record: Record<string, unknown>): { body: unknown; headers: Record<string, string> } {
  const models = (record['requested_models'] as unknown[]).filter((model): model is string => typeof model === 'string');
  const body: Record<string, unknown> = { model: models[0], messages: [{ role: 'user', content: '' }], stream: record['streamed'] === true };
  if (models.length > 1) body['models'] = models.slice(1);
  const tags = Array.isArray(record['tags']) ? record['tags'].filter((tag): tag is string => typeof tag === 'string') : [];
  return { body, headers: tags.length > 0 ? { 'x-switchyard-tags': tags.join(',') } : {} };
}

/**
 * Parse a JSONL sample: each line a chat body; a record with a `request` field (and optionally
 * `headers`, `key`/`user`/`team`, `usage.completion_tokens`); or a bare generation-log record
 * (`requested_models`, `usage`, ...). Blank lines skipped.
 */
export function parseSample(text: string): { requests: SampleRequest[]; errors: string[] } {
  const requests: SampleRequest[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const lineText = raw.trim();
    if (lineText === '') return;
    let value: unknown;
    try {
      value = JSON.parse(lineText);
    } catch (error) {
      errors.push(`line ${index + 1}: not JSON (${error instanceof Error ? error.message : String(error)})`);
      return;
    }
    if (!isObject(value)) {
      errors.push(`line ${index + 1}: expected a JSON object`);
      return;
    }
    const generation = !isObject(value['request']) && Array.isArray(value['requested_models']) ? bodyFromGenerationRecord(value) : null;
    const record = isObject(value['request']) || generation ? value : null;
    const headers: Record<string, string> = { ...generation?.headers };
    if (record && isObject(record['headers'])) {
      for (const [name, headerValue] of Object.entries(record['headers'])) if (typeof headerValue === 'string') headers[name.toLowerCase()] = headerValue;
    }
    const text = (key: string): string | undefined => (record && typeof record[key] === 'string' ? record[key] : undefined);
    const usage = record && isObject(record['usage']) ? record['usage'] : null;
    const completion = usage?.['completion_tokens'];
    const prompt = usage?.['prompt_tokens'];
    requests.push({
      line: index + 1,
      body: generation ? generation.body : record ? record['request'] : value,
      headers,
      identity: { key: text('key'), user: text('user'), team: text('team') },
      completionTokens: typeof completion === 'number' ? completion : null,
      promptTokens: generation && typeof prompt === 'number' ? prompt : null,
      hash: fnv1a(lineText),
    });
  });
  return { requests, errors };
}

function maxTokensOf(body: unknown): number | null {
  if (!isObject(body)) return null;
  const value = body['max_completion_tokens'] ?? body['max_tokens'];
  return typeof value === 'number' ? value : null;
}

/**
 * Estimated cost (USD) of serving the request on the plan's first attempt. The completion price is
 * read back from the engine's own bounds (max - min over the completion tokens `max` assumed), so
 * long-context price tiers apply exactly as the engine applies them.
 */
export function estimateCost(plan: Plan, completionTokens: number): number {
  const attempt = plan.attempts[0];
  if (!attempt) return 0;
  const assumed = plan.estimate.max_completion_tokens;
  const completionPrice = assumed > 0 ? (attempt.estimated_cost.max - attempt.estimated_cost.min) / assumed : Number(attempt.pricing.completion);
  return attempt.estimated_cost.min + completionTokens * completionPrice;
}

interface Side {
  attempt: PlanAttempt | null;
  cost: number;
  latency: number | null;
}

function side(result: EvaluateResult, request: SampleRequest, settings: DiffSettings): Side {
  if (!result.ok) return { attempt: null, cost: 0, latency: null };
  const attempt = result.plan.attempts[0] ?? null;
  if (!attempt) return { attempt: null, cost: 0, latency: null };
  const completionTokens = request.completionTokens ?? Math.min(maxTokensOf(request.body) ?? settings.completionTokens, settings.completionTokens);
  const latency = settings.snapshot.endpoints?.[attempt.endpoint]?.latency_ms?.p50 ?? settings.defaultLatencyMs;
  return { attempt, cost: estimateCost(result.plan, completionTokens), latency };
}

class Accumulator {
  requests = 0;
  changed = 0;
  oldCost = 0;
  newCost = 0;
  oldLatency = 0;
  newLatency = 0;
  oldServed = 0;
  newServed = 0;

  add(before: Side, after: Side, changed: boolean): void {
    this.requests += 1;
    if (changed) this.changed += 1;
    this.oldCost += before.cost;
    this.newCost += after.cost;
    if (before.latency !== null) {
      this.oldLatency += before.latency;
      this.oldServed += 1;
    }
    if (after.latency !== null) {
      this.newLatency += after.latency;
      this.newServed += 1;
    }
  }

  totals(): Totals {
    const oldMean = this.oldServed > 0 ? this.oldLatency / this.oldServed : 0;
    const newMean = this.newServed > 0 ? this.newLatency / this.newServed : 0;
    return {
      requests: this.requests,
      changed: this.changed,
      cost_usd: { old: this.oldCost, new: this.newCost, change: this.newCost - this.oldCost },
      latency_ms: { old_mean: oldMean, new_mean: newMean, change: newMean - oldMean },
    };
  }
}

function factsFor(policy: CompiledPolicy, request: SampleRequest): ReturnType<typeof requestFacts> {
  const result = requestFacts(request.body, request.headers, request.identity, { exposeHeaders: policy.exposeHeaders });
  return result.ok && request.promptTokens !== null ? { ok: true, facts: { ...result.facts, prompt_tokens: request.promptTokens } } : result;
}

function sameHeaders(first: CompiledPolicy, second: CompiledPolicy): boolean {
  return first.exposeHeaders.length === second.exposeHeaders.length && first.exposeHeaders.every((header, index) => second.exposeHeaders[index] === header);
}

function requestedModel(facts: RequestFacts, body: unknown): string {
  if (facts.model) return facts.model;
  return isObject(body) && typeof body['model'] === 'string' ? body['model'] : '(default)';
}

/** Both policies over every request of the sample. */
export function diffPolicies(oldPolicy: CompiledPolicy, newPolicy: CompiledPolicy, catalog: CompiledCatalog, requests: readonly SampleRequest[], settings: DiffSettings): DiffReport {
  const total = new Accumulator();
  const perModel = new Map<string, Accumulator>();
  const changes: DiffChange[] = [];
  const invalid: DiffReport['invalid'] = [];
  const noRoute = { old: 0, new: 0 };
  const shareFacts = sameHeaders(oldPolicy, newPolicy);

  for (const request of requests) {
    const oldFacts = factsFor(oldPolicy, request);
    const newFacts = shareFacts ? oldFacts : factsFor(newPolicy, request);
    if (!oldFacts.ok || !newFacts.ok) {
      const error = !oldFacts.ok ? oldFacts.error : !newFacts.ok ? newFacts.error : null;
      if (error) invalid.push({ line: request.line, code: error.code, message: error.message });
      continue;
    }
    const options = { now: settings.now, seed: (request.hash ^ settings.seed) >>> 0 };
    const oldResult = evaluate(oldPolicy, catalog, oldFacts.facts, settings.snapshot, options);
    const newResult = evaluate(newPolicy, catalog, newFacts.facts, settings.snapshot, options);
    if (!oldResult.ok) noRoute.old += 1;
    if (!newResult.ok) noRoute.new += 1;
    const before = side(oldResult, request, settings);
    const after = side(newResult, request, settings);
    const changed = (before.attempt?.provider ?? null) !== (after.attempt?.provider ?? null);
    const model = requestedModel(oldFacts.facts, request.body);
    total.add(before, after, changed);
    let accumulator = perModel.get(model);
    if (!accumulator) {
      accumulator = new Accumulator();
      perModel.set(model, accumulator);
    }
    accumulator.add(before, after, changed);
    if (changed && changes.length < settings.limit) {
      changes.push({
        line: request.line,
        model,
        old: before.attempt?.provider ?? null,
        new: after.attempt?.provider ?? null,
        old_endpoint: before.attempt?.endpoint ?? null,
        new_endpoint: after.attempt?.endpoint ?? null,
      });
    }
  }

  return {
    ...total.totals(),
    invalid,
    no_route: noRoute,
    changes,
    per_model: [...perModel.entries()].sort(([first], [second]) => first.localeCompare(second)).map(([model, accumulator]) => ({ model, ...accumulator.totals() })),
    settings: { completion_tokens: settings.completionTokens, default_latency_ms: settings.defaultLatencyMs, seed: settings.seed },
  };
}
