/**
 * The dashboard's figures, computed from the generation log (`GenerationStore.list`) and live
 * state: spend over time by model and provider, fallback rate, latency per provider, recent
 * generations with their attempt chains, the policy in force and open circuits.
 *
 * Money is summed exactly (accounting's 18-digit decimals) and returned as strings; chart series
 * are numbers (USD) because they only draw.
 */
import { formatUnits, parseUnits } from '../accounting/decimal.ts';
import type { CircuitState } from '../ops/circuit-breaker.ts';
import type { PolicyStatus } from '../ops/policy-reloader.ts';
import { madeAttempts, servedByFallback, servingAttempt } from '../ops/record-facts.ts';
import { percentiles } from '../ops/rolling-window.ts';
import type { GenerationRecord } from '../store/generation-record.ts';

/** One chart series: a name and a value per bucket, with its exact total. */
export interface SpendSeries {
  name: string;
  /** USD per bucket. */
  values: number[];
  /** Exact USD over the window. */
  total: string;
}

export interface ProviderFigures {
  provider: string;
  attempts: number;
  served: number;
  /** Attempts that failed (not cancelled or skipped). */
  failed: number;
  /** Whole-attempt latency of served attempts, ms. */
  latency_ms: { p50: number | null; p90: number | null };
  /** Time to first byte of served streamed attempts, ms. */
  ttft_ms: { p50: number | null; p90: number | null };
  spend: string;
}

export interface RecentGeneration {
  id: string;
  created_at: string;
  model: string;
  provider: string | null;
  status: number;
  latency_ms: number;
  cost: string;
  streamed: boolean;
  fallback: boolean;
  attempts: Array<{ provider: string; model: string; status: number | null; outcome: string; latency_ms: number }>;
}

export interface DashboardSummary {
  generated_at: string;
  /** The records the figures cover (the most recent `limit`). */
  window: { from: string | null; to: string | null; records: number; limit: number };
  totals: {
    requests: number;
    served: number;
    failed: number;
    /** Served by another endpoint than the first attempt. */
    fallbacks: number;
    /** fallbacks / served; null with nothing served. */
    fallback_rate: number | null;
    spend: string;
    prompt_tokens: number;
    completion_tokens: number;
  };
  spend_over_time: { bucket_ms: number; buckets: string[]; by_model: SpendSeries[]; by_provider: SpendSeries[] };
  providers: ProviderFigures[];
  recent: RecentGeneration[];
  policy: PolicyStatus | null;
  circuits: Array<{ endpoint: string; state: CircuitState }>;
}

export interface SummaryInput {
  /** Most recent first, as `GenerationStore.list` returns them. */
  records: readonly GenerationRecord[];
  limit: number;
  now: number;
  policy: PolicyStatus | null;
  /** Endpoints whose circuit is not closed are listed. */
  circuits?: ReadonlyArray<{ endpoint: string; state: CircuitState }>;
  /** How many recent generations to list. Default 25. */
  recentCount?: number;
}

/** Bucket sizes the spend chart picks from: the smallest that keeps it within 60 bars. */
const BUCKET_SIZES_MS = [10_000, 60_000, 5 * 60_000, 15 * 60_000, 60 * 60_000, 6 * 60 * 60_000, 24 * 60 * 60_000];
const MAX_BUCKETS = 60;
/** The chart covers at least this much time before now, so a burst does not fill it with one bar. */
const MIN_CHART_SPAN_MS = 5 * 60_000;

function bucketCountOf(fromMs: number, toMs: number, size: number): number {
  return Math.max(1, Math.floor(toMs / size) - Math.floor(fromMs / size) + 1);
}

function bucketSize(fromMs: number, toMs: number): number {
  return BUCKET_SIZES_MS.find((size) => bucketCountOf(fromMs, toMs, size) <= MAX_BUCKETS) ?? BUCKET_SIZES_MS[BUCKET_SIZES_MS.length - 1]!;
}

function units(cost: string): bigint {
  try {
    return parseUnits(cost);
  } catch {
    return 0n;
  }
}

/** Round USD for drawing only. */
function chartNumber(value: bigint): number {
  return Number(formatUnits(value));
}

function spendSeries(names: Map<string, bigint[]>): SpendSeries[] {
  return [...names]
    .map(([name, values]) => ({ name, values: values.map(chartNumber), total: formatUnits(values.reduce((sum, value) => sum + value, 0n)), sortKey: values.reduce((sum, value) => sum + value, 0n) }))
    .sort((a, b) => (a.sortKey === b.sortKey ? a.name.localeCompare(b.name) : a.sortKey > b.sortKey ? -1 : 1))
    .map(({ name, values, total }) => ({ name, values, total }));
}

/** By creation time, newest first (ties by id), whatever order the store lists in. */
export function newestFirst(records: readonly GenerationRecord[]): GenerationRecord[] {
  return [...records].sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) : a.created_at < b.created_at ? 1 : -1));
}

function pair(samples: number[]): { p50: number | null; p90: number | null } {
  const set = percentiles(samples);
  return { p50: set.p50 ?? null, p90: set.p90 ?? null };
}

export function dashboardSummary(input: SummaryInput): DashboardSummary {
  const records = input.records;
  const oldest = records[records.length - 1];
  const newest = records[0];
  const fromMs = Math.min(oldest ? Date.parse(oldest.created_at) : input.now, input.now - MIN_CHART_SPAN_MS);
  const toMs = Math.max(input.now, fromMs);
  const bucketMs = bucketSize(fromMs, toMs);
  const firstBucket = Math.floor(fromMs / bucketMs) * bucketMs;
  const bucketCount = Math.min(MAX_BUCKETS, bucketCountOf(fromMs, toMs, bucketMs));

  const byModel = new Map<string, bigint[]>();
  const byProvider = new Map<string, bigint[]>();
  const addTo = (series: Map<string, bigint[]>, name: string, index: number, amount: bigint): void => {
    let values = series.get(name);
    if (!values) {
      values = Array.from({ length: bucketCount }, () => 0n);
      series.set(name, values);
    }
    values[index] = (values[index] ?? 0n) + amount;
  };

  interface ProviderAccumulator {
    attempts: number;
    served: number;
    failed: number;
    latency: number[];
    ttft: number[];
    spend: bigint;
  }
  const providers = new Map<string, ProviderAccumulator>();
  const providerOf = (name: string): ProviderAccumulator => {
    let entry = providers.get(name);
    if (!entry) {
      entry = { attempts: 0, served: 0, failed: 0, latency: [], ttft: [], spend: 0n };
      providers.set(name, entry);
    }
    return entry;
  };

  let served = 0;
  let fallbacks = 0;
  let spend = 0n;
  let promptTokens = 0;
  let completionTokens = 0;
  for (const record of records) {
    const at = Date.parse(record.created_at);
    const index = Math.min(bucketCount - 1, Math.max(0, Math.floor((at - firstBucket) / bucketMs)));
    for (const attempt of madeAttempts(record)) {
      const entry = providerOf(attempt.provider);
      entry.attempts++;
      const cost = units(attempt.cost);
      if (attempt.outcome === 'ok') {
        entry.served++;
        entry.latency.push(attempt.latency_ms);
        if (record.streamed && attempt.first_byte_ms !== undefined) entry.ttft.push(attempt.first_byte_ms);
      } else if (attempt.outcome !== 'cancelled') {
        entry.failed++;
      }
      if (cost !== 0n) {
        entry.spend += cost;
        addTo(byModel, attempt.model, index, cost);
        addTo(byProvider, attempt.provider, index, cost);
      }
    }
    spend += units(record.total_cost);
    if (servingAttempt(record)) served++;
    if (servedByFallback(record)) fallbacks++;
    promptTokens += record.usage.prompt_tokens ?? 0;
    completionTokens += record.usage.completion_tokens ?? 0;
  }

  return {
    generated_at: new Date(input.now).toISOString(),
    window: { from: oldest?.created_at ?? null, to: newest?.created_at ?? null, records: records.length, limit: input.limit },
    totals: {
      requests: records.length,
      served,
      failed: records.length - served,
      fallbacks,
      fallback_rate: served === 0 ? null : fallbacks / served,
      spend: formatUnits(spend),
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
    },
    spend_over_time: {
      bucket_ms: bucketMs,
      buckets: Array.from({ length: bucketCount }, (_, index) => new Date(firstBucket + index * bucketMs).toISOString()),
      by_model: spendSeries(byModel),
      by_provider: spendSeries(byProvider),
    },
    providers: [...providers]
      .map(([provider, entry]) => ({ provider, attempts: entry.attempts, served: entry.served, failed: entry.failed, latency_ms: pair(entry.latency), ttft_ms: pair(entry.ttft), spend: formatUnits(entry.spend) }))
      .sort((a, b) => b.attempts - a.attempts || a.provider.localeCompare(b.provider)),
    recent: newestFirst(records).slice(0, input.recentCount ?? 25).map((record) => ({
      id: record.id,
      created_at: record.created_at,
      model: record.model,
      provider: record.provider,
      status: record.status,
      latency_ms: record.latency_ms,
      cost: record.total_cost,
      streamed: record.streamed,
      fallback: servedByFallback(record),
      attempts: madeAttempts(record).map((attempt) => ({ provider: attempt.provider, model: attempt.model, status: attempt.status, outcome: attempt.outcome, latency_ms: attempt.latency_ms })),
    })),
    policy: input.policy,
    circuits: (input.circuits ?? []).filter((circuit) => circuit.state !== 'closed'),
  };
}
