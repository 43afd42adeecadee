/**
 * Time-bucketed ring buffers: counts and bounded samples per bucket, summed over any span up to the
 * ring's length. Time comes in as an argument (epoch ms), so tests move it by hand.
 */

/** Nearest-rank percentiles of a set of samples, or undefined keys when it is empty. */
export interface PercentileSet {
  p50?: number;
  p75?: number;
  p90?: number;
  p99?: number;
}

/** Nearest-rank percentile of sorted values (`fraction` in 0..1). */
export function percentile(sorted: readonly number[], fraction: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** p50, p75, p90 and p99 of unsorted samples, rounded to 0.1; empty object for no samples. */
export function percentiles(samples: readonly number[]): PercentileSet {
  if (samples.length === 0) return {};
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (value: number | undefined): number => Math.round((value ?? 0) * 10) / 10;
  return { p50: round(percentile(sorted, 0.5)), p75: round(percentile(sorted, 0.75)), p90: round(percentile(sorted, 0.9)), p99: round(percentile(sorted, 0.99)) };
}

/** One bucket: integer counters and sample series, all reset when the ring wraps onto it. */
interface Bucket<Counter extends string, Series extends string> {
  /** Start of the bucket, epoch ms; -1 when never used. */
  start: number;
  counts: Record<Counter, number>;
  samples: Record<Series, number[]>;
  /** Samples offered per series (the series keeps at most `samplesPerBucket`). */
  offered: Record<Series, number>;
}

export interface RingOptions<Counter extends string, Series extends string> {
  bucketMs: number;
  buckets: number;
  counters: readonly Counter[];
  series: readonly Series[];
  /** Most samples kept per series per bucket; later ones overwrite round-robin, so memory stays bounded. */
  samplesPerBucket: number;
}

export class BucketRing<Counter extends string, Series extends string> {
  readonly #options: RingOptions<Counter, Series>;
  readonly #ring: Array<Bucket<Counter, Series>>;

  constructor(options: RingOptions<Counter, Series>) {
    this.#options = options;
    this.#ring = Array.from({ length: options.buckets }, () => this.#emptyBucket(-1));
  }

  /** Longest span this ring can answer for, ms. */
  get spanMs(): number {
    return this.#options.bucketMs * this.#options.buckets;
  }

  add(now: number, counter: Counter, amount = 1): void {
    this.#bucketAt(now).counts[counter] += amount;
  }

  sample(now: number, series: Series, value: number): void {
    const bucket = this.#bucketAt(now);
    const kept = bucket.samples[series];
    const offered = bucket.offered[series]++;
    if (kept.length < this.#options.samplesPerBucket) kept.push(value);
    else kept[offered % this.#options.samplesPerBucket] = value;
  }

  /** Counter totals over the last `spanMs` (whole buckets, the current one included). */
  counts(now: number, spanMs: number): Record<Counter, number> {
    const totals = Object.fromEntries(this.#options.counters.map((name) => [name, 0])) as Record<Counter, number>;
    for (const bucket of this.#live(now, spanMs)) for (const name of this.#options.counters) totals[name] += bucket.counts[name];
    return totals;
  }

  /** Every kept sample of a series over the last `spanMs`. */
  samples(now: number, spanMs: number, series: Series): number[] {
    const values: number[] = [];
    for (const bucket of this.#live(now, spanMs)) values.push(...bucket.samples[series]);
    return values;
  }

  /** Buckets of the last `spanMs` still holding their own period, newest first (walks only those slots). */
  #live(now: number, spanMs: number): Array<Bucket<Counter, Series>> {
    const { bucketMs, buckets } = this.#options;
    const current = Math.floor(now / bucketMs);
    const count = Math.min(buckets, Math.max(1, Math.ceil(spanMs / bucketMs)));
    const live: Array<Bucket<Counter, Series>> = [];
    for (let back = 0; back < count; back++) {
      const period = current - back;
      const bucket = this.#ring[((period % buckets) + buckets) % buckets]!;
      if (bucket.start === period * bucketMs) live.push(bucket);
    }
    return live;
  }

  #bucketAt(now: number): Bucket<Counter, Series> {
    const { bucketMs, buckets } = this.#options;
    const start = Math.floor(now / bucketMs) * bucketMs;
    const index = Math.floor(now / bucketMs) % buckets;
    let bucket = this.#ring[index]!;
    if (bucket.start !== start) {
      bucket = this.#emptyBucket(start);
      this.#ring[index] = bucket;
    }
    return bucket;
  }

  #emptyBucket(start: number): Bucket<Counter, Series> {
    const { counters, series } = this.#options;
    return {
      start,
      counts: Object.fromEntries(counters.map((name) => [name, 0])) as Record<Counter, number>,
      samples: Object.fromEntries(series.map((name) => [name, []])) as unknown as Record<Series, number[]>,
      offered: Object.fromEntries(series.map((name) => [name, 0])) as Record<Series, number>,
    };
  }
}
