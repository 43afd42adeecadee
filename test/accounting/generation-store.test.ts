import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDecimals } from '../../sidecar/accounting/decimal.ts';
import { BatchingGenerationStore } from '../../sidecar/store/batching-generation-store.ts';
import type { GenerationBackend } from '../../sidecar/store/generation-backend.ts';
import type { GenerationRecord } from '../../sidecar/store/generation-record.ts';
import { openStores, type StoreOptions } from '../../sidecar/store/index.ts';
import { Journal } from '../../sidecar/store/journal.ts';
import { MemoryGenerationBackend } from '../../sidecar/store/memory-backend.ts';
import { openPostgresPool, PostgresGenerationBackend } from '../../sidecar/store/postgres.ts';
import { openSqliteDatabase, SqliteGenerationBackend } from '../../sidecar/store/sqlite.ts';
import { DATABASE_URL, dropSchema, makeRecord, requirePostgres, uniqueName } from './fixtures/services.ts';

const temporaryDirectories: string[] = [];
function temporaryDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), 'switchyard-store-'));
  temporaryDirectories.push(directory);
  return directory;
}
afterAll(() => {
  for (const directory of temporaryDirectories) rmSync(directory, { recursive: true, force: true });
});

/** No timer flush during a test unless the test asks for one. */
const MANUAL = { flushIntervalMs: 3_600_000, maxBatch: 1_000_000 };

async function readAll(store: BatchingGenerationStore, range: { since?: string; until?: string } = {}): Promise<GenerationRecord[]> {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const count = await store.exportJsonl(stream, range);
  stream.end();
  const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line !== '');
  expect(lines.length).toBe(count);
  return lines.map((line) => JSON.parse(line) as GenerationRecord);
}

/** The same behaviour from every backend. */
function conformance(name: string, openBackend: () => Promise<GenerationBackend>): void {
  describe(`generation store on ${name}`, () => {
    it('serves a record from the buffer right after append, before any database write', async () => {
      const backend = await openBackend();
      const store = await BatchingGenerationStore.open(backend, MANUAL);
      const record = makeRecord();
      store.append(record);
      expect(await backend.get(record.id)).toBeNull();
      expect(await store.get(record.id)).toEqual(record);
      await store.flush();
      expect(store.bufferedCount).toBe(0);
      expect(await backend.get(record.id)).toEqual(record);
      expect(await store.get(record.id)).toEqual(record);
      await store.close();
    });

    it('flushes on its own once maxBatch records wait, and on the interval', async () => {
      const backend = await openBackend();
      const store = await BatchingGenerationStore.open(backend, { flushIntervalMs: 3_600_000, maxBatch: 5 });
      const records = Array.from({ length: 5 }, () => makeRecord());
      for (const record of records) store.append(record);
      await expect.poll(() => backend.get(records[4]!.id), { timeout: 2000 }).toEqual(records[4]);
      await store.close();

      const timed = await BatchingGenerationStore.open(await openBackend(), { flushIntervalMs: 20, maxBatch: 1000 });
      const one = makeRecord();
      timed.append(one);
      await expect.poll(() => timed.backend.get(one.id), { timeout: 2000 }).toEqual(one);
      await timed.close();
    });

    it('replaces a record appended again with the same id', async () => {
      const store = await BatchingGenerationStore.open(await openBackend(), MANUAL);
      const record = makeRecord();
      store.append(record);
      await store.flush();
      store.append({ ...record, status: 502, error: 'upstream failed' });
      expect((await store.get(record.id))?.status).toBe(502);
      await store.flush();
      expect((await store.backend.get(record.id))?.error).toBe('upstream failed');
      await store.close();
    });

    it('lists most recent first across buffered and stored records', async () => {
      const store = await BatchingGenerationStore.open(await openBackend(), MANUAL);
      const key = uniqueName('list');
      const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute)).toISOString();
      const old = makeRecord({ key, created_at: at(1) });
      const middle = makeRecord({ key, created_at: at(2) });
      const newest = makeRecord({ key, created_at: at(3) });
      store.append(old);
      store.append(middle);
      await store.flush();
      store.append(newest);
      const listed = await store.list({ limit: 3, since: at(0) });
      expect(listed.map((record) => record.id)).toEqual([newest.id, middle.id, old.id]);
      expect((await store.list({ limit: 10, since: at(2) })).map((record) => record.id)).toEqual([newest.id, middle.id]);
      await store.close();
    });

    it('sums one key\'s costs exactly, buffered records included', async () => {
      const store = await BatchingGenerationStore.open(await openBackend(), MANUAL);
      const key = uniqueName('sum');
      const at = (day: number) => new Date(Date.UTC(2031, 0, day, 10)).toISOString();
      store.append(makeRecord({ key, created_at: at(1), total_cost: '0.1' }));
      store.append(makeRecord({ key, created_at: at(2), total_cost: '0.2' }));
      await store.flush();
      store.append(makeRecord({ key, created_at: at(3), total_cost: '0.0000000000000001' }));
      store.append(makeRecord({ key: 'someone-else', created_at: at(3), total_cost: '5' }));
      expect(await store.sumCost(key, {})).toBe('0.3000000000000001');
      expect(await store.sumCost(key, { since: at(2) })).toBe('0.2000000000000001');
      expect(await store.sumCost(key, { since: at(1), until: at(2) })).toBe('0.1');
      expect(await store.sumCost(uniqueName('nobody'), {})).toBe('0');
      await store.close();
    });

    it('exports a time range as JSONL, oldest first, across pages', async () => {
      const store = await BatchingGenerationStore.open(await openBackend(), MANUAL);
      const base = Date.UTC(2032, 5, 1);
      const records = Array.from({ length: 1203 }, (_, index) => makeRecord({ created_at: new Date(base + index * 1000).toISOString() }));
      // Appended out of order; the export orders them.
      for (const record of [...records].reverse()) store.append(record);
      const since = new Date(base + 100 * 1000).toISOString();
      const until = new Date(base + 1150 * 1000).toISOString();
      const exported = await readAll(store, { since, until });
      expect(exported.map((record) => record.id)).toEqual(records.slice(100, 1150).map((record) => record.id));
      expect(exported[0]).toEqual(records[100]);
      await store.close();
    });

    it('writes buffered records on close', async () => {
      const backend = await openBackend();
      const store = await BatchingGenerationStore.open(backend, MANUAL);
      const record = makeRecord();
      store.append(record);
      // close() also closes the backend, so look through a second one on the same database.
      await store.close();
      const reopened = await openBackend();
      expect(await reopened.get(record.id)).toEqual(record);
      await reopened.close();
      expect(() => store.append(makeRecord())).toThrow(/closed/);
    });
  });
}

conformance('memory', (() => {
  const shared = new MemoryGenerationBackend();
  // One backend object for the whole suite, so "reopen" sees what was written; close() is a no-op.
  return async () => shared;
})());

const sqliteFile = join(temporaryDirectory(), 'conformance.db');
conformance('sqlite', async () => new SqliteGenerationBackend(openSqliteDatabase(sqliteFile)));
const threadedSqliteFile = join(temporaryDirectory(), 'conformance-threaded.db');
conformance('sqlite with a writer thread', async () => new SqliteGenerationBackend(openSqliteDatabase(threadedSqliteFile), true, { writerThread: true }));

describe('postgres', () => {
  const schema = uniqueName('sy_store');
  beforeAll(async () => {
    await requirePostgres();
  });
  afterAll(async () => {
    await dropSchema(schema);
  });
  conformance('postgres', async () => new PostgresGenerationBackend(await openPostgresPool({ connectionString: DATABASE_URL, schema })));

  it('keeps every appended record across kill -9 before any flush, via the journal', async () => {
    const journalDirectory = join(temporaryDirectory(), 'journal');
    await crashAndRecover({ kind: 'postgres', connectionString: DATABASE_URL, schema, journalDirectory }, journalDirectory);
  });

  it('records applied migrations once, even when replicas open together', async () => {
    const pools = await Promise.all([1, 2, 3].map(() => openPostgresPool({ connectionString: DATABASE_URL, schema: `${schema}_m` })));
    try {
      const result = await pools[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(result.rows.map((row) => row.version)).toEqual([1, 2]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
      await dropSchema(`${schema}_m`);
    }
  });
});

describe('batching under failure', () => {
  it('keeps a failed batch buffered and readable, and writes it on the next flush', async () => {
    const memory = new MemoryGenerationBackend();
    let failures = 1;
    const flaky: GenerationBackend = {
      kind: 'memory',
      write: async (records) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('database down');
        }
        await memory.write(records);
      },
      get: (id) => memory.get(id),
      list: (options) => memory.list(options),
      page: (range, cursor, limit) => memory.page(range, cursor, limit),
      sumCost: (key, range) => memory.sumCost(key, range),
      spendSince: (since, options) => memory.spendSince(since, options),
      close: () => memory.close(),
    };
    const errors: unknown[] = [];
    const store = await BatchingGenerationStore.open(flaky, { ...MANUAL, onError: (error) => errors.push(error) });
    const record = makeRecord();
    store.append(record);
    await expect(store.flush()).rejects.toThrow('database down');
    expect(await store.get(record.id)).toEqual(record);
    expect(store.bufferedCount).toBe(1);
    await store.flush();
    expect(await memory.get(record.id)).toEqual(record);
    await store.close();
  });
});

/**
 * Appends 250 records in a child process that never flushes, kills it with SIGKILL, reopens the
 * stores and checks every record reached the database through the journal.
 */
async function crashAndRecover(options: StoreOptions, journalDirectory: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'append-and-wait.ts'), JSON.stringify(options), '250'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ids = await new Promise<string[]>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const done = /^APPENDED (.+)$/m.exec(output);
      if (done) resolve(JSON.parse(done[1]!) as string[]);
    });
    child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  expect(ids).toHaveLength(250);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  expect(readdirSync(journalDirectory).length).toBeGreaterThan(0);

  const stores = await openStores({ ...options, batching: MANUAL });
  for (const id of ids) expect(await stores.generations.backend.get(id), id).not.toBeNull();
  // Replayed into the database, so the journal is empty again.
  expect(readdirSync(journalDirectory)).toEqual([]);
  const costs = await Promise.all(ids.map(async (id) => (await stores.generations.get(id))?.total_cost ?? 'missing'));
  expect(addDecimals(...costs)).toBe('0.0025');
  await stores.close();
}

describe('journal', () => {
  it('replays segments of processes that are gone, never those of a live one', async () => {
    const directory = temporaryDirectory();
    const alive = makeRecord();
    const gone = makeRecord();
    const mine = makeRecord();
    // The parent of this test runner is alive; pid 2147483646 is not.
    writeFileSync(join(directory, `000000000000001-${process.ppid}-000001.jsonl`), JSON.stringify(alive) + '\n');
    writeFileSync(join(directory, `000000000000002-2147483646-000001.jsonl`), JSON.stringify(gone) + '\n{"torn');
    writeFileSync(join(directory, `000000000000003-${process.pid}-000001.jsonl`), JSON.stringify(mine) + '\n');
    const backend = new MemoryGenerationBackend();
    const store = await BatchingGenerationStore.open(backend, { ...MANUAL, journal: new Journal({ directory }) });
    expect(await backend.get(gone.id)).toEqual(gone);
    expect(await backend.get(mine.id)).toEqual(mine);
    expect(await backend.get(alive.id)).toBeNull();
    expect(readdirSync(directory)).toEqual([`000000000000001-${process.ppid}-000001.jsonl`]);
    await store.close();
  });
});

describe('journal batching', () => {
  const segmentLines = (directory: string): string[] =>
    readdirSync(directory).flatMap((name) => readFileSync(join(directory, name), 'utf8').split('\n').filter((line) => line !== ''));

  it('writes the lines of one event-loop turn together, and durable() settles once they are written', async () => {
    const directory = temporaryDirectory();
    const store = await BatchingGenerationStore.open(new MemoryGenerationBackend(), { ...MANUAL, journal: new Journal({ directory }) });
    expect(store.durable()).toBeUndefined();
    const records = Array.from({ length: 5 }, () => makeRecord());
    for (const record of records) store.append(record);
    const durable = store.durable();
    expect(durable).toBeInstanceOf(Promise);
    expect(store.durable()).toBe(durable);
    // Nothing written yet: the write waits for the end of the turn.
    expect(segmentLines(directory)).toEqual([]);
    expect(await store.get(records[0]!.id)).toEqual(records[0]);
    await durable;
    expect(segmentLines(directory).map((line) => (JSON.parse(line) as GenerationRecord).id)).toEqual(records.map((record) => record.id));
    expect(readdirSync(directory)).toHaveLength(1);
    expect(store.durable()).toBeUndefined();
    await store.close();
    expect(readdirSync(directory)).toEqual([]);
  });

  it('stores the journal line as the row, and a flush before the turn ends journals first', async () => {
    const directory = temporaryDirectory();
    const database = openSqliteDatabase(join(temporaryDirectory(), 'reuse.db'));
    const store = await BatchingGenerationStore.open(new SqliteGenerationBackend(database, false), { ...MANUAL, journal: new Journal({ directory }) });
    const record = makeRecord({ total_cost: '0.000010500', created_at: '2026-11-25T12:00:00Z' });
    store.append(record);
    const durable = store.durable();
    await store.flush();
    await durable;
    expect(store.durable()).toBeUndefined();
    const row = database.prepare('SELECT created_at, total_cost, record FROM generations WHERE id = ?').get(record.id) as Record<string, string>;
    expect(row).toEqual({ created_at: '2026-11-25T12:00:00.000Z', total_cost: '0.0000105', record: JSON.stringify(record) });
    expect(readdirSync(directory)).toEqual([]);
    await store.close();
    database.close();
  });

  it('commits the records of a failed journal write to the database before durable() settles, and reports the failure', async () => {
    const directory = temporaryDirectory();
    const journal = new Journal({ directory });
    const backend = new MemoryGenerationBackend();
    const errors: unknown[] = [];
    const store = await BatchingGenerationStore.open(backend, { ...MANUAL, journal, onError: (error) => errors.push(error) });
    const first = makeRecord();
    store.append(first);
    await store.durable();
    await store.flush();
    // The next segment cannot be created: the directory is gone.
    rmSync(directory, { recursive: true });
    const second = makeRecord();
    store.append(second);
    await store.durable();
    expect(errors).toHaveLength(1);
    expect(await backend.get(second.id)).toEqual(second);
    expect(await backend.get(first.id)).toEqual(first);
    expect(store.durable()).toBeUndefined();
    // Journaling works again once the directory is back.
    mkdirSync(directory);
    const third = makeRecord();
    store.append(third);
    await store.durable();
    expect(segmentLines(directory).map((line) => (JSON.parse(line) as GenerationRecord).id)).toEqual([third.id]);
    await store.close();
    expect(readdirSync(directory)).toEqual([]);
  });
});

describe('sqlite durability', () => {
  it('runs in WAL mode', () => {
    const database = openSqliteDatabase(join(temporaryDirectory(), 'wal.db'));
    expect(database.pragma('journal_mode', { simple: true })).toBe('wal');
    database.close();
  });

  it('keeps every appended record across kill -9 before any flush, via the journal', async () => {
    const path = join(temporaryDirectory(), 'crash.db');
    await crashAndRecover({ kind: 'sqlite', path }, `${path}.journal`);
  });
});
