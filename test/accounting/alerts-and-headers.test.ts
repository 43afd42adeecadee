import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createAlertNotifier } from '../../sidecar/accounting/alerts.ts';
import type { AlertEvent } from '../../sidecar/state/accounting-state.ts';
import { MemoryAccountingState } from '../../sidecar/state/memory-state.ts';
import { rateLimitHeaders } from '../../sidecar/state/rate-limit-headers.ts';

describe('alert notifier', () => {
  it('logs, counts and posts each alert to the webhook', async () => {
    const received: unknown[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        received.push(JSON.parse(body));
        response.statusCode = received.length === 2 ? 500 : 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const logged: AlertEvent[] = [];
    const counted: number[] = [];
    const errors: string[] = [];
    const notifier = createAlertNotifier({
      log: (event) => logged.push(event),
      count: (event) => counted.push(event.threshold),
      webhookUrl: `http://127.0.0.1:${port}/hook`,
      onError: (error) => errors.push((error as Error).message),
    });
    const events: AlertEvent[] = [
      { scopeKey: 'team|team=ml|2026-11', threshold: 0.5, spent: '50', limit: '100' },
      { scopeKey: 'team|team=ml|2026-11', threshold: 0.8, spent: '80.5', limit: '100' },
    ];
    notifier.notify(events);
    expect(logged).toEqual(events);
    expect(counted).toEqual([0.5, 0.8]);
    await notifier.drain();
    server.close();
    expect(received).toHaveLength(2);
    expect(received).toContainEqual({ type: 'budget_alert', scopeKey: 'team|team=ml|2026-11', threshold: 0.8, spent: '80.5', limit: '100' });
    expect(errors).toEqual(['alert webhook answered 500']);
  });

  it('reports an unreachable webhook without throwing', async () => {
    const errors: unknown[] = [];
    const notifier = createAlertNotifier({ log: () => {}, webhookUrl: 'http://127.0.0.1:1/hook', webhookTimeoutMs: 1000, onError: (error) => errors.push(error) });
    notifier.notify([{ scopeKey: 's', threshold: 1, spent: '1', limit: '1' }]);
    await notifier.drain();
    expect(errors).toHaveLength(1);
  });
});

describe('rate-limit headers', () => {
  it('reports the request window, and the refusing window with Retry-After', async () => {
    let now = Date.UTC(2026, 10, 25, 12, 0, 50);
    const state = new MemoryAccountingState({ clock: () => now });
    const limits = { requestsPerMinute: 1, tokensPerMinute: 100 };
    const reset = String(Date.UTC(2026, 10, 25, 12, 1, 0));
    expect(rateLimitHeaders(await state.checkRate('k', limits))).toEqual({ 'X-RateLimit-Limit': '1', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset });
    expect(rateLimitHeaders(await state.checkRate('k', limits))).toEqual({ 'X-RateLimit-Limit': '1', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': reset, 'Retry-After': '10' });
    now += 10_000;
    const tokenLimits = { requestsPerMinute: 5, tokensPerMinute: 100 };
    await state.checkRate('k', tokenLimits);
    await state.recordTokens('k', 150);
    expect(rateLimitHeaders(await state.checkRate('k', tokenLimits))).toMatchObject({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'Retry-After': '60' });
    expect(rateLimitHeaders({ ok: false, reason: 'state_unavailable', message: 'down' })).toEqual({});
    expect(rateLimitHeaders({ ok: true })).toEqual({});
  });
});
