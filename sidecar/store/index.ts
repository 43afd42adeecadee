/**
 * The store area's surface: the generation log and the keys, on SQLite by default, on Postgres
 * when a connection string is given, or in memory. `server.ts` reads the environment and passes
 * the result here; nothing in this folder reads `process.env`.
 */
import { BatchingGenerationStore, type BatchingOptions } from './batching-generation-store.ts';
import { Journal } from './journal.ts';
import type { KeyStore } from './keys.ts';
import { MemoryGenerationBackend, MemoryKeyStore } from './memory-backend.ts';
import { openPostgresPool, PostgresGenerationBackend, PostgresKeyStore } from './postgres.ts';
import { DEFAULT_SQLITE_PATH, openSqliteDatabase, SqliteGenerationBackend, SqliteKeyStore } from './sqlite.ts';

export { BatchingGenerationStore, type BatchingOptions } from './batching-generation-store.ts';
export type { GenerationBackend, TimeRange, PageCursor } from './generation-backend.ts';
export { Journal, type JournalOptions } from './journal.ts';
export * from './keys.ts';
export { MemoryGenerationBackend, MemoryKeyStore } from './memory-backend.ts';
export { openPostgresPool, PostgresGenerationBackend, PostgresKeyStore, type PostgresOptions } from './postgres.ts';
export { DEFAULT_SQLITE_PATH, openSqliteDatabase, SqliteGenerationBackend, SqliteKeyStore } from './sqlite.ts';
export { keyUsage } from './key-usage.ts';

export type StoreOptions =
  | {
      kind: 'sqlite';
      path?: string;
      journalDirectory?: string | null;
      /** Insert generation records on a worker thread (default true; a file database only). */
      writerThread?: boolean;
      batching?: Omit<BatchingOptions, 'journal'>;
    }
  | { kind: 'postgres'; connectionString: string; schema?: string; journalDirectory?: string | null; batching?: Omit<BatchingOptions, 'journal'> }
  | { kind: 'memory'; batching?: Omit<BatchingOptions, 'journal'> };

export interface Stores {
  generations: BatchingGenerationStore;
  keys: KeyStore;
  /** Flushes the generation log and closes the database. Call on SIGTERM. */
  close(): Promise<void>;
}

/** Local journal directory of a Postgres deployment unless configured. */
export const DEFAULT_POSTGRES_JOURNAL = '.data/generations.journal';

/**
 * Opens the configured stores. The journal (crash safety of buffered records) defaults to
 * `<sqlite file>.journal/` for SQLite and `.data/generations.journal/` for Postgres (a local,
 * writable directory per replica); `journalDirectory: null` turns it off.
 */
export async function openStores(options: StoreOptions): Promise<Stores> {
  switch (options.kind) {
    case 'memory': {
      const generations = await BatchingGenerationStore.open(new MemoryGenerationBackend(), options.batching);
      return { generations, keys: new MemoryKeyStore(), close: () => generations.close() };
    }
    case 'sqlite': {
      const path = options.path ?? DEFAULT_SQLITE_PATH;
      const database = openSqliteDatabase(path);
      const journalDirectory = options.journalDirectory === undefined ? (path === ':memory:' ? null : `${path}.journal`) : options.journalDirectory;
      const journal = journalDirectory === null ? undefined : new Journal({ directory: journalDirectory });
      const generations = await BatchingGenerationStore.open(new SqliteGenerationBackend(database, false, { writerThread: options.writerThread ?? true, onError: options.batching?.onError }), {
        ...options.batching,
        journal,
      });
      return {
        generations,
        keys: new SqliteKeyStore(database),
        close: async () => {
          await generations.close();
          database.close();
        },
      };
    }
    case 'postgres': {
      const pool = await openPostgresPool({ connectionString: options.connectionString, schema: options.schema, onError: options.batching?.onError });
      const journalDirectory = options.journalDirectory === undefined ? DEFAULT_POSTGRES_JOURNAL : options.journalDirectory;
      const journal = journalDirectory === null ? undefined : new Journal({ directory: journalDirectory });
      const generations = await BatchingGenerationStore.open(new PostgresGenerationBackend(pool, false), { ...options.batching, journal });
      return {
        generations,
        keys: new PostgresKeyStore(pool),
        close: async () => {
          await generations.close();
          await pool.end();
        },
      };
    }
  }
}
