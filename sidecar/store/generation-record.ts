/**
 * The generation record: one per request, every attempt included. It is what
 * `GET /api/v1/generation?id=` returns (OpenRouter's field names where they exist), what the
 * dashboard reads and what `switchyard diff` replays. Never holds secrets or prompt text.
 */
import type { Usage } from '../providers/spec.ts';

export interface AttemptRecord {
  /** 1-based position in the plan that was executed. */
  attempt: number;
  /** Retry of the same endpoint, 0 for the first try. */
  retry: number;
  endpoint: string;
  provider: string;
  provider_name: string;
  model: string;
  /** Upstream HTTP status; null for connection errors and timeouts. */
  status: number | null;
  /** `ok`, or the error kind/class (`timeout`, `connection`, `retryable`, `final`, ...). */
  outcome: string;
  error?: string;
  latency_ms: number;
  first_byte_ms?: number;
  usage?: Usage;
  /** USD as an exact decimal string; "0" for failed attempts. */
  cost: string;
}

export interface GenerationRecord {
  /** `gen-...`. */
  id: string;
  /** ISO 8601. */
  created_at: string;
  /** Model that served (or the primary requested one when nothing served). */
  model: string;
  requested_models: string[];
  provider: string | null;
  provider_name: string | null;
  upstream_id: string | null;
  api_type: 'completions' | 'embeddings';
  streamed: boolean;
  cancelled: boolean;
  /** HTTP status the client received. */
  status: number;
  finish_reason: string | null;
  native_finish_reason: string | null;
  usage: Usage;
  /** USD, exact decimal string. */
  total_cost: string;
  /** ms from request start to end of response. */
  latency_ms: number;
  /** ms from first byte to end (streaming) or the serving attempt's time. */
  generation_time_ms: number | null;
  key: string | null;
  user: string | null;
  team: string | null;
  tags: string[];
  http_referer: string | null;
  x_title: string | null;
  policy_id: string;
  policy_version: string;
  attempts: AttemptRecord[];
  /** Error message when the request failed. */
  error: string | null;
  /**
   * Scope keys (`budgetScopeKey`) of the policy budgets the request was held and settled against,
   * when accounting admitted it; absent otherwise and in records written before the field existed.
   * Lets a restart seed each budget with exactly its settled spend.
   */
  budgets?: string[];
}

/** Where generation records go. Appends never block the response path. */
export interface GenerationStore {
  append(record: GenerationRecord): void;
  /**
   * When the records appended so far are crash-safe (journaled or written): `undefined` if they
   * already are, else a promise that resolves once they are (it never rejects). A store that
   * journals in batches returns a promise; the routes send a response only after it settles, so a
   * client that received a response can always fetch its record, even after a kill -9.
   */
  durable?(): Promise<void> | undefined;
  get(id: string): Promise<GenerationRecord | null>;
  /** Most recent first. */
  list(options: { limit: number; since?: string }): Promise<GenerationRecord[]>;
  /** Write everything buffered. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** In-process store: the test default and the fallback when no storage is configured. */
export class MemoryGenerationStore implements GenerationStore {
  // Kept as JSON text: one flat string per record instead of a graph of some forty objects, which
  // the garbage collector would otherwise copy, promote and mark for as long as the record is kept.
  readonly #records = new Map<string, string>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  append(record: GenerationRecord): void {
    this.#records.set(record.id, JSON.stringify(record));
    if (this.#records.size > this.#capacity) {
      const oldest = this.#records.keys().next();
      if (!oldest.done) this.#records.delete(oldest.value);
    }
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const text = this.#records.get(id);
    return text === undefined ? null : (JSON.parse(text) as GenerationRecord);
  }

  /** Newest first, up to `limit`, those created at or after `since`. */
  async list(options: { limit: number; since?: string }): Promise<GenerationRecord[]> {
    const texts = [...this.#records.values()];
    const found: GenerationRecord[] = [];
    for (let index = texts.length - 1; index >= 0 && found.length < options.limit; index--) {
      const record = JSON.parse(texts[index] as string) as GenerationRecord;
      if (options.since === undefined || record.created_at >= options.since) found.push(record);
    }
    return found;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
