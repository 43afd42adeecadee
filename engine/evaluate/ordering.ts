/**
 * Ordering of the endpoints that survived the filters (ARCHITECTURE.md, "Precedence" step 4):
 *   1. the request's `provider.order` puts the named providers first, in that order;
 *   2. then one of: an explicit sort (request `sort` or variant, unless locked; else rule/policy
 *      `sort`), a weighted split (the chosen arm first), or the default (a first pick drawn with
 *      weight 1/price², the rest by ascending price);
 *   3. throughout 2, endpoints that miss latency/throughput targets come after those that meet
 *      them, and endpoints with an open circuit or a recent failure come last (never dropped).
 * With `allow_fallbacks: false` only the ordered providers (or the first endpoint) stay.
 */
import type { EndpointHealth, SortBy, WeightedSplit } from '../types.ts';
import type { EndpointInfo } from './catalog-index.ts';
import type { CostBounds } from './cost.ts';
import { matchesProvider } from './provider-match.ts';
import { seededDraw, unitHash } from './random.ts';

/** An endpoint that passed the hard filters, on its way into the plan. */
export interface Candidate {
  info: EndpointInfo;
  health: EndpointHealth | undefined;
  cost: CostBounds;
  /** Why it goes last although it passed the filters (circuit open, recently failed), or null. */
  demotion: string | null;
  /** Misses a latency/throughput target or preference: after those that meet them. */
  missesTargets: boolean;
  /** Index of its model in the chain (primary = 0). */
  chainIndex: number;
  /** Why it sits where it does; set by ordering. */
  position: string;
}

export interface OrderSettings {
  /** Request `provider.order`, unless locked. */
  order: readonly string[] | null;
  allowFallbacks: boolean;
  sort: { by: SortBy; source: string } | null;
  split: { split: WeightedSplit; source: string; stickyValue: string | null } | null;
  seed: number;
}

export interface OrderResult {
  ordered: Candidate[];
  label: string;
  /** Candidates `allow_fallbacks: false` keeps out. */
  dropped: Array<{ candidate: Candidate; reason: 'request_order' | 'no_fallbacks'; detail: string }>;
}

/** 0 = preferred, 1 = misses targets, 2 = demoted for health. */
function rank(candidate: Candidate): number {
  return candidate.demotion !== null ? 2 : candidate.missesTargets ? 1 : 0;
}

function byPrice(a: Candidate, b: Candidate): number {
  return a.info.blendedPrice - b.info.blendedPrice || a.info.index - b.info.index;
}

/** Sort key where smaller is better; unknown statistics sort last. */
function statistic(candidate: Candidate, by: SortBy): number {
  const health = candidate.health;
  switch (by) {
    case 'price':
      return candidate.info.blendedPrice;
    case 'latency':
      return health?.latency_ms?.p50 ?? Number.POSITIVE_INFINITY;
    case 'throughput': {
      const throughput = health?.throughput?.p50;
      return throughput === undefined ? Number.POSITIVE_INFINITY : -throughput;
    }
    case 'reliability': {
      if (health?.error_rate !== undefined) return health.error_rate;
      const uptime = health?.uptime;
      return uptime === undefined || uptime === null ? Number.POSITIVE_INFINITY : 1 - uptime / 100;
    }
  }
}

function describeDemotion(candidate: Candidate): string {
  if (candidate.demotion !== null) return `; demoted: ${candidate.demotion}`;
  return candidate.missesTargets ? '; demoted: misses latency/throughput targets' : '';
}

function compareDefault(a: Candidate, b: Candidate): number {
  return rank(a) - rank(b) || byPrice(a, b);
}

/** One comparator per sort key, built once (a comparator per call would be an allocation per sort). */
const SORT_COMPARATORS: Readonly<Record<SortBy, (a: Candidate, b: Candidate) => number>> = {
  price: (a, b) => rank(a) - rank(b) || byPrice(a, b),
  latency: (a, b) => rank(a) - rank(b) || statistic(a, 'latency') - statistic(b, 'latency') || byPrice(a, b),
  throughput: (a, b) => rank(a) - rank(b) || statistic(a, 'throughput') - statistic(b, 'throughput') || byPrice(a, b),
  reliability: (a, b) => rank(a) - rank(b) || statistic(a, 'reliability') - statistic(b, 'reliability') || byPrice(a, b),
};

function sortPool(pool: Candidate[], by: SortBy, source: string): void {
  pool.sort(SORT_COMPARATORS[by]);
  for (const candidate of pool) candidate.position = `sort:${by} (${source})${describeDemotion(candidate)}`;
}

/** First pick drawn with weight 1/price² among the best-ranked, the rest by rank then ascending price. */
function defaultPool(pool: Candidate[], seed: number, label: string): void {
  pool.sort(compareDefault);
  const first = pool[0];
  if (first === undefined) return;
  const bestRank = rank(first);
  let groupEnd = 1;
  while (groupEnd < pool.length && rank(pool[groupEnd]!) === bestRank) groupEnd++;
  let pick = 0;
  let share = 1;
  if (groupEnd > 1) {
    // Free endpoints have infinite weight: they share the draw among themselves.
    const freeCount = first.info.blendedPrice === 0 ? countZeroPrice(pool, groupEnd) : 0;
    let total = 0;
    for (let index = 0; index < groupEnd; index++) total += weight(pool[index]!, freeCount);
    const target = seededDraw(seed, `first-pick|${label}`) * total;
    let cumulative = 0;
    pick = groupEnd - 1;
    for (let index = 0; index < groupEnd; index++) {
      cumulative += weight(pool[index]!, freeCount);
      if (target < cumulative) {
        pick = index;
        break;
      }
    }
    share = weight(pool[pick]!, freeCount) / total;
  }
  if (pick > 0) {
    const [picked] = pool.splice(pick, 1);
    pool.unshift(picked!);
  }
  pool[0]!.position = `first pick: 1/price² draw among ${groupEnd} (share ${(share * 100).toFixed(1)}%)${describeDemotion(pool[0]!)}`;
  for (let index = 1; index < pool.length; index++) pool[index]!.position = `fallback: ascending price${describeDemotion(pool[index]!)}`;
}

function countZeroPrice(pool: Candidate[], end: number): number {
  let count = 0;
  for (let index = 0; index < end; index++) if (pool[index]!.info.blendedPrice === 0) count++;
  return count;
}

function weight(candidate: Candidate, freeCount: number): number {
  const price = candidate.info.blendedPrice;
  if (freeCount > 0) return price === 0 ? 1 : 0;
  return 1 / (price * price);
}

/** The chosen arm's endpoints first (by rank and price), then the rest; null when no arm has an endpoint here. */
function splitPool(pool: Candidate[], split: NonNullable<OrderSettings['split']>, seed: number, label: string): string | null {
  const arms: Array<{ name: string; weight: number }> = [];
  let total = 0;
  for (const name of Object.keys(split.split.weights)) {
    const armWeight = split.split.weights[name] ?? 0;
    if (armWeight > 0 && pool.some((candidate) => matchesProvider(name, candidate.info))) {
      arms.push({ name, weight: armWeight });
      total += armWeight;
    }
  }
  if (arms.length === 0) return null;
  const draw = split.stickyValue !== null ? unitHash(`${split.stickyValue}|${split.source}`) : seededDraw(seed, `split|${split.source}|${label}`);
  const target = draw * total;
  let cumulative = 0;
  let chosen = arms[arms.length - 1]!;
  for (const arm of arms) {
    cumulative += arm.weight;
    if (target < cumulative) {
      chosen = arm;
      break;
    }
  }
  const inArm = (candidate: Candidate): number => (matchesProvider(chosen.name, candidate.info) ? 0 : 1);
  pool.sort((a, b) => rank(a) - rank(b) || inArm(a) - inArm(b) || byPrice(a, b));
  const how = split.stickyValue !== null ? `sticky on ${split.split.sticky ?? 'session'}` : 'seeded draw';
  for (const candidate of pool) {
    candidate.position = inArm(candidate) === 0 ? `split arm ${chosen.name} (${split.source}, ${how})${describeDemotion(candidate)}` : `fallback outside split arm ${chosen.name}${describeDemotion(candidate)}`;
  }
  return chosen.name;
}

/** Order one model's candidates (or, for `partition: none`, every model's together). */
export function orderCandidates(candidates: Candidate[], settings: OrderSettings, label: string): OrderResult {
  const dropped: OrderResult['dropped'] = [];
  const head: Candidate[] = [];
  let pool = candidates;
  let orderLabel = '';

  if (settings.order !== null && settings.order.length > 0) {
    const taken = new Set<Candidate>();
    settings.order.forEach((name, position) => {
      const named = pool.filter((candidate) => !taken.has(candidate) && matchesProvider(name, candidate.info)).sort(byPrice);
      for (const candidate of named) {
        taken.add(candidate);
        candidate.position = `provider.order #${position + 1} (${name})`;
        head.push(candidate);
      }
    });
    pool = pool.filter((candidate) => !taken.has(candidate));
    orderLabel = 'order';
    if (!settings.allowFallbacks) {
      for (const candidate of pool) dropped.push({ candidate, reason: 'request_order', detail: `${candidate.info.providerId} not in provider.order and allow_fallbacks is false` });
      pool = [];
    }
  }

  let poolLabel: string;
  if (settings.sort !== null) {
    sortPool(pool, settings.sort.by, settings.sort.source);
    poolLabel = `sort:${settings.sort.by}`;
  } else {
    const arm = settings.split !== null ? splitPool(pool, settings.split, settings.seed, label) : null;
    if (arm !== null) {
      poolLabel = `split:${arm}`;
    } else {
      defaultPool(pool, settings.seed, label);
      poolLabel = 'weighted-inverse-square-price';
    }
  }

  if (!settings.allowFallbacks && orderLabel === '' && pool.length > 1) {
    for (const candidate of pool.slice(1)) dropped.push({ candidate, reason: 'no_fallbacks', detail: 'allow_fallbacks is false: only the first endpoint is tried' });
    pool = pool.slice(0, 1);
  }

  const ordered = head.length > 0 ? head.concat(pool) : pool;
  const labelText = orderLabel === '' ? poolLabel : pool.length > 0 ? `${orderLabel}+${poolLabel}` : orderLabel;
  return { ordered, label: labelText, dropped };
}
