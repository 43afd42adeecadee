/**
 * Spend survives a restart of the real `switchyard serve` process (issue #6, "limits that leak"):
 * with the state in memory and the generation log in SQLite, key credit usage (`/api/v1/key`, the
 * key's limit) and policy budgets (key, user, team, tag, global; day, week, month) come back from
 * the generation log at start-up, after a clean stop (SIGTERM) and after a kill -9 (records still
 * in the crash journal are replayed first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDecimals, decimalToNumber } from '../../sidecar/accounting/decimal.ts';
import { accountingFixture, createKey, SWITCHYARD_BIN, type AccountingFixture } from '../accounting-e2e/support/accounting-fixture.ts';

const CONFIG_KEY = 'config-key-plaintext-for-restart-tests';
const children = new Set<ChildProcess>();

interface Serving {
  url: string;
  process: ChildProcess;
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** `switchyard serve` on a free port; resolves once it listens, with its URL from the start-up line. */
function serve(fixture: AccountingFixture): Promise<Serving> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SWITCHYARD_BIN, 'serve', '--config', fixture.configPath, '--port', '0'], {
      cwd: fixture.directory,
      env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'info', TEST_GATEWAY_KEY: CONFIG_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    void exited.then(() => children.delete(child));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match) {
        resolve({
          url: match[1]!,
          process: child,
          stop: async (signal) => {
            child.kill(signal);
            await exited;
          },
        });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 30_000).unref();
  });
}

async function chat(server: Serving, key: string, headers: Record<string, string> = {}): Promise<{ status: number; errorType?: string }> {
  const reply = await fetch(`${server.url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 }),
  });
  const body = (await reply.json()) as { error?: { metadata?: { error_type?: string } } };
  return { status: reply.status, ...(body.error?.metadata?.error_type ? { errorType: body.error.metadata.error_type } : {}) };
}

/** Requests until the first refusal (at most `max`); returns how many were served. */
async function spendUntilRefused(server: Serving, key: string, headers: Record<string, string> = {}, max = 40): Promise<number> {
  for (let served = 0; served < max; served += 1) {
    const reply = await chat(server, key, headers);
    if (reply.status === 402) return served;
    expect(reply.status).toBe(200);
  }
  throw new Error(`not refused after ${max} requests`);
}

interface KeyInfo {
  usage: number;
  usage_daily: number;
  usage_weekly: number;
  usage_monthly: number;
  limit: number | null;
  limit_remaining: number | null;
}

async function keyInfo(server: Serving, key: string): Promise<KeyInfo> {
  const reply = await fetch(`${server.url}/api/v1/key`, { headers: { authorization: `Bearer ${key}` } });
  expect(reply.status).toBe(200);
  return ((await reply.json()) as { data: KeyInfo }).data;
}

/** Budget spend as routing sees it: `/api/v1/plan`'s budgets, by id. */
async function budgetSpend(server: Serving, key: string, headers: Record<string, string>): Promise<Record<string, number>> {
  const reply = await fetch(`${server.url}/api/v1/plan`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 }),
  });
  const body = (await reply.json()) as { budgets?: Array<{ id: string; spent: number }> };
  expect(reply.status, JSON.stringify(body)).toBe(200);
  return Object.fromEntries((body.budgets ?? []).map((budget) => [budget.id, budget.spent]));
}

/**
 * Appends records to the fixture's SQLite log from another process that is then killed with
 * SIGKILL before any flush: the records are in the crash journal only.
 */
async function crashWithJournaledSpend(fixture: AccountingFixture, count: number, cost: string, identity: { key: string; user: string; team: string; tags: string[] }): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'append-spend-and-wait.ts'), join(fixture.directory, '.data/switchyard.db'), String(count), cost, JSON.stringify(identity)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('APPENDED')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`journal writer exited (${code}) early`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  const journal = join(fixture.directory, '.data/switchyard.db.journal');
  const lines = readdirSync(journal).flatMap((name) => readFileSync(join(journal, name), 'utf8').split('\n').filter((line) => line !== ''));
  expect(lines.length).toBe(count);
}

afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
});

describe('key credit limits across restarts (memory state, SQLite log)', () => {
  let fixture: AccountingFixture;
  let daily: { key: string; hash: string };
  let lifetime: { key: string; hash: string };

  beforeAll(async () => {
    fixture = accountingFixture({ gatewayKeyVariable: 'TEST_GATEWAY_KEY', accounting: '{ state: memory }' });
    daily = await createKey(fixture, ['--name', 'daily', '--limit', '0.001', '--reset', 'daily']);
    lifetime = await createKey(fixture, ['--name', 'lifetime', '--limit', '0.001']);
  }, 60_000);

  afterAll(() => fixture.remove());

  it('reports the same usage and still refuses with 402 after SIGTERM and after kill -9', async () => {
    let server = await serve(fixture);
    const servedDaily = await spendUntilRefused(server, daily.key);
    expect(servedDaily).toBeGreaterThan(0);
    const before = await keyInfo(server, daily.key);
    expect(before.usage_daily).toBeGreaterThan(0);

    await server.stop('SIGTERM');
    server = await serve(fixture);
    expect(await keyInfo(server, daily.key)).toEqual(before);
    expect(await chat(server, daily.key)).toEqual({ status: 402, errorType: 'insufficient_credits' });

    // kill -9 right after the last response: its record is in the journal only.
    const servedLifetime = await spendUntilRefused(server, lifetime.key);
    expect(servedLifetime).toBeGreaterThan(0);
    const lifetimeBefore = await keyInfo(server, lifetime.key);
    await server.stop('SIGKILL');
    server = await serve(fixture);
    expect(await keyInfo(server, lifetime.key)).toEqual(lifetimeBefore);
    expect(await keyInfo(server, daily.key)).toEqual(before);
    expect(await chat(server, lifetime.key)).toEqual({ status: 402, errorType: 'insufficient_credits' });
    expect(await chat(server, daily.key)).toEqual({ status: 402, errorType: 'insufficient_credits' });
    await server.stop('SIGTERM');
  }, 90_000);
});

describe('policy budgets across restarts (memory state, SQLite log)', () => {
  const TAGS = { 'x-switchyard-tags': 'batch' };
  const GPU = { 'x-switchyard-tags': 'gpu' };
  let fixture: AccountingFixture;
  let member: { key: string; hash: string };

  beforeAll(async () => {
    fixture = accountingFixture({
      gatewayKeyVariable: 'TEST_GATEWAY_KEY',
      accounting: '{ state: memory }',
      policy: [
        'require: { budgets: [key-daily, user-weekly, team-monthly, tag-daily, global-monthly] }',
        'budgets:',
        '  - { id: key-daily, scope: key, period: day, limit: 1 }',
        '  - { id: user-weekly, scope: user, period: week, limit: 1 }',
        '  - { id: team-monthly, scope: team, period: month, limit: 1 }',
        '  - { id: tag-daily, scope: tag, tag: batch, period: day, limit: 1 }',
        '  - { id: global-monthly, scope: global, period: month, limit: 0.0015 }',
        '  - { id: gpu-team, scope: team, period: month, limit: 1 }',
        'rules:',
        '  - id: gpu',
        '    when: { in: [gpu, { var: tags }] }',
        '    require: { budgets: [gpu-team] }',
      ].join('\n'),
    });
    member = await createKey(fixture, ['--name', 'member', '--user', 'u1', '--team', 't1']);
  }, 60_000);

  afterAll(() => fixture.remove());

  it('keeps every scope\'s spend across kill -9 and SIGTERM, and the exhausted budget still refuses', async () => {
    let server = await serve(fixture);
    for (let index = 0; index < 2; index += 1) expect((await chat(server, member.key, TAGS)).status).toBe(200);
    // A request of the config key counts against the global budget only (no user, team or tag).
    expect((await chat(server, CONFIG_KEY)).status).toBe(200);
    // One request the `gpu` rule matches: the only one its team budget counts.
    expect((await chat(server, member.key, GPU)).status).toBe(200);
    const before = await budgetSpend(server, member.key, TAGS);
    expect(Object.keys(before).sort()).toEqual(['global-monthly', 'key-daily', 'tag-daily', 'team-monthly', 'user-weekly']);
    expect(before['global-monthly']).toBeGreaterThan(before['key-daily']!);
    expect(before['key-daily']).toBeGreaterThan(0);
    const gpuBefore = await budgetSpend(server, member.key, GPU);
    expect(gpuBefore['gpu-team']).toBeGreaterThan(0);
    expect(gpuBefore['gpu-team']).toBeLessThan(gpuBefore['team-monthly']!);

    await server.stop('SIGKILL');
    server = await serve(fixture);
    expect(await budgetSpend(server, member.key, TAGS)).toEqual(before);
    // The rule's budget comes back with the requests the rule matched, not its whole team's.
    expect(await budgetSpend(server, member.key, GPU)).toEqual(gpuBefore);

    // Spend still in the crash journal at start-up counts too: the replay comes first.
    await server.stop('SIGKILL');
    await crashWithJournaledSpend(fixture, 3, '0.0001', { key: member.hash, user: 'u1', team: 't1', tags: ['batch'] });
    server = await serve(fixture);
    const after = await budgetSpend(server, member.key, TAGS);
    for (const id of Object.keys(before)) expect(after[id], id).toBe(decimalToNumber(addDecimals(String(before[id]), '0.0003')));

    const served = await spendUntilRefused(server, member.key, TAGS);
    expect(served).toBeGreaterThan(0);
    await server.stop('SIGTERM');
    server = await serve(fixture);
    const refused = await chat(server, CONFIG_KEY);
    expect(refused.status).toBe(402);
    await server.stop('SIGTERM');
  }, 90_000);
});
