/**
 * The generation log's SQLite inserts on a worker thread, so the gateway's event loop does not pay
 * for them (B-tree inserts and WAL writes of ~1 KB rows: most of accounting's cost on SQLite).
 * The worker has its own connection to the same file (WAL: readers on the main connection are never
 * blocked, and see a batch as soon as its commit is acknowledged). A batch travels as one flat
 * array of column values; the row values (canonical time, decimal, JSON) are made by the caller.
 *
 * The worker's code is a string run with `eval`, so it needs neither tsx nor a built file, and
 * loads nothing but better-sqlite3 (found from here).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Columns of one row, in the order of `INSERT_SQL`. */
export const ROW_WIDTH = 9;

export const INSERT_SQL = `INSERT OR REPLACE INTO generations (id, created_at, key_hash, user_id, team_id, model, status, total_cost, record)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.path);
database.pragma('journal_mode = WAL');
database.pragma('synchronous = NORMAL');
database.pragma('busy_timeout = 5000');
const insert = database.prepare(workerData.sql);
const insertAll = database.transaction((values) => {
  for (let at = 0; at < values.length; at += ${ROW_WIDTH}) {
    insert.run(values[at], values[at + 1], values[at + 2], values[at + 3], values[at + 4], values[at + 5], values[at + 6], values[at + 7], values[at + 8]);
  }
});
parentPort.on('message', (message) => {
  if (message.close) {
    database.close();
    parentPort.close();
    return;
  }
  try {
    insertAll(message.values);
    parentPort.postMessage({ id: message.id });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: { message: String(error && error.message), code: error && error.code } });
  }
});
`;

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Reply {
  id: number;
  error?: { message: string; code?: string };
}

/** One worker thread inserting batches of generation rows into the SQLite file at `path`. */
export class SqliteWriterThread {
  readonly #path: string;
  #current: { worker: Worker; waiting: Map<number, Waiting> } | null = null;
  #nextId = 1;

  constructor(path: string) {
    this.#path = path;
  }

  /**
   * Inserts the rows (`ROW_WIDTH` values each) in one transaction; rejects if that fails, with
   * `threadFailed: true` on the error when the thread itself died or could not start.
   */
  write(values: unknown[]): Promise<void> {
    const { worker, waiting } = this.#current ?? this.#start();
    const id = this.#nextId;
    this.#nextId += 1;
    return new Promise<void>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      // Kept alive only while a batch is on its way: an idle writer never holds the process open.
      if (waiting.size === 1) worker.ref();
      worker.postMessage({ id, values });
    });
  }

  /** Stops the worker once the batches sent before have been written. */
  async close(): Promise<void> {
    const current = this.#current;
    if (!current) return;
    this.#current = null;
    const exited = new Promise<void>((resolve) => current.worker.once('exit', () => resolve()));
    current.worker.ref();
    current.worker.postMessage({ close: true });
    await exited;
  }

  #start(): { worker: Worker; waiting: Map<number, Waiting> } {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: the worker needs no TypeScript loader.
      execArgv: [],
      workerData: { path: this.#path, sql: INSERT_SQL, driver: createRequire(import.meta.url).resolve('better-sqlite3') },
    });
    worker.unref();
    const current = { worker, waiting: new Map<number, Waiting>() };
    const { waiting } = current;
    worker.on('message', (reply: Reply) => {
      const entry = waiting.get(reply.id);
      if (!entry) return;
      waiting.delete(reply.id);
      if (waiting.size === 0) worker.unref();
      if (reply.error) entry.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
      else entry.resolve();
    });
    // A dead worker fails its batches with `threadFailed` set (the caller writes them another way).
    const fail = (error: Error): void => {
      if (this.#current === current) this.#current = null;
      for (const entry of waiting.values()) entry.reject(Object.assign(error, { threadFailed: true }));
      waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`generation log writer thread exited (${code})`)));
    this.#current = current;
    return current;
  }
}

/** Whether a `write` failed because the thread died (not because SQLite refused the batch). */
export function isThreadFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { threadFailed?: unknown }).threadFailed === true;
}
