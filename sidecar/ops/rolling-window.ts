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

/**
 * One bucket: counters and bounded sample series in typed arrays, indexed by the position of the
 * counter / series name in the ring's options; reset in place when the ring wraps onto it.
 */
interface Bucket {
  /** Start of the bucket, epoch ms; -1 when never used. */
  start: number;
  counts: Float64Array;
  /** `samplesPerBucket` slots per series, series after series. */
  values: Float64Array;
  /** Samples offered per series (the series keeps at most `samplesPerBucket`). */
  offered: Float64Array;
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
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #perBucket: number;
  /** Slots are made on first use. */
  readonly #ring: Array<Bucket | undefined>;

  constructor(options: RingOptions<Counter, Series>) {
    this.#options = options;
    this.#bucketMs = options.bucketMs;
    this.#buckets = options.buckets;
    this.#perBucket = options.samplesPerBucket;
    this.#ring = new Array<Bucket | undefined>(options.buckets).fill(undefined);
  }

  /** Longest span this ring can answer for, ms. */
  get spanMs(): number {
    return this.#options.bucketMs * this.#options.buckets;
  }

  add(now: number, counter: Counter, amount = 1): void {
    this.addAt(now, this.#counterIndex(counter), amount);
  }

  /** `add` by the counter's position in `options.counters`. */
  addAt(now: number, counter: number, amount = 1): void {
    this.#bucketAt(now).counts[counter]! += amount;
  }

  sample(now: number, series: Series, value: number): void {
    this.sampleAt(now, this.#seriesIndex(series), value);
  }

  /** `sample` by the series' position in `options.series`. */
  sampleAt(now: number, series: number, value: number): void {
    const bucket = this.#bucketAt(now);
    const offered = bucket.offered[series]!;
    bucket.offered[series] = offered + 1;
    // Kept in offer order until full, then overwritten round-robin.
    bucket.values[series * this.#perBucket + (offered % this.#perBucket)] = value;
  }

  /** Counter totals over the last `spanMs` (whole buckets, the current one included). */
  counts(now: number, spanMs: number): Record<Counter, number> {
    const totals = {} as Record<Counter, number>;
    const counters = this.#options.counters;
    for (let index = 0; index < counters.length; index++) totals[counters[index]!] = this.count(now, spanMs, index);
    return totals;
  }

  /** One counter's total over the last `spanMs`, by its position in `options.counters`. */
  count(now: number, spanMs: number, counter: number): number {
    const bucketMs = this.#bucketMs;
    const current = Math.floor(now / bucketMs);
    const count = this.#spanBuckets(spanMs);
    let total = 0;
    for (let back = 0; back < count; back++) {
      const bucket = this.#live(current - back);
      if (bucket) total += bucket.counts[counter]!;
    }
    return total;
  }

  /** Every kept sample of a series over the last `spanMs`, newest bucket first. */
  samples(now: number, spanMs: number, series: Series): number[] {
    const index = this.#seriesIndex(series);
    const per = this.#perBucket;
    const current = Math.floor(now / this.#bucketMs);
    const count = this.#spanBuckets(spanMs);
    const values: number[] = [];
    for (let back = 0; back < count; back++) {
      const bucket = this.#live(current - back);
      if (!bucket) continue;
      const kept = Math.min(bucket.offered[index]!, per);
      for (let slot = 0; slot < kept; slot++) values.push(bucket.values[index * per + slot]!);
    }
    return values;
  }

  #spanBuckets(spanMs: number): number {
    return Math.min(this.#buckets, Math.max(1, Math.ceil(spanMs / this.#bucketMs)));
  }

  /** The bucket of `period` (a bucket number) if its slot still holds that period (walks only the slots asked for). */
  #live(period: number): Bucket | undefined {
    const buckets = this.#buckets;
    const bucket = this.#ring[((period % buckets) + buckets) % buckets];
    return bucket !== undefined && bucket.start === period * this.#bucketMs ? bucket : undefined;
  }

  #bucketAt(now: number): Bucket {
    const bucketMs = this.#bucketMs;
    const period = Math.floor(now / bucketMs);
    const start = period * bucketMs;
    const index = period % this.#buckets;
    let bucket = this.#ring[index];
    if (bucket === undefined) {
      const { counters, series } = this.#options;
      bucket = { start, counts: new Float64Array(counters.length), values: new Float64Array(series.length * this.#perBucket), offered: new Float64Array(series.length) };
      this.#ring[index] = bucket;
    } else if (bucket.start !== start) {
      bucket.start = start;
      bucket.counts.fill(0);
      bucket.offered.fill(0);
    }
    return bucket;
  }

  #counterIndex(counter: Counter): number {
    const index = this.#options.counters.indexOf(counter);
    if (index === -1) throw new Error(`unknown counter ${counter}`);
    return index;
  }

  #seriesIndex(series: Series): number {
    const index = this.#options.series.indexOf(series);
    if (index === -1) throw new Error(`unknown series ${series}`);
    return index;
  }
}
