/**
 * Per-request metric updates as plain arithmetic, published to prom-client when it is scraped.
 *
 * A prom-client child (`counter.labels(...)`, `histogram.labels(...)`) still validates and hashes
 * its label object on every call, and a histogram finds its bucket through a number-keyed object.
 * Here a series is bound once per label set and an update is an addition: counters keep their
 * totals as numbers and write them into the prom-client `Counter` from its `collect()` (reset,
 * then one `inc` per series, in the order the series were first incremented, as prom-client
 * orders them); histograms keep their buckets in a typed array and answer the registry themselves,
 * with the values prom-client's `Histogram` would give (same series order, labels and lines).
 */
import { format } from 'node:util';
import { Counter, type Metric, type Registry } from 'prom-client';

/** One counter series (one label set). */
export class CounterSeries {
  value = 0;
  /** Incremented at least once (prom-client shows a series from its first increment). */
  listed = false;

  constructor(
    readonly labels: Record<string, string>,
    readonly owner: LocalCounter,
  ) {}

  inc(amount = 1): void {
    // prom-client's checks, same errors.
    if (amount && !Number.isFinite(amount)) throw new TypeError(`Value is not a valid number: ${format(amount)}`);
    if (amount < 0) throw new Error('It is not possible to decrease a counter');
    if (!this.listed) this.owner.list(this);
    this.value += amount;
  }
}

/** A prom-client `Counter` whose series are updated as plain numbers and published at scrape time. */
export class LocalCounter {
  readonly #labelNames: readonly string[];
  readonly #series = new Map<string, CounterSeries>();
  readonly #listed: CounterSeries[] = [];
  readonly counter: Counter<string>;

  constructor(config: { name: string; help: string; labelNames: readonly string[]; registers: Registry[] }) {
    this.#labelNames = config.labelNames;
    const listed = this.#listed;
    this.counter = new Counter({
      ...config,
      labelNames: [...config.labelNames],
      collect() {
        this.reset();
        for (const series of listed) this.inc(series.labels, series.value);
      },
    });
  }

  /** The series of one label set (bind it once; prom-client validates the labels here). */
  series(labels: Record<string, string>): CounterSeries {
    const key = this.#labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      for (const name of Object.keys(labels)) if (!this.#labelNames.includes(name)) throw new Error(`Added label "${name}" is not included in initial labelset: ${JSON.stringify(this.#labelNames)}`);
      series = new CounterSeries(labels, this);
      this.#series.set(key, series);
    }
    return series;
  }

  /** Called by a series on its first increment. */
  list(series: CounterSeries): void {
    series.listed = true;
    this.#listed.push(series);
  }
}

/** One histogram series (one label set). */
export class HistogramSeries {
  /** Non-cumulative count per finite bucket. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  listed = false;

  constructor(
    readonly labels: Record<string, string>,
    readonly owner: LocalHistogram,
  ) {
    this.counts = new Float64Array(owner.upperBounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${format(value)}`);
    if (!this.listed) this.owner.list(this);
    const bounds = this.owner.upperBounds;
    for (let index = 0; index < bounds.length; index++) {
      if (value <= bounds[index]!) {
        this.counts[index]!++;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

/**
 * A histogram metric registered on a prom-client `Registry`, exporting what prom-client's
 * `Histogram` (without exemplars) exports for the same observations.
 */
export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly upperBounds: readonly number[];
  readonly #series = new Map<string, HistogramSeries>();
  #listed: HistogramSeries[] = [];

  constructor(config: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[]; registers: Registry[] }) {
    if (config.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    this.name = config.name;
    this.help = config.help;
    this.labelNames = [...config.labelNames];
    this.upperBounds = Object.freeze([...config.buckets]);
    for (const registry of config.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set (bind it once). */
  series(labels: Record<string, string>): HistogramSeries {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      for (const name of Object.keys(labels)) if (!this.labelNames.includes(name)) throw new Error(`Added label "${name}" is not included in initial labelset: ${JSON.stringify(this.labelNames)}`);
      series = new HistogramSeries(labels, this);
      this.#series.set(key, series);
    }
    return series;
  }

  /** Called by a series on its first observation. */
  list(series: HistogramSeries): void {
    series.listed = true;
    this.#listed.push(series);
  }

  reset(): void {
    for (const series of this.#listed) {
      series.listed = false;
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
    this.#listed = [];
  }

  async getForPromString(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#listed) {
      let cumulative = 0;
      for (let index = 0; index < this.upperBounds.length; index++) {
        cumulative += series.counts[index]!;
        values.push({ labels: { le: this.upperBounds[index]! }, sharedLabels: series.labels, value: cumulative, metricName: bucketName, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: series.labels, value: series.count, metricName: bucketName, exemplar: null });
      values.push({ labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  async get(): Promise<{ name: string; help: string; type: string; values: Array<Omit<ExportedValue, 'sharedLabels'>>; aggregator: string }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => {
        for (const label of Object.keys(sharedLabels)) labels[label] = sharedLabels[label]!;
        return { ...rest, labels };
      }),
    };
  }
}
