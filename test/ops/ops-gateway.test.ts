/**
 * The ops parts around the real gateway app, in process: traffic through the simulated providers
 * (via the openai client) shows up in the metrics, the endpoint health, the request log, the
 * dashboard summary and the probes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../sidecar/app.ts';
import { systemClock } from '../../sidecar/clock.ts';
import { newestFirst, type DashboardSummary } from '../../sidecar/dashboard/summary.ts';
import { createKeyVerifier, sha256Hex } from '../../sidecar/http/auth.ts';
import type { Logger } from '../../sidecar/logger.ts';
import { Ops, routeTemplate } from '../../sidecar/ops/index.ts';
import { createAdapterRegistry } from '../../sidecar/providers/index.ts';
import { MemoryGenerationStore } from '../../sidecar/store/generation-record.ts';

const POLICIES = fileURLToPath(new URL('../../policies/', import.meta.url));
const KEY = 'sy-test-key';
const lines: Array<Record<string, unknown>> = [];
const logger: Logger = {
  debug: () => {},
  info: (fields, message) => void lines.push({ ...fields, msg: message }),
  warn: (fields, message) => void lines.push({ ...fields, msg: message }),
  error: (fields, message) => void lines.push({ ...fields, msg: message }),
};

let ops: Ops;
let server: Server;
let url: string;
const store = new MemoryGenerationStore();

beforeAll(async () => {
  const started = await Ops.start({
    clock: systemClock,
    logger,
    files: { catalogFiles: [join(POLICIES, 'catalog.yaml'), join(POLICIES, 'simulated.yaml')], policyFile: join(POLICIES, 'default.yaml') },
    processMetrics: false,
  });
  if (!started.ok) throw new Error('ops did not start');
  ops = started.ops;
  const keys = createKeyVerifier([{ sha256: sha256Hex(KEY), name: 'test' }]);
  const observed = ops.observeStore(store);
  const app = createApp({
    routing: ops.reloader,
    adapters: createAdapterRegistry(),
    credentials: () => undefined,
    keys,
    store: observed,
    engine: ops.engine(),
    snapshot: ops.snapshot(() => ({ credentials: ['sim-fast', 'sim-cheap', 'sim-eu'] })),
    endpointHealth: (endpointId) => ops.health.routeHealth(endpointId),
    logger,
  });
  server = createServer(ops.listener(app, { store: observed, keys }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ops.drainer.attach(server);

  const client = new OpenAI({ baseURL: `${url}/api/v1`, apiKey: KEY, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'Say hello' }];
  await Promise.all(
    Array.from({ length: 12 }, async (_, index) => {
      if (index % 3 === 0) {
        const stream = await client.chat.completions.create({ model: 'openai/gpt-4o', messages, stream: true });
        for await (const chunk of stream) void chunk;
      } else {
        await client.chat.completions.create({ model: index % 2 === 0 ? 'openai/gpt-4o-mini' : 'anthropic/claude-sonnet-4', messages });
      }
    }),
  );
  await store.flush();
  // Let response 'close' handlers and the request log settle.
  await new Promise((resolve) => setTimeout(resolve, 100));
}, 60_000);

afterAll(async () => {
  ops.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function getJson<T>(path: string, authorized = true): Promise<{ status: number; body: T }> {
  const reply = await fetch(`${url}${path}`, { headers: authorized ? { authorization: `Bearer ${KEY}` } : {} });
  return { status: reply.status, body: (await reply.json()) as T };
}

describe('ops around the gateway', () => {
  it('maps paths to bounded route templates', () => {
    expect(routeTemplate('/v1/chat/completions')).toBe('/api/v1/chat/completions');
    expect(routeTemplate('/api/v1/models/openai/gpt-4o/endpoints')).toBe('/api/v1/models/:author/:slug/endpoints');
    expect(routeTemplate('/wp-admin/secret-probe')).toBe('other');
  });

  it('records every generation in the metrics and endpoint health', async () => {
    const records = await store.list({ limit: 100 });
    expect(records).toHaveLength(12);
    const text = await ops.metrics.text();
    const served = records.flatMap((record) => record.attempts.filter((attempt) => attempt.outcome === 'ok'));
    const okLines = [...text.matchAll(/^switchyard_attempts_total\{[^}]*outcome="ok"\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    expect(okLines).toBe(served.length);
    expect(text).toMatch(/switchyard_http_requests_total\{route="\/api\/v1\/chat\/completions",method="POST",status="200"\} 12/);
    expect(text).toMatch(/switchyard_budget_headroom_usd\{budget="org-monthly"\} 5000/);
    for (const attempt of served) expect(ops.health.statistics(attempt.endpoint).successes).toBeGreaterThan(0);
    expect(ops.health.snapshotEndpoints()[served[0]!.endpoint]).toMatchObject({ circuit: 'closed', recently_failed: false });
  });

  it('logs one line per generation with its id, and no key', () => {
    const generationLines = lines.filter((line) => line.msg === 'request' && typeof line.generation_id === 'string');
    expect(generationLines).toHaveLength(12);
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });

  it('summarises the generation log for the dashboard, behind the gateway key', async () => {
    expect((await getJson('/api/v1/dashboard/summary', false)).status).toBe(401);
    const { body } = await getJson<DashboardSummary>('/api/v1/dashboard/summary');
    const records = await store.list({ limit: 100 });
    expect(body.totals.requests).toBe(records.length);
    expect(body.recent.map((row) => row.id)).toEqual(newestFirst(records).slice(0, 25).map((record) => record.id));
    expect(body.policy?.policy.id).toBe('default');
  });

  it('reports measured uptime, latency and throughput on the endpoints route', async () => {
    const records = await store.list({ limit: 100 });
    const served = records.flatMap((record) => record.attempts.filter((attempt) => attempt.outcome === 'ok' && attempt.model === 'openai/gpt-4o'));
    expect(served.length).toBeGreaterThan(0);
    const { body } = await getJson<{ data: { endpoints: Array<Record<string, unknown> & { tag: string }> } }>('/api/v1/models/openai/gpt-4o/endpoints');
    for (const endpoint of body.data.endpoints) {
      const id = `openai/gpt-4o@${endpoint.tag}`;
      const count = served.filter((attempt) => attempt.endpoint === id).length;
      const expected = ops.health.routeHealth(id);
      expect(endpoint).toMatchObject({ ...expected });
      // Endpoints that served have time-to-first-token percentiles; the others none.
      if (count > 0) expect(endpoint.latency_last_30m).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
      else expect(endpoint.latency_last_30m).toBeNull();
      expect(endpoint.uptime_last_30m).toBe(count >= 5 ? 100 : null);
    }
  });

  it('answers probes and the policy status', async () => {
    const ready = await getJson<{ status: string; checks: Array<{ name: string; ok: boolean }> }>('/readyz', false);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: [{ name: 'policy', ok: true }] } });
    expect((await getJson('/healthz', false)).status).toBe(200);
    const policy = await getJson<{ policy: { id: string; version: string } }>('/api/v1/policy');
    expect(policy.body.policy).toEqual({ id: 'default', version: ops.reloader.current().policy.version, file: join(POLICIES, 'default.yaml') });
  });
});
