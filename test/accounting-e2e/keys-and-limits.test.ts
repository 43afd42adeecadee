/**
 * The gateway as `switchyard serve` builds it (SQLite storage, memory accounting state): stored
 * keys from the CLI, `/api/v1/key`, the management API, key credit limits (402 saying what fits),
 * per-key rate limits (429 + headers), and policy budgets reaching the engine through the
 * snapshot (downgrade, and the plan's exclusions).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';
import type { GenerationRecord } from '../../sidecar/store/generation-record.ts';
import { accountingFixture, createKey, runCli, type AccountingFixture } from './support/accounting-fixture.ts';

const CONFIG_KEY = 'config-key-plaintext-for-tests';
const RATE_LIMIT = 5;

async function start(fixture: AccountingFixture): Promise<RunningGateway> {
  const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: { TEST_GATEWAY_KEY: CONFIG_KEY }, logger: silentLogger });
  if (!started.ok) throw new Error(JSON.stringify(started.diagnostics));
  return started.gateway;
}

function chat(gateway: RunningGateway, key: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${gateway.url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hello there' }], ...body }),
  });
}

async function getJson<T>(gateway: RunningGateway, path: string, key: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const reply = await fetch(`${gateway.url}${path}`, { ...init, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...(init.headers as Record<string, string> | undefined) } });
  return { status: reply.status, body: (await reply.json()) as T };
}

/** Waits out the last seconds of a UTC minute, so a fixed rate window does not roll over mid-test. */
async function awayFromMinuteEnd(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 50_000) await new Promise((resolve) => setTimeout(resolve, 60_000 - intoMinute + 100));
}

describe('stored keys, key limits and rate limits', () => {
  let fixture: AccountingFixture;
  let gateway: RunningGateway;
  let management: { key: string; hash: string };
  let limited: { key: string; hash: string };

  beforeAll(async () => {
    fixture = accountingFixture({ gatewayKeyVariable: 'TEST_GATEWAY_KEY', accounting: `{ state: memory, rate_limits: { requests_per_minute: ${RATE_LIMIT} } }` });
    management = await createKey(fixture, ['--name', 'ops', '--management']);
    limited = await createKey(fixture, ['--name', 'capped', '--limit', '0.01']);
    gateway = await start(fixture);
  }, 60_000);

  afterAll(async () => {
    await gateway?.close();
    fixture.remove();
  });

  it('refuses a request whose worst case does not fit the key limit, saying what would fit', async () => {
    const refused = await chat(gateway, limited.key, { max_tokens: 10_000 });
    expect(refused.status).toBe(402);
    const error = ((await refused.json()) as { error: { message: string; metadata: { error_type: string } } }).error;
    expect(error.metadata.error_type).toBe('insufficient_credits');
    const affordable = Number(/can only afford (\d+)/.exec(error.message)?.[1]);
    // $0.01 minus the prompt at $2.5/M, at $10/M output: just under 1000 tokens.
    expect(affordable).toBeGreaterThan(990);
    expect(affordable).toBeLessThan(1000);
    expect(error.message).toContain('You requested up to 10000 tokens');

    const fits = await chat(gateway, limited.key, { max_tokens: 100 });
    expect(fits.status).toBe(200);
    const served = (await fits.json()) as { id: string; usage: { cost: number } };
    expect(served.usage.cost).toBeGreaterThan(0);

    const record = await getJson<{ data: GenerationRecord }>(gateway, `/api/v1/generation?id=${served.id}`, limited.key);
    expect(record.body.data.key).toBe(limited.hash);
    const info = await getJson<{ data: { limit: number; usage: number; limit_remaining: number; limit_reset: string | null; label: string } }>(gateway, '/api/v1/key', limited.key);
    expect(info.body.data.limit).toBe(0.01);
    expect(info.body.data.usage).toBe(Number(record.body.data.total_cost));
    expect(info.body.data.limit_remaining).toBeCloseTo(0.01 - Number(record.body.data.total_cost), 12);
    expect(info.body.data.label).toMatch(/^sk-sy-v1-[0-9a-f]{3}\.\.\.[0-9a-f]{3}$/);
    const legacy = await getJson<{ data: { usage: number } }>(gateway, '/api/v1/auth/key', limited.key);
    expect(legacy.body.data.usage).toBe(info.body.data.usage);
  });

  it('limits requests per minute per key with 429, Retry-After and X-RateLimit headers', async () => {
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let index = 0; index <= RATE_LIMIT; index += 1) {
      last = await chat(gateway, CONFIG_KEY, { max_tokens: 16 });
      statuses.push(last.status);
      if (index === 0) {
        expect(last.headers.get('x-ratelimit-limit')).toBe(String(RATE_LIMIT));
        expect(last.headers.get('x-ratelimit-remaining')).toBe(String(RATE_LIMIT - 1));
      }
      await last.arrayBuffer();
    }
    expect(statuses).toEqual([...Array(RATE_LIMIT).fill(200), 429]);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last?.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('manages keys over /api/v1/keys with a management key only', async () => {
    const forbidden = await getJson<{ error: { metadata: { error_type: string } } }>(gateway, '/api/v1/keys', limited.key);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.metadata.error_type).toBe('management_key_required');

    const created = await getJson<{ key: string; data: { hash: string; limit: string; limit_reset: string } }>(gateway, '/api/v1/keys', management.key, {
      method: 'POST',
      body: JSON.stringify({ name: 'from-api', limit: '2.5', limit_reset: 'daily' }),
    });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ limit: '2.5', limit_reset: 'daily' });
    const client = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: created.body.key, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 16 });
    expect(completion.choices[0]?.message.content).toBeTruthy();

    const listed = await getJson<{ data: Array<{ hash: string }> }>(gateway, '/api/v1/keys', management.key);
    expect(listed.body.data.map((key) => key.hash)).toContain(created.body.data.hash);
    const patched = await getJson<{ data: { limit: string } }>(gateway, `/api/v1/keys/${created.body.data.hash}`, management.key, { method: 'PATCH', body: JSON.stringify({ limit: '3' }) });
    expect(patched.body.data.limit).toBe('3');
    const deleted = await getJson<{ deleted: boolean }>(gateway, `/api/v1/keys/${created.body.data.hash}`, management.key, { method: 'DELETE' });
    expect(deleted.body.deleted).toBe(true);
    const afterRevoke = await chat(gateway, created.body.key, { max_tokens: 16 });
    expect(afterRevoke.status).toBe(401);
  });

  it('lists and revokes keys from the CLI; the plaintext is never stored', async () => {
    const listed = await runCli(['keys', 'list', '--config', fixture.configPath], { cwd: fixture.directory });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(limited.hash);
    expect(listed.stdout).not.toContain(limited.key);
    const revoked = await runCli(['keys', 'revoke', limited.hash, '--config', fixture.configPath], { cwd: fixture.directory });
    expect(revoked.code).toBe(0);
    const again = await runCli(['keys', 'revoke', limited.hash, '--config', fixture.configPath], { cwd: fixture.directory });
    expect(again.code).toBe(1);
  }, 30_000);
});

describe('policy budgets through the snapshot', () => {
  let fixture: AccountingFixture;
  let gateway: RunningGateway;

  beforeAll(async () => {
    fixture = accountingFixture({
      gatewayKeyVariable: 'TEST_GATEWAY_KEY',
      accounting: '{ state: memory }',
      policy: ['require: { budgets: [tiny-daily] }', 'budgets:', '  - { id: tiny-daily, scope: key, period: day, limit: 0.002, downgrade_to: [openai/gpt-4o-mini] }'].join('\n'),
    });
    gateway = await start(fixture);
  }, 30_000);

  afterAll(async () => {
    await gateway?.close();
    fixture.remove();
  });

  it('downgrades once the spend leaves too little for the requested model, and the plan says why', async () => {
    const models: string[] = [];
    for (let index = 0; index < 4; index += 1) {
      const reply = await chat(gateway, CONFIG_KEY, { max_tokens: 150 });
      expect(reply.status).toBe(200);
      models.push(((await reply.json()) as { model: string }).model);
    }
    // gpt-4o costs ~$0.00035 a request here and holds ~$0.0015: after two, it no longer fits $0.002.
    expect(models.slice(0, 2)).toEqual(['openai/gpt-4o', 'openai/gpt-4o']);
    expect(models.at(-1)).toBe('openai/gpt-4o-mini');

    const plan = await getJson<{ excluded: Array<{ reason: string; model: string }>; budgets: Array<{ id: string; spent: number }>; attempts: Array<{ model: string }> }>(gateway, '/api/v1/plan', CONFIG_KEY, {
      method: 'POST',
      body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 150 }),
    });
    expect(plan.status).toBe(200);
    expect(plan.body.excluded.some((exclusion) => exclusion.reason === 'budget_exhausted' && exclusion.model === 'openai/gpt-4o')).toBe(true);
    expect(plan.body.budgets[0]?.spent).toBeGreaterThan(0.0006);
    expect(plan.body.attempts[0]?.model).toBe('openai/gpt-4o-mini');
  });
});

describe('budget alerts', () => {
  let fixture: AccountingFixture;
  let gateway: RunningGateway;
  let hook: Server;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    hook = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => void (text += chunk.toString()));
      request.on('end', () => {
        received.push(JSON.parse(text) as Record<string, unknown>);
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    fixture = accountingFixture({ accounting: '{ state: memory, alerts: { thresholds: [0.5, 0.8], webhook_url: { env: TEST_ALERT_HOOK } } }' });
    const capped = await createKey(fixture, ['--name', 'alerted', '--limit', '0.0006']);
    const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: { TEST_ALERT_HOOK: hookUrl }, logger: silentLogger });
    if (!started.ok) throw new Error(JSON.stringify(started.diagnostics));
    gateway = started.gateway;
    alertedKey = capped.key;
  }, 60_000);

  let alertedKey = '';

  afterAll(async () => {
    await gateway?.close();
    hook.close();
    fixture.remove();
  });

  it('raises each threshold once: webhook and metric', async () => {
    // About $0.00019 a request (16 tokens at $10/M plus the prompt): 32%, 63%, 95% of $0.0006.
    for (let index = 0; index < 3; index += 1) {
      const reply = await chat(gateway, alertedKey, { max_tokens: 16 });
      expect(reply.status).toBe(200);
      await reply.arrayBuffer();
    }
    const deadline = Date.now() + 5000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.map((event) => [event.type, event.threshold])).toEqual([
      ['budget_alert', 0.5],
      ['budget_alert', 0.8],
    ]);
    expect(String(received[0]?.scopeKey)).toMatch(/^key-limit\|key=[0-9a-f]{64}\|lifetime$/);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/switchyard_budget_alerts_total\{threshold="0.5"\} 1/);
    expect(metrics).toMatch(/switchyard_budget_alerts_total\{threshold="0.8"\} 1/);
  });
});

describe('start-up with Redis configured but unreachable', () => {
  it('refuses to start with a diagnostic naming the state store', async () => {
    const fixture = accountingFixture({ accounting: '{ state: redis, redis_url: { env: TEST_DEAD_REDIS } }' });
    try {
      const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: { TEST_DEAD_REDIS: 'redis://127.0.0.1:1' }, logger: silentLogger });
      expect(started.ok).toBe(false);
      if (!started.ok) expect(started.diagnostics.map((diagnostic) => diagnostic.code)).toEqual(['config_state_unavailable']);
    } finally {
      fixture.remove();
    }
  }, 30_000);
});
