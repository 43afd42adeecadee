/**
 * Per-key rate limits over real HTTP (issue #6): a gateway as `switchyard serve` builds it (SQLite
 * storage, memory accounting state), keys made with the CLI (`--rpm`, `--tpm`), chat calls through
 * the official openai client, the management API's `rate_limit` (validated, merged on PATCH) and
 * `GET /api/v1/key` reporting the limits that apply.
 */
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';
import { accountingFixture, createKey, runCli, type AccountingFixture } from '../accounting-e2e/support/accounting-fixture.ts';
import { DATABASE_URL, deleteRedisPrefix, dropSchema, REDIS_URL, requirePostgres, requireRedis, uniqueName } from './fixtures/services.ts';

const CONFIG_KEY = 'config-key-plaintext-for-tests';
/** The config-wide default: generous, so only a key's own limits bite in these tests. */
const DEFAULT_RPM = 100;
const REFRESH_MS = 200;

type Key = { key: string; hash: string };

async function start(fixture: AccountingFixture, env: Record<string, string> = {}): Promise<RunningGateway> {
  const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: { TEST_GATEWAY_KEY: CONFIG_KEY, ...env }, logger: silentLogger });
  if (!started.ok) throw new Error(JSON.stringify(started.diagnostics));
  return started.gateway;
}

/** One chat call through the openai client: the status and the rate-limit headers, success or not. */
async function chat(gateway: RunningGateway, key: string): Promise<{ status: number; headers: Headers }> {
  const client = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: key, maxRetries: 0 });
  try {
    const { data, response } = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 }).withResponse();
    expect(data.choices[0]?.message.content).toBeTruthy();
    return { status: response.status, headers: response.headers };
  } catch (error) {
    if (error instanceof APIError && error.status !== undefined) return { status: error.status, headers: error.headers as Headers };
    throw error;
  }
}

/**
 * Tokens are counted when a request's record is written, so the refusal of a key over its token
 * limit comes a moment after the request that crossed it: the first 429 within 20 tries 50 ms apart.
 */
async function refusedOnTokens(gateway: RunningGateway, key: string): Promise<{ status: number; headers: Headers } | undefined> {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = await chat(gateway, key);
    if (next.status === 429) return next;
  }
  return undefined;
}

async function api<T>(gateway: RunningGateway, path: string, key: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const reply = await fetch(`${gateway.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` } });
  return { status: reply.status, body: (await reply.json()) as T };
}

/** Waits out the last seconds of a UTC minute, so a fixed rate window does not roll over mid-test. */
async function awayFromMinuteEnd(seconds = 15): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 60_000 - seconds * 1000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
}

interface KeyData {
  hash: string;
  rate_limit: { requests_per_minute?: number | null; tokens_per_minute?: number | null } | null;
}

interface ErrorBody {
  error: { code: number; message: string; metadata: { error_type: string; param?: string } };
}

describe('per-key rate limits', () => {
  let fixture: AccountingFixture;
  let gateway: RunningGateway;
  let management: Key;
  let capped: Key;
  let tokenCapped: Key;
  let plain: Key;

  beforeAll(async () => {
    fixture = accountingFixture({
      gatewayKeyVariable: 'TEST_GATEWAY_KEY',
      accounting: `{ state: memory, keys_refresh_ms: ${REFRESH_MS}, rate_limits: { requests_per_minute: ${DEFAULT_RPM} } }`,
    });
    [management, capped, tokenCapped, plain] = await Promise.all([
      createKey(fixture, ['--name', 'ops', '--management']),
      createKey(fixture, ['--name', 'capped', '--rpm', '2']),
      createKey(fixture, ['--name', 'token-capped', '--tpm', '30', '--rpm', 'none']),
      createKey(fixture, ['--name', 'plain']),
    ]);
    gateway = await start(fixture);
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    fixture?.remove();
  });

  it('answers 429 with Retry-After and X-RateLimit-Limit on the third request of a key with rpm 2; a key without its own limit goes on', async () => {
    await awayFromMinuteEnd();
    const first = await chat(gateway, capped.key);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect((await chat(gateway, capped.key)).status).toBe(200);
    const third = await chat(gateway, capped.key);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(third.headers.get('x-ratelimit-limit')).toBe('2');
    expect(third.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(third.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now());

    for (let index = 0; index < 4; index += 1) {
      const reply = await chat(gateway, plain.key);
      expect(reply.status).toBe(200);
      // The config default applies to the key without its own limit.
      expect(reply.headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));
    }
    // Config keys keep the default too.
    expect((await chat(gateway, CONFIG_KEY)).headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));
  });

  it('limits tokens per minute per key', async () => {
    await awayFromMinuteEnd();
    const first = await chat(gateway, tokenCapped.key);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('30');
    // The first call used more than 30 tokens (prompt + 16 completion): counted when its record is written.
    const refused = await refusedOnTokens(gateway, tokenCapped.key);
    expect(refused?.headers.get('x-ratelimit-limit')).toBe('30');
    expect(refused?.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other keys' tokens are their own.
    expect((await chat(gateway, plain.key)).status).toBe(200);
  });

  it('GET /api/v1/key reports the limits that apply, in OpenRouter\'s rate_limit shape', async () => {
    const own = await api<{ data: { rate_limit: Record<string, unknown> } }>(gateway, '/api/v1/key', capped.key);
    expect(own.body.data.rate_limit).toMatchObject({ requests: 2, interval: '1m', requests_per_minute: 2, tokens_per_minute: null });
    expect(typeof own.body.data.rate_limit.note).toBe('string');
    const tokens = await api<{ data: { rate_limit: Record<string, unknown> } }>(gateway, '/api/v1/key', tokenCapped.key);
    expect(tokens.body.data.rate_limit).toMatchObject({ requests: -1, requests_per_minute: null, tokens_per_minute: 30 });
    const defaults = await api<{ data: { rate_limit: Record<string, unknown> } }>(gateway, '/api/v1/key', plain.key);
    expect(defaults.body.data.rate_limit).toMatchObject({ requests: DEFAULT_RPM, requests_per_minute: DEFAULT_RPM, tokens_per_minute: null });
    const config = await api<{ data: { rate_limit: Record<string, unknown> } }>(gateway, '/api/v1/key', CONFIG_KEY);
    expect(config.body.data.rate_limit).toMatchObject({ requests: DEFAULT_RPM, requests_per_minute: DEFAULT_RPM });
  });

  it('accepts, returns and validates rate_limit on the management API', async () => {
    const created = await api<{ key: string; data: KeyData }>(gateway, '/api/v1/keys', management.key, {
      method: 'POST',
      body: JSON.stringify({ name: 'api-capped', rate_limit: { requests_per_minute: 5, tokens_per_minute: null } }),
    });
    expect(created.status).toBe(201);
    expect(created.body.data.rate_limit).toEqual({ requests_per_minute: 5, tokens_per_minute: null });
    const hash = created.body.data.hash;
    const got = await api<{ data: KeyData }>(gateway, `/api/v1/keys/${hash}`, management.key);
    expect(got.body.data.rate_limit).toEqual({ requests_per_minute: 5, tokens_per_minute: null });
    const listed = await api<{ data: KeyData[] }>(gateway, '/api/v1/keys', management.key);
    expect(listed.body.data.find((key) => key.hash === hash)?.rate_limit).toEqual({ requests_per_minute: 5, tokens_per_minute: null });
    expect(listed.body.data.find((key) => key.hash === plain.hash)?.rate_limit).toBeNull();
    expect(listed.body.data.find((key) => key.hash === capped.hash)?.rate_limit).toEqual({ requests_per_minute: 2 });

    // PATCH merges kind by kind; null goes back to the config defaults.
    const merged = await api<{ data: KeyData }>(gateway, `/api/v1/keys/${hash}`, management.key, { method: 'PATCH', body: JSON.stringify({ rate_limit: { tokens_per_minute: 1000 } }) });
    expect(merged.body.data.rate_limit).toEqual({ requests_per_minute: 5, tokens_per_minute: 1000 });
    const cleared = await api<{ data: KeyData }>(gateway, `/api/v1/keys/${hash}`, management.key, { method: 'PATCH', body: JSON.stringify({ rate_limit: null }) });
    expect(cleared.body.data.rate_limit).toBeNull();

    const bad: Array<[unknown, string]> = [
      [{ requests_per_minute: 0 }, 'rate_limit.requests_per_minute'],
      [{ requests_per_minute: 2.5 }, 'rate_limit.requests_per_minute'],
      [{ tokens_per_minute: '100' }, 'rate_limit.tokens_per_minute'],
      [{ tokens_per_minute: -1 }, 'rate_limit.tokens_per_minute'],
      [{ requests_per_hour: 5 }, 'rate_limit.requests_per_hour'],
      [5, 'rate_limit'],
      [[1, 2], 'rate_limit'],
    ];
    for (const [value, param] of bad) {
      for (const [method, path, extra] of [
        ['POST', '/api/v1/keys', { name: 'bad' }],
        ['PATCH', `/api/v1/keys/${hash}`, {}],
      ] as const) {
        const refused = await api<ErrorBody>(gateway, path, management.key, { method, body: JSON.stringify({ ...extra, rate_limit: value }) });
        expect(refused.status, `${method} ${JSON.stringify(value)}`).toBe(400);
        expect(refused.body.error.code).toBe(400);
        expect(refused.body.error.metadata.error_type).toBe('invalid_request');
        expect(refused.body.error.message).toContain('rate_limit');
        expect(refused.body.error.metadata.param ?? param).toBe(param);
      }
    }
    // Nothing was created or changed by the refused requests.
    expect((await api<{ data: KeyData }>(gateway, `/api/v1/keys/${hash}`, management.key)).body.data.rate_limit).toBeNull();
  });

  it('an update through the management API takes effect on the next request', async () => {
    await awayFromMinuteEnd();
    const fresh = await createKey(fixture, ['--name', 'to-be-capped']);
    // Unknown to the mirror at first: looked up in the store, then mirrored.
    expect((await chat(gateway, fresh.key)).headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));
    const patched = await api<{ data: KeyData }>(gateway, `/api/v1/keys/${fresh.hash}`, management.key, { method: 'PATCH', body: JSON.stringify({ rate_limit: { requests_per_minute: 2 } }) });
    expect(patched.status).toBe(200);
    // One request already counted this minute: the second is the last one allowed.
    const second = await chat(gateway, fresh.key);
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-limit')).toBe('2');
    expect((await chat(gateway, fresh.key)).status).toBe(429);
    // No limit of its own kind: the key is no longer request-limited at all.
    await api(gateway, `/api/v1/keys/${fresh.hash}`, management.key, { method: 'PATCH', body: JSON.stringify({ rate_limit: { requests_per_minute: null } }) });
    const unlimited = await chat(gateway, fresh.key);
    expect(unlimited.status).toBe(200);
    expect(unlimited.headers.get('x-ratelimit-limit')).toBeNull();
  }, 30_000);

  it('an update made elsewhere (the CLI, another process) takes effect within the mirror refresh', async () => {
    const fresh = await createKey(fixture, ['--name', 'cli-capped']);
    expect((await chat(gateway, fresh.key)).headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));
    const updated = await runCli(['keys', 'update', fresh.hash, '--rpm', '7', '--config', fixture.configPath, '--json'], { cwd: fixture.directory });
    expect(updated.code).toBe(0);
    const changedAt = Date.now();
    let limit = String(DEFAULT_RPM);
    while (limit !== '7' && Date.now() - changedAt < REFRESH_MS * 10) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      limit = (await chat(gateway, fresh.key)).headers.get('x-ratelimit-limit') ?? '';
    }
    expect(limit).toBe('7');
  }, 30_000);

  it('round-trips --rpm/--tpm through the CLI: create, list, update (none, default), and refuses bad values', async () => {
    const cli = (args: string[]) => runCli([...args, '--config', fixture.configPath], { cwd: fixture.directory });
    const created = await cli(['keys', 'create', '--name', 'cli-rates', '--rpm', '3', '--tpm', 'none', '--json']);
    expect(created.code).toBe(0);
    const record = (JSON.parse(created.stdout) as { data: KeyData }).data;
    expect(record.rate_limit).toEqual({ requests_per_minute: 3, tokens_per_minute: null });

    const listed = await cli(['keys', 'list']);
    expect(listed.stdout.split('\n').find((line) => line.startsWith(record.hash))).toContain('rpm 3 tpm none');
    const updated = await cli(['keys', 'update', record.hash, '--tpm', '5000', '--rpm', 'none']);
    expect(updated.stdout).toContain('rpm none tpm 5000');
    const defaults = await cli(['keys', 'update', record.hash, '--rpm', 'default', '--tpm', 'default', '--json']);
    expect((JSON.parse(defaults.stdout) as { data: KeyData }).data.rate_limit).toBeNull();

    const [zero, fraction, word, createDefault, help] = await Promise.all([
      cli(['keys', 'update', record.hash, '--rpm', '0']),
      cli(['keys', 'update', record.hash, '--tpm', '1.5']),
      cli(['keys', 'create', '--name', 'x', '--rpm', 'lots']),
      cli(['keys', 'create', '--name', 'x', '--tpm', 'default']),
      runCli(['keys', 'update', '--help'], { cwd: fixture.directory }),
    ]);
    for (const [refused, flag] of [
      [zero, '--rpm'],
      [fraction, '--tpm'],
      [word, '--rpm'],
    ] as const) {
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`${flag} must be a positive whole number`);
    }
    expect(createDefault.code).toBe(2);
    expect(help.stdout).toContain('--rpm <n>');
    expect(help.stdout).toContain('--tpm <n>');
  }, 60_000);
});

describe('per-key rate limits with Postgres storage and Redis state', () => {
  const schema = uniqueName('sy_key_rates_http');
  const prefix = `${uniqueName('sy-key-rates')}:`;
  const env = { DATABASE_URL, REDIS_URL, SWITCHYARD_REDIS_PREFIX: prefix };
  let fixture: AccountingFixture;
  let gateway: RunningGateway;
  let capped: Key;
  let tokenCapped: Key;
  let plain: Key;

  beforeAll(async () => {
    await requirePostgres();
    await requireRedis();
    fixture = accountingFixture({
      gatewayKeyVariable: 'TEST_GATEWAY_KEY',
      storage: `{ kind: postgres, url: { env: DATABASE_URL }, schema: ${schema} }`,
      accounting: `{ state: redis, redis_url: { env: REDIS_URL }, keys_refresh_ms: ${REFRESH_MS}, rate_limits: { requests_per_minute: ${DEFAULT_RPM} } }`,
    });
    // The first CLI call creates the schema; the others run after it.
    capped = await createKey(fixture, ['--name', 'capped', '--rpm', '2'], env);
    [tokenCapped, plain] = await Promise.all([createKey(fixture, ['--name', 'token-capped', '--tpm', '30'], env), createKey(fixture, ['--name', 'plain'], env)]);
    gateway = await start(fixture, env);
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    fixture?.remove();
    await dropSchema(schema);
    await deleteRedisPrefix(prefix);
  });

  it('limits each key by its own requests and tokens per minute, the others by the default', async () => {
    await awayFromMinuteEnd();
    expect((await chat(gateway, capped.key)).status).toBe(200);
    expect((await chat(gateway, capped.key)).status).toBe(200);
    const third = await chat(gateway, capped.key);
    expect(third.status).toBe(429);
    expect(third.headers.get('x-ratelimit-limit')).toBe('2');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    for (let index = 0; index < 3; index += 1) expect((await chat(gateway, plain.key)).headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));

    // tpm 30 and the default's rpm: the request window is reported while tokens remain.
    expect((await chat(gateway, tokenCapped.key)).headers.get('x-ratelimit-limit')).toBe(String(DEFAULT_RPM));
    const refused = await refusedOnTokens(gateway, tokenCapped.key);
    expect(refused?.headers.get('x-ratelimit-limit')).toBe('30');
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThan(0);
  }, 30_000);
});
