/**
 * The dashboard in headless Chromium after real traffic through the sidecar (the real server,
 * simulated providers, one of them flaky so fallbacks happen): the figures on the page match the
 * generation log read back through `GET /api/v1/generation`. A screenshot goes to
 * test-artifacts/dashboard.png.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDecimals } from '../../sidecar/accounting/decimal.ts';
import { silentLogger } from '../../sidecar/logger.ts';
import { startServer, type RunningGateway } from '../../sidecar/server.ts';
import type { GenerationRecord } from '../../sidecar/store/generation-record.ts';
import { opsFixture, REPOSITORY, type OpsFixture } from './support/ops-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACT = join(REPOSITORY, 'test-artifacts', 'dashboard.png');
const MODELS = ['openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-sonnet-4', 'openai/gpt-4o-mini', 'openai/gpt-4.1-mini'];

let fixture: OpsFixture;
let gateway: RunningGateway;
let browser: Browser;
let records: GenerationRecord[];

/** One chat completion; resolves to its generation id. */
async function complete(index: number): Promise<string> {
  const stream = index % 4 === 0;
  const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODELS[index % MODELS.length], messages: [{ role: 'user', content: `Say hello #${index}` }], max_tokens: 40, stream }),
  });
  await reply.text();
  const id = reply.headers.get('x-generation-id');
  if (!id) throw new Error(`no generation id (status ${reply.status})`);
  return id;
}

beforeAll(async () => {
  // sim-cheap fails half its calls with 503, so some requests are served by a fallback.
  fixture = opsFixture({ providerOptions: { 'sim-cheap': '{ latency_ms: 60, latency_jitter_ms: 20, tokens_per_second: 400, failure_rates: { "503": 0.5 }, retry_after_ms: 10 }' } });
  const started = await startServer({ configPath: fixture.configPath, cwd: fixture.directory, env: {}, logger: silentLogger });
  if (!started.ok) throw new Error(started.diagnostics.map((diagnostic) => diagnostic.message).join('\n'));
  gateway = started.gateway;
  const ids: string[] = [];
  for (let batch = 0; batch < 4; batch++) ids.push(...(await Promise.all(Array.from({ length: 10 }, (_, index) => complete(batch * 10 + index)))));
  records = await Promise.all(
    ids.map(async (id) => ((await (await fetch(`${gateway.url}/api/v1/generation?id=${id}`)).json()) as { data: GenerationRecord }).data),
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  fixture?.remove();
});

describe('dashboard in a browser', () => {
  it('shows the figures of the generation log, and the active policy', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${gateway.url}/dashboard`);
    await page.waitForSelector('#recent tr[data-id]');

    // Expected figures, from the records themselves.
    const spend = addDecimals(...records.map((record) => record.total_cost));
    const served = records.filter((record) => record.attempts.some((attempt) => attempt.outcome === 'ok'));
    const fallbacks = served.filter((record) => {
      const made = record.attempts.filter((attempt) => attempt.outcome !== 'skipped');
      return made.find((attempt) => attempt.outcome === 'ok')?.endpoint !== made[0]?.endpoint;
    });
    expect(fallbacks.length).toBeGreaterThan(0);
    const attemptsByProvider = new Map<string, number>();
    for (const record of records) for (const attempt of record.attempts) if (attempt.outcome !== 'skipped') attemptsByProvider.set(attempt.provider, (attemptsByProvider.get(attempt.provider) ?? 0) + 1);

    expect(await page.textContent('[data-testid="total-requests"]')).toBe(String(records.length));
    expect(await page.getAttribute('[data-testid="total-spend"]', 'data-value')).toBe(spend);
    expect(await page.textContent('[data-testid="total-spend"]')).toBe(`$${Number(spend).toFixed(6)}`);
    expect(await page.textContent('[data-testid="fallback-rate"]')).toBe(`${((fallbacks.length / served.length) * 100).toFixed(1)}%`);
    expect(await page.textContent('[data-testid="total-fallbacks"]')).toBe(`${fallbacks.length} of ${served.length} served by a fallback`);
    const providerRows = await page.$$eval('#providers tr[data-provider]', (rows) => rows.map((row) => [row.getAttribute('data-provider'), Number(row.getAttribute('data-attempts'))] as const));
    expect(new Map(providerRows)).toEqual(attemptsByProvider);

    // Recent generations: the newest 25, newest first, each with its cost and attempt chain.
    // Newest first by creation time, ties by id (plain code-unit order).
    const key = (record: GenerationRecord): string => `${record.created_at}|${record.id}`;
    const newest = [...records].sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0)).slice(0, 25);
    const rows = await page.$$eval('#recent tr[data-id]', (elements) =>
      elements.map((row) => ({ id: row.getAttribute('data-id'), cost: row.querySelector('[data-value]')?.getAttribute('data-value'), pills: row.querySelectorAll('.pill').length })),
    );
    expect(rows.map((row) => row.id)).toEqual(newest.map((record) => record.id));
    for (const row of rows) {
      const record = records.find((candidate) => candidate.id === row.id)!;
      expect(row.cost).toBe(record.total_cost);
      expect(row.pills).toBe(record.attempts.filter((attempt) => attempt.outcome !== 'skipped').length);
    }
    const spendLegend = await page.$$eval('#spend-legend li', (items) => items.map((item) => item.getAttribute('data-name')));
    expect(new Set(spendLegend)).toEqual(new Set(served.map((record) => record.model)));
    expect(await page.textContent('[data-testid="policy-name"]')).toBe('default');
    expect(await page.textContent('[data-testid="policy-version"]')).toBe(records[0]!.policy_version);
    expect(await page.$$('#spend-chart svg rect')).not.toHaveLength(0);
    expect(errors).toEqual([]);

    mkdirSync(join(REPOSITORY, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: ARTIFACT, fullPage: true });
    await page.close();
  });
});
