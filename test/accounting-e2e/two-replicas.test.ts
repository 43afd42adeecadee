/**
 * Must-show tests of issue 6 with real processes: two `switchyard serve` replicas on one real
 * Redis (budgets, key limits) and one real Postgres (generation log and keys).
 *
 * 1. 200 concurrent requests against a $1.00 key limit, spread over both replicas: total spend
 *    never exceeds the limit by more than one request's worst case, and the Redis ledger equals
 *    the sum of the generation records to the micro-dollar (exactly, in fact).
 * 2. kill -9 of a replica under load, then a restart: every response the client received has its
 *    generation record (`GET /api/v1/generation`).
 *
 * Needs REDIS_URL and DATABASE_URL (`.ci/run` sets and starts both); fails loudly without them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUnits, parseUnits } from '../../sidecar/accounting/decimal.ts';
import { accountingFixture, createKey, SWITCHYARD_BIN, type AccountingFixture } from './support/accounting-fixture.ts';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = randomBytes(4).toString('hex');
const SCHEMA = `sy_accounting_e2e_${RUN}`;
const PREFIX = `sy-accounting-e2e-${RUN}:`;
const ENV = { DATABASE_URL, REDIS_URL, SWITCHYARD_REDIS_PREFIX: PREFIX, SWITCHYARD_LOG_LEVEL: 'info' };

// Each request may produce 2000 tokens at gpt-4o's $10/M: about $0.02 each, so a $1.00 limit
// fits about 50 of the 200 and the limit really binds.
const MAX_TOKENS = 2000;
const REQUESTS = 200;

interface Replica {
  process: ChildProcess;
  url: string;
  output: () => string;
}

function startReplica(fixture: AccountingFixture): Promise<Replica> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SWITCHYARD_BIN, 'serve', '--config', fixture.configPath, '--port', '0'], {
      cwd: fixture.directory,
      env: { PATH: process.env.PATH ?? '', ...ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) resolve({ process: child, url: match[1]!, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`replica exited (${code}) before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`replica did not start:\n${output}`)), 60_000).unref();
  });
}

function stop(replica: Replica, signal: NodeJS.Signals): Promise<void> {
  if (replica.process.exitCode !== null || replica.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    replica.process.once('exit', () => resolve());
    replica.process.kill(signal);
  });
}

async function reachable(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is unreachable at ${REDIS_URL} (${(error as Error).message}); start it or set REDIS_URL (.ci/run does both)`);
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`Postgres is unreachable at ${DATABASE_URL} (${(error as Error).message}); start it or set DATABASE_URL (.ci/run does both)`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Redis keeps amounts as micro-dollars plus a remainder in 10^-18 USD (see sidecar/state). */
async function ledger(scopeKey: string): Promise<{ spent: bigint; reserved: bigint }> {
  const redis = new Redis(REDIS_URL);
  try {
    const fields = await redis.hgetall(`${PREFIX}scope:${scopeKey}`);
    const amount = (micro: string | undefined, atto: string | undefined): bigint => BigInt(micro ?? '0') * 10n ** 12n + BigInt(atto ?? '0');
    return { spent: amount(fields.spent_m, fields.spent_a), reserved: amount(fields.reserved_m, fields.reserved_a) };
  } finally {
    redis.disconnect();
  }
}

async function recordsOf(keyHash: string): Promise<Array<{ id: string; total_cost: string }>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const result = await client.query<{ id: string; total_cost: string }>(`SELECT id, total_cost::text AS total_cost FROM ${SCHEMA}.generations WHERE key_hash = $1`, [keyHash]);
    return result.rows;
  } finally {
    await client.end();
  }
}

async function dropSchema(): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

/** One chat request; streamed ones are read to `[DONE]`. Resolves with the status, id and cost the client saw. */
async function request(url: string, key: string, stream: boolean): Promise<{ status: number; id: string | null; cost: number | null }> {
  const reply = await fetch(`${url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Tell me a long story.' }], max_tokens: MAX_TOKENS, stream }),
  });
  const text = await reply.text();
  if (reply.status !== 200) return { status: reply.status, id: reply.headers.get('x-generation-id'), cost: null };
  if (!stream) {
    const body = JSON.parse(text) as { id: string; usage: { cost: number } };
    return { status: 200, id: body.id, cost: body.usage.cost };
  }
  if (!text.trimEnd().endsWith('data: [DONE]')) throw new Error('stream ended without [DONE]');
  const usageLine = text.split('\n').find((line) => line.includes('"usage"'));
  const chunk = JSON.parse(usageLine!.slice('data: '.length)) as { id: string; usage: { cost: number } };
  return { status: 200, id: chunk.id, cost: chunk.usage.cost };
}

describe('two replicas on one Redis and one Postgres', () => {
  let fixture: AccountingFixture;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    await reachable();
    fixture = accountingFixture({
      storage: `{ kind: postgres, url: { env: DATABASE_URL }, schema: ${SCHEMA} }`,
      accounting: '{ state: redis, redis_url: { env: REDIS_URL }, fail: closed }',
      providerOptions: `{ latency_ms: 30, latency_jitter_ms: 20, tokens_per_second: 0, response_tokens: ${MAX_TOKENS} }`,
    });
  }, 30_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => stop(replica, 'SIGKILL')));
    await dropSchema().catch(() => {});
    fixture?.remove();
  });

  it('keeps 200 concurrent requests within a $1.00 key limit, and the Redis ledger equals the generation log', async () => {
    const limited = await createKey(fixture, ['--name', 'one-dollar', '--limit', '1'], ENV);
    const [first, second] = await Promise.all([startReplica(fixture), startReplica(fixture)]);
    replicas.push(first, second);

    const results = await Promise.all(Array.from({ length: REQUESTS }, (_, index) => request(index % 2 === 0 ? first.url : second.url, limited.key, index % 4 < 2)));
    const served = results.filter((result) => result.status === 200);
    const refused = results.filter((result) => result.status === 402);
    expect(served.length + refused.length).toBe(REQUESTS);
    expect(served.length).toBeGreaterThan(10);
    expect(refused.length).toBeGreaterThan(10);

    // SIGTERM: drain, settle every hold, flush the generation log.
    await Promise.all([stop(first, 'SIGTERM'), stop(second, 'SIGTERM')]);
    expect(first.process.exitCode).toBe(0);
    expect(second.process.exitCode).toBe(0);

    const scope = await ledger(`key-limit|key=${limited.hash}|lifetime`);
    const records = await recordsOf(limited.hash);
    const logged = records.reduce((sum, record) => sum + parseUnits(record.total_cost), 0n);
    const limit = parseUnits('1');
    // Worst case of one request: the prompt estimate (tiny) + 2000 tokens at $10/M = $0.02 and change.
    const oneWorstCase = parseUnits('0.021');
    console.log(`two replicas, $1.00 limit: ${served.length} served, ${refused.length} refused (402), ledger ${formatUnits(scope.spent)} USD, generation log ${formatUnits(logged)} USD`);
    expect(scope.reserved).toBe(0n);
    expect(formatUnits(scope.spent)).toBe(formatUnits(logged));
    expect(scope.spent).toBeLessThanOrEqual(limit + oneWorstCase);
    // Every response the client got is a record, billed what the client was told.
    const byId = new Map(records.map((record) => [record.id, record.total_cost]));
    for (const result of served) expect(Number(byId.get(result.id!))).toBe(result.cost);
    // Refusals are logged too, at no cost (Postgres renders NUMERIC zero with its scale).
    expect(records.filter((record) => parseUnits(record.total_cost) !== 0n).length).toBe(served.length);
    const missing = results.filter((result) => !byId.has(result.id ?? '')).map((result) => `${result.status} ${result.id}`);
    expect(missing).toEqual([]);
    expect(records.length).toBe(REQUESTS);
  }, 180_000);

  it('has a generation record for every response received before a replica was killed with SIGKILL', async () => {
    const unlimited = await createKey(fixture, ['--name', 'unlimited'], ENV);
    const [victim, survivor] = await Promise.all([startReplica(fixture), startReplica(fixture)]);
    replicas.push(victim, survivor);

    const received: string[] = [];
    let failures = 0;
    let killed = false;
    const deadline = Date.now() + 60_000;
    // 8 concurrent clients per replica, 120 requests each at most; the victim dies once 150 responses arrived.
    const worker = async (replica: Replica, index: number): Promise<void> => {
      for (let count = 0; count < 120 && Date.now() < deadline; count += 1) {
        try {
          const result = await request(replica.url, unlimited.key, (count + index) % 2 === 0);
          if (result.status === 200 && result.id) received.push(result.id);
          else failures += 1;
        } catch {
          failures += 1;
          if (replica === victim) return;
        }
        if (!killed && received.length >= 150) {
          killed = true;
          victim.process.kill('SIGKILL');
        }
      }
    };
    await Promise.all([...Array.from({ length: 8 }, (_, index) => worker(victim, index)), ...Array.from({ length: 8 }, (_, index) => worker(survivor, index))]);
    expect(killed).toBe(true);
    expect(received.length).toBeGreaterThan(150);
    expect(failures).toBeGreaterThan(0);

    // The restarted replica replays the journal the killed one left; records are then in Postgres.
    const restarted = await startReplica(fixture);
    replicas.push(restarted);
    const missing: string[] = [];
    for (const id of received) {
      const reply = await fetch(`${survivor.url}/api/v1/generation?id=${id}`, { headers: { authorization: `Bearer ${unlimited.key}` } });
      if (reply.status !== 200) missing.push(id);
      await reply.arrayBuffer();
    }
    expect(missing).toEqual([]);
    await Promise.all([stop(survivor, 'SIGTERM'), stop(restarted, 'SIGTERM')]);
  }, 180_000);
});
