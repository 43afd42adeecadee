import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { silentLogger } from '../logger.ts';
import { generationRecord } from '../ops/__test-helpers__/records.ts';
import { MemoryGenerationStore } from '../store/generation-record.ts';
import { dashboardRouter } from './dashboard-routes.ts';
import { dashboardSummary } from './summary.ts';

const NOW = Date.parse('2026-11-25T12:10:00.000Z');

/** Oldest first, as they happened; `list()` gives them newest first. */
const RECORDS = [
  generationRecord({ id: 'gen-a', createdAt: '2026-11-25T12:00:05.000Z', provider: 'sim-fast', cost: '0.001', promptTokens: 10, completionTokens: 20, latencyMs: 300 }),
  generationRecord({ id: 'gen-b', createdAt: '2026-11-25T12:01:00.000Z', model: 'openai/gpt-4o', provider: 'sim-eu', failedProvider: 'sim-fast', cost: '0.0025', latencyMs: 500, firstByteMs: 120, streamed: true }),
  generationRecord({ id: 'gen-c', createdAt: '2026-11-25T12:04:30.000Z', provider: 'sim-cheap', cost: '0.0000003', latencyMs: 900 }),
  generationRecord({ id: 'gen-d', createdAt: '2026-11-25T12:09:59.000Z', provider: 'sim-fast', status: 502, failedProvider: 'sim-cheap' }),
];
const NEWEST_FIRST = [...RECORDS].reverse();

describe('dashboard summary', () => {
  const summary = dashboardSummary({ records: NEWEST_FIRST, limit: 100, now: NOW, policy: null, circuits: [{ endpoint: 'a@b', state: 'closed' }, { endpoint: 'openai/gpt-4o@sim-eu', state: 'open' }] });

  it('totals requests, spend (exact), tokens, failures and fallbacks', () => {
    expect(summary.totals).toEqual({
      requests: 4,
      served: 3,
      failed: 1,
      fallbacks: 1,
      fallback_rate: 1 / 3,
      spend: '0.0035003',
      prompt_tokens: 10 + 12 + 12,
      completion_tokens: 20 + 30 + 30,
    });
    expect(summary.window).toEqual({ from: '2026-11-25T12:00:05.000Z', to: '2026-11-25T12:09:59.000Z', records: 4, limit: 100 });
  });

  it('buckets spend over time by model and by provider', () => {
    // 12:00:05 to 12:10:00 needs 61 ten-second bars (more than 60), so one-minute bars.
    expect(summary.spend_over_time.bucket_ms).toBe(60_000);
    expect(summary.spend_over_time.buckets).toHaveLength(11);
    expect(summary.spend_over_time.buckets[0]).toBe('2026-11-25T12:00:00.000Z');
    const byModel = Object.fromEntries(summary.spend_over_time.by_model.map((series) => [series.name, series]));
    expect(byModel['openai/gpt-4o']?.total).toBe('0.0025');
    expect(byModel['openai/gpt-4o']?.values[1]).toBe(0.0025);
    expect(byModel['openai/gpt-4o-mini']?.total).toBe('0.0010003');
    expect(byModel['openai/gpt-4o-mini']?.values[4]).toBe(0.0000003);
    expect(summary.spend_over_time.by_provider.map((series) => series.name)).toEqual(['sim-eu', 'sim-fast', 'sim-cheap']);
  });

  it('gives latency and failures per provider and the attempt chains of recent generations', () => {
    const providers = Object.fromEntries(summary.providers.map((row) => [row.provider, row]));
    expect(providers['sim-fast']).toMatchObject({ attempts: 3, served: 1, failed: 2, latency_ms: { p50: 300, p90: 300 }, spend: '0.001' });
    expect(providers['sim-eu']).toMatchObject({ attempts: 1, served: 1, failed: 0, ttft_ms: { p50: 120, p90: 120 } });
    expect(summary.recent.map((row) => row.id)).toEqual(['gen-d', 'gen-c', 'gen-b', 'gen-a']);
    expect(summary.recent[2]).toMatchObject({ fallback: true, attempts: [{ provider: 'sim-fast', status: 503, outcome: 'retryable' }, { provider: 'sim-eu', status: 200, outcome: 'ok' }] });
    expect(summary.circuits).toEqual([{ endpoint: 'openai/gpt-4o@sim-eu', state: 'open' }]);
  });

  it('is empty but well-formed with no traffic', () => {
    const empty = dashboardSummary({ records: [], limit: 10, now: NOW, policy: null });
    expect(empty.totals).toMatchObject({ requests: 0, spend: '0', fallback_rate: null });
    // The chart still spans the last five minutes, in 10 s bars.
    expect(empty.spend_over_time).toMatchObject({ bucket_ms: 10_000, by_model: [], by_provider: [] });
    expect(empty.spend_over_time.buckets).toHaveLength(31);
    expect(empty.spend_over_time.buckets[0]).toBe('2026-11-25T12:05:00.000Z');
    expect(empty.recent).toEqual([]);
  });

  it('serves the page, its assets and the summary from a store, behind the given key check', async () => {
    const store = new MemoryGenerationStore();
    for (const record of RECORDS) store.append(record);
    const app = express();
    app.use(
      dashboardRouter({
        store,
        clock: systemClock,
        logger: silentLogger,
        policy: () => null,
        authenticate: (request, response, next) => (request.headers.authorization === 'Bearer good' ? next() : void response.status(401).json({ error: { code: 401 } })),
      }),
    );
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const page = await fetch(`${url}/dashboard`);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<script src="/dashboard/dashboard.js" defer></script>');
      expect((await fetch(`${url}/dashboard/dashboard.js`)).headers.get('content-type')).toContain('javascript');
      expect((await fetch(`${url}/dashboard/dashboard.css`)).headers.get('content-type')).toContain('text/css');
      expect((await fetch(`${url}/api/v1/dashboard/summary`)).status).toBe(401);
      const reply = await fetch(`${url}/api/v1/dashboard/summary`, { headers: { authorization: 'Bearer good' } });
      const body = (await reply.json()) as { totals: { requests: number; spend: string } };
      expect(body.totals).toMatchObject({ requests: 4, spend: '0.0035003' });
    } finally {
      server.close();
    }
  });
});
