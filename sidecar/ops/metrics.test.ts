import express from 'express';
import { describe, expect, it } from 'vitest';
import { generationRecord } from './__test-helpers__/records.ts';
import { GatewayMetrics, metricsHandler } from './metrics.ts';

/** The value of the exposition line of `name` whose labels include every given one (any order). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

describe('gateway metrics', () => {
  it('counts attempts, fallbacks, tokens, cost and GenAI durations from generation records', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    metrics.observeGeneration(generationRecord({ id: 'gen-1', createdAt: '2026-11-25T12:00:00.000Z', failedProvider: 'sim-cheap', cost: '0.25', promptTokens: 100, completionTokens: 20, latencyMs: 1500, firstByteMs: 300, streamed: true }));
    metrics.observeGeneration(generationRecord({ id: 'gen-2', createdAt: '2026-11-25T12:00:01.000Z', cost: '0.5', promptTokens: 10, completionTokens: 5 }));
    const text = await metrics.text();
    expect(sample(text, 'switchyard_attempts_total', { provider: 'sim-fast', model: 'openai/gpt-4o-mini', outcome: 'ok' })).toBe(2);
    expect(sample(text, 'switchyard_attempts_total', { provider: 'sim-cheap', model: 'openai/gpt-4o-mini', outcome: 'retryable' })).toBe(1);
    expect(sample(text, 'switchyard_fallbacks_total', { provider: 'sim-cheap', reason: 'retryable 503' })).toBe(1);
    expect(sample(text, 'switchyard_cost_usd_total', { provider: 'sim-fast' })).toBe(0.75);
    expect(sample(text, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' })).toBe(110);
    expect(sample(text, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'output' })).toBe(25);
    expect(sample(text, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_provider_name: 'sim-cheap', gen_ai_request_model: 'openai/gpt-4o-mini', error_type: '503' })).toBe(1);
    expect(sample(text, 'gen_ai_client_operation_duration_seconds_bucket', { gen_ai_provider_name: 'sim-fast', gen_ai_request_model: 'openai/gpt-4o-mini', error_type: '', le: '0.64' })).toBe(1);
    expect(sample(text, 'gen_ai_client_operation_time_to_first_chunk_seconds_sum', { gen_ai_provider_name: 'sim-fast' })).toBe(0.3);
    expect(sample(text, 'switchyard_generations_total', { status_class: '2xx', fallback: 'true' })).toBe(1);
    expect(sample(text, 'switchyard_generations_total', { status_class: '2xx', fallback: 'false' })).toBe(1);
  });

  it('publishes in-flight requests, request durations and exact totals on every scrape', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false });
    const first = metrics.requestStarted();
    const second = metrics.requestStarted();
    first();
    first();
    metrics.observeRequest('/api/v1/chat/completions', 'POST', 200, 0.03);
    metrics.observeGeneration(generationRecord({ id: 'gen-1', createdAt: '2026-11-25T12:00:00.000Z', cost: '0.1' }));
    let text = await metrics.text();
    expect(sample(text, 'switchyard_http_requests_in_flight')).toBe(1);
    expect(sample(text, 'switchyard_http_request_duration_seconds_bucket', { route: '/api/v1/chat/completions', status: '200', le: '0.02' })).toBe(0);
    expect(sample(text, 'switchyard_http_request_duration_seconds_bucket', { route: '/api/v1/chat/completions', status: '200', le: '0.04' })).toBe(1);
    expect(sample(text, 'switchyard_http_request_duration_seconds_bucket', { route: '/api/v1/chat/completions', status: '200', le: '+Inf' })).toBe(1);
    expect(sample(text, 'switchyard_http_request_duration_seconds_sum', { route: '/api/v1/chat/completions', status: '200' })).toBe(0.03);
    expect(sample(text, 'switchyard_cost_usd_total', { provider: 'sim-fast' })).toBe(0.1);
    second();
    metrics.observeRequest('/api/v1/chat/completions', 'POST', 200, 0.5);
    metrics.observeGeneration(generationRecord({ id: 'gen-2', createdAt: '2026-11-25T12:00:01.000Z', cost: '0.2' }));
    text = await metrics.text();
    expect(sample(text, 'switchyard_http_requests_in_flight')).toBe(0);
    expect(sample(text, 'switchyard_http_requests_total', { route: '/api/v1/chat/completions', method: 'POST', status: '200' })).toBe(2);
    expect(sample(text, 'switchyard_http_request_duration_seconds_count', { route: '/api/v1/chat/completions', status: '200' })).toBe(2);
    // The same float additions as one running total: 0.1 + 0.2.
    expect(sample(text, 'switchyard_cost_usd_total', { provider: 'sim-fast' })).toBe(0.1 + 0.2);
    expect(text.match(/^switchyard_cost_usd_total\{/gm)).toHaveLength(1);
  });

  it('exports budget headroom, circuit states and reload results', async () => {
    const metrics = new GatewayMetrics({ processMetrics: false, circuits: () => [{ endpoint: 'openai/gpt-4o@sim-eu', state: 'open' }] });
    metrics.observeBudgets([
      { id: 'team-daily', scope_key: 'team-daily|team=a', spent: 4, limit: 10, remaining: 6 },
      { id: 'team-daily', scope_key: 'team-daily|team=b', spent: 9, limit: 10, remaining: 1 },
    ]);
    metrics.observeInitialLoad(1_000_000, { policyId: 'default', policyVersion: 'v1', catalogVersion: 'c1' });
    metrics.observeReload('policy', false, 2_000_000, { policyId: 'default', policyVersion: 'v1', catalogVersion: 'c1' });
    const text = await metrics.text();
    expect(sample(text, 'switchyard_budget_headroom_usd', { budget: 'team-daily' })).toBe(1);
    expect(sample(text, 'switchyard_budget_used_ratio', { budget: 'team-daily' })).toBe(0.9);
    expect(sample(text, 'switchyard_circuit_state', { provider: 'sim-eu', model: 'openai/gpt-4o' })).toBe(2);
    expect(sample(text, 'switchyard_policy_reloads_total', { kind: 'policy', result: 'failure' })).toBe(1);
    expect(sample(text, 'switchyard_policy_last_reload_successful')).toBe(0);
    expect(sample(text, 'switchyard_policy_last_reload_success_timestamp_seconds')).toBe(1000);
    expect(sample(text, 'switchyard_policy_info', { policy_version: 'v1' })).toBe(1);
  });

  it('serves the exposition format on /metrics from a private registry', async () => {
    const first = new GatewayMetrics();
    const second = new GatewayMetrics();
    first.observeRequest('/api/v1/chat/completions', 'POST', 200, 0.2);
    const app = express();
    app.get('/metrics', metricsHandler(first));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(sample(text, 'switchyard_http_requests_total', { route: '/api/v1/chat/completions', method: 'POST', status: '200' })).toBe(1);
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(sample(await second.text(), 'switchyard_http_requests_total')).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
