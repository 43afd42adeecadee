/**
 * The generation log as the sidecar uses it: `append` is synchronous and cheap (a map insert and,
 * with a journal, one `write(2)`), the database write happens in batches off the response path,
 * and reads see buffered records at once, so `GET /api/v1/generation?id=` never answers 404 for a
 * response that has ended.
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

export class BatchingGenerationStore implements GenerationStore {
  readonly backend: GenerationBackend;
  readonly #maxBatch: number;
  readonly #journal: Journal | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #timer: NodeJS.Timeout;
  /** Appended, not yet handed to the backend. */
  #pending = new Map<string, GenerationRecord>();
  /** Handed to the backend, not yet committed. */
  #inFlight = new Map<string, GenerationRecord>();
  /** Journal segments holding records of `#pending` / `#inFlight`. */
  #uncommittedSegments: string[] = [];
  #flushing: Promise<void> | null = null;
  #flushSoon = false;
  #closed = false;

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
      const records = new Map(leftovers.flatMap((leftover) => leftover.records.map((record) => [record.id, record] as const)));
      if (records.size > 0) await backend.write([...records.values()]);
      options.journal.discard(leftovers.map((leftover) => leftover.path));
    }
    return new BatchingGenerationStore(backend, options);
  }

  append(record: GenerationRecord): void {
    if (this.#closed) throw new Error('generation store is closed');
    try {
      this.#journal?.append(record);
    } catch (error) {
      // Still buffered and written at the next flush; only crash safety is lost for it.
      this.#onError(error);
    }
    this.#pending.set(record.id, record);
    if (this.#pending.size >= this.#maxBatch && !this.#flushSoon) {
      this.#flushSoon = true;
      setImmediate(() => {
        this.#flushSoon = false;
        void this.#flushQuietly();
      });
    }
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const buffered = this.#pending.get(id) ?? this.#inFlight.get(id);
    if (buffered) return buffered;
    const stored = await this.backend.get(id);
    // A flush may have committed it between the two looks; the buffers are checked again.
    return stored ?? this.#pending.get(id) ?? this.#inFlight.get(id) ?? null;
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
    return [...this.#inFlight.values(), ...this.#pending.values()];
  }

  async #writeBatch(): Promise<void> {
    this.#inFlight = this.#pending;
    this.#pending = new Map();
    const segment = this.#journal?.rotate();
    if (segment) this.#uncommittedSegments.push(segment);
    const segments = this.#uncommittedSegments;
    try {
      await this.backend.write([...this.#inFlight.values()]);
    } catch (error) {
      // Put the batch back (newer appends of the same id win) and keep its journal segments.
      for (const [id, record] of this.#inFlight) if (!this.#pending.has(id)) this.#pending.set(id, record);
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
