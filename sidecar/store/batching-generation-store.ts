/**
 * The generation log as the sidecar uses it: `append` is synchronous and cheap (a map insert and,
 * with a journal, serialising the record), the database write happens in batches off the response
 * path, and reads see buffered records at once, so `GET /api/v1/generation?id=` never answers 404
 * for a response that has ended.
 *
 * With a journal, the lines appended during one event-loop turn go out together with one
 * `write(2)` (a `setImmediate` after the turn); `durable()` is the promise of that write, and the
 * routes send a response only once it settled, so a kill -9 loses no record of a response the
 * client received. The JSON of the journal line is also what the database row stores.
 *
 * Batches go out every `flushIntervalMs`, or as soon as `maxBatch` records wait. A failed batch
 * stays buffered (and journaled) and is retried on the next tick; `onError` hears about it.
 */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import type { GenerationBackend, PageCursor, TimeRange } from './generation-backend.ts';
import { compareOldestFirst, inRange } from './generation-backend.ts';
import type { GenerationRecord, GenerationStore } from './generation-record.ts';
import type { Journal } from './journal.ts';

export interface BatchingOptions {
  /** Default 200 ms. */
  flushIntervalMs?: number;
  /** Default 200 records. */
  maxBatch?: number;
  /** Crash safety for records not yet committed; absent = a crash loses up to one interval. */
  journal?: Journal;
  /** Called when a batch fails (it is retried) or the journal cannot be written. */
  onError?: (error: unknown) => void;
}

/** Records per page when exporting. */
const EXPORT_PAGE = 500;

/** A buffered record and, when it was journaled, its JSON (reused for the database row). */
interface Buffered {
  record: GenerationRecord;
  json: string | undefined;
}

export class BatchingGenerationStore implements GenerationStore {
  readonly backend: GenerationBackend;
  readonly #maxBatch: number;
  readonly #journal: Journal | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #timer: NodeJS.Timeout;
  /** Appended, not yet handed to the backend. */
  #pending = new Map<string, Buffered>();
  /** Handed to the backend, not yet committed. */
  #inFlight = new Map<string, Buffered>();
  /** Journal segments holding records of `#pending` / `#inFlight`. */
  #uncommittedSegments: string[] = [];
  #flushing: Promise<void> | null = null;
  #flushSoon = false;
  #closed = false;
  /** Journal lines wait for the write scheduled with `setImmediate`. */
  #journalWriteScheduled = false;
  /** What `durable()` returned for the scheduled write, made on first ask, and how to settle it. */
  #durable: Promise<void> | null = null;
  #settleDurable: (() => void) | null = null;
  /** After a failed journal write: settles once those records were committed (or that was tried). */
  #recovering: Promise<void> | null = null;

  private constructor(backend: GenerationBackend, options: BatchingOptions) {
    this.backend = backend;
    this.#maxBatch = options.maxBatch ?? 200;
    this.#journal = options.journal;
    this.#onError = options.onError ?? (() => {});
    this.#timer = setInterval(() => void this.#flushQuietly(), options.flushIntervalMs ?? 200);
    this.#timer.unref();
  }

  /** Opens the store, first committing whatever an earlier process left in the journal. */
  static async open(backend: GenerationBackend, options: BatchingOptions = {}): Promise<BatchingGenerationStore> {
    if (options.journal) {
      const leftovers = options.journal.leftovers();
      // Later lines of the same id win, as they would have in the buffer.
      const replayed = new Map<string, Buffered>();
      for (const leftover of leftovers) leftover.records.forEach((record, index) => replayed.set(record.id, { record, json: leftover.lines[index] }));
      if (replayed.size > 0) await writeBuffered(backend, replayed);
      options.journal.discard(leftovers.map((leftover) => leftover.path));
    }
    return new BatchingGenerationStore(backend, options);
  }

  append(record: GenerationRecord): void {
    if (this.#closed) throw new Error('generation store is closed');
    let json: string | undefined;
    if (this.#journal) {
      try {
        json = this.#journal.append(record);
      } catch (error) {
        // Still buffered and written at the next flush; only crash safety is lost for it.
        this.#onError(error);
      }
      if (json !== undefined && !this.#journalWriteScheduled) {
        this.#journalWriteScheduled = true;
        setImmediate(this.#writeJournal);
      }
    }
    this.#pending.set(record.id, { record, json });
    if (this.#pending.size >= this.#maxBatch && !this.#flushSoon) {
      this.#flushSoon = true;
      setImmediate(() => {
        this.#flushSoon = false;
        void this.#flushQuietly();
      });
    }
  }

  /**
   * `undefined` when every record appended so far is crash-safe, else a promise (never rejecting)
   * that settles once they are: journaled by the write of this turn, or, when a journal write
   * failed, committed to the database (or that was tried and failed: logged through `onError`).
   */
  durable(): Promise<void> | undefined {
    if (this.#journalWriteScheduled) {
      this.#durable ??= new Promise<void>((resolve) => (this.#settleDurable = resolve));
      return this.#durable;
    }
    return this.#recovering ?? undefined;
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const buffered = this.#pending.get(id) ?? this.#inFlight.get(id);
    if (buffered) return buffered.record;
    const stored = await this.backend.get(id);
    // A flush may have committed it between the two looks; the buffers are checked again.
    return stored ?? (this.#pending.get(id) ?? this.#inFlight.get(id))?.record ?? null;
  }

  async list(options: { limit: number; since?: string }): Promise<GenerationRecord[]> {
    const buffered = this.#buffered().filter((record) => inRange(record, { since: options.since }));
    const stored = await this.backend.list(options);
    const byId = new Map<string, GenerationRecord>();
    for (const record of [...stored, ...buffered]) byId.set(record.id, record);
    return [...byId.values()].sort((left, right) => compareOldestFirst(right, left)).slice(0, options.limit);
  }

  /** Exact spend of one key in a range, buffered records included. */
  async sumCost(key: string, range: TimeRange): Promise<string> {
    // Buffered records may also be in the backend already (committed mid-read): count each id once.
    const buffered = this.#buffered().filter((record) => record.key === key && inRange(record, range));
    if (buffered.length === 0) return this.backend.sumCost(key, range);
    await this.flush();
    return this.backend.sumCost(key, range);
  }

  /**
   * Writes every record of the range, oldest first, one JSON object per line (the input of
   * `switchyard diff`). Buffered records are flushed first so the export is complete.
   */
  async exportJsonl(stream: Writable, range: TimeRange = {}): Promise<number> {
    await this.flush();
    let cursor: PageCursor | null = null;
    let count = 0;
    for (;;) {
      const page = await this.backend.page(range, cursor, EXPORT_PAGE);
      for (const record of page) {
        if (!stream.write(JSON.stringify(record) + '\n')) await once(stream, 'drain');
        count += 1;
      }
      const last = page.at(-1);
      if (!last || page.length < EXPORT_PAGE) return count;
      cursor = { created_at: last.created_at, id: last.id };
    }
  }

  /** Writes everything buffered; rejects if the backend fails (records stay buffered). */
  async flush(): Promise<void> {
    // Wait for a running flush, then write what arrived meanwhile.
    while (this.#flushing) await this.#flushing.catch(() => {});
    if (this.#pending.size === 0) return;
    this.#flushing = this.#writeBatch();
    try {
      await this.#flushing;
    } finally {
      this.#flushing = null;
    }
  }

  /** Flushes, stops the timer and closes the backend. Call on SIGTERM. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.flush();
    this.#journal?.close();
    await this.backend.close();
  }

  /** Records appended and not yet committed (for tests and metrics). */
  get bufferedCount(): number {
    return this.#pending.size + this.#inFlight.size;
  }

  #buffered(): GenerationRecord[] {
    const records: GenerationRecord[] = [];
    for (const buffered of this.#inFlight.values()) records.push(buffered.record);
    for (const buffered of this.#pending.values()) records.push(buffered.record);
    return records;
  }

  /**
   * Writes the journal lines of this turn (the `setImmediate` callback, or before a rotation) and
   * settles `durable()`. A failed write is logged, and those records are committed right away
   * instead; `durable()` then waits for that.
   */
  readonly #writeJournal = (): void => {
    if (!this.#journalWriteScheduled) return;
    this.#journalWriteScheduled = false;
    const settle = this.#settleDurable;
    this.#durable = null;
    this.#settleDurable = null;
    try {
      this.#journal?.write();
    } catch (error) {
      this.#onError(error);
      // In a microtask: when called from #writeBatch, that flush has to be registered first.
      const recovering: Promise<void> = Promise.resolve()
        .then(() => this.flush())
        .catch((flushError: unknown) => this.#onError(flushError))
        .finally(() => {
          if (this.#recovering === recovering) this.#recovering = null;
        });
      this.#recovering = recovering;
      if (settle) void recovering.then(settle);
      return;
    }
    if (!settle) return;
    if (this.#recovering) void this.#recovering.then(settle);
    else settle();
  };

  async #writeBatch(): Promise<void> {
    this.#inFlight = this.#pending;
    this.#pending = new Map();
    if (this.#journal) {
      // Lines of this batch not yet written go into the segment about to be closed.
      this.#writeJournal();
      this.#uncommittedSegments.push(...this.#journal.rotate());
    }
    const segments = this.#uncommittedSegments;
    try {
      await writeBuffered(this.backend, this.#inFlight);
    } catch (error) {
      // Put the batch back (newer appends of the same id win) and keep its journal segments.
      for (const [id, buffered] of this.#inFlight) if (!this.#pending.has(id)) this.#pending.set(id, buffered);
      this.#inFlight = new Map();
      throw error;
    }
    this.#inFlight = new Map();
    this.#uncommittedSegments = [];
    this.#journal?.discard(segments);
  }

  async #flushQuietly(): Promise<void> {
    if (this.#flushing || this.#pending.size === 0) return;
    try {
      await this.flush();
    } catch (error) {
      this.#onError(error);
    }
  }
}

/** One backend write of buffered records, with the JSON of those that have it. */
function writeBuffered(backend: GenerationBackend, batch: ReadonlyMap<string, Buffered>): Promise<void> {
  const records: GenerationRecord[] = [];
  const json: Array<string | undefined> = [];
  for (const buffered of batch.values()) {
    records.push(buffered.record);
    json.push(buffered.json);
  }
  return backend.write(records, json);
}
