/** GET /models, GET /models/:author/:slug/endpoints, POST /plan, GET /generation, /v1 aliases. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAIFixture, startFakeOpenAI, type FakeUpstream } from '../fakes/fake-openai.ts';
import { startGateway, type GatewayHarness } from './support/gateway-harness.ts';

let alpha: FakeUpstream;
let beta: FakeUpstream;
let gateway: GatewayHarness;

beforeAll(async () => {
  alpha = await startFakeOpenAI({ script: [{ body: openAIFixture('text.json') }] });
  beta = await startFakeOpenAI({ script: [{ body: openAIFixture('text.json') }] });
  gateway = await startGateway({ alpha, beta });
});

afterAll(async () => {
  await gateway.close();
  await alpha.close();
  await beta.close();
});

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await fetch(`${gateway.url}${path}`);
  return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
}

describe('GET /models', () => {
  it('lists models in OpenRouter shape, priced from the cheapest active endpoint', async () => {
    const { status, body } = await getJson('/api/v1/models');
    expect(status).toBe(200);
    const models = body.data as Array<Record<string, unknown>>;
    expect(models.map((model) => model.id)).toEqual(['test/model', 'test/backup']);
    expect(models[0]).toEqual({
      id: 'test/model',
      canonical_slug: 'test/model',
      name: 'Test Model',
      created: 1_700_000_000,
      description: 'A model for tests',
      context_length: 8_000,
      architecture: { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'GPT', instruct_type: null },
      pricing: { prompt: '0.000001', completion: '0.000002', request: '0', image: '0' },
      top_provider: { context_length: 8_000, max_completion_tokens: null, is_moderated: false },
      per_request_limits: null,
      supported_parameters: ['max_tokens', 'stop', 'temperature', 'tool_choice', 'tools'],
      default_parameters: null,
    });
  });

  it('filters by supported_parameters (all must be supported)', async () => {
    const both = await getJson('/api/v1/models?supported_parameters=tools,temperature');
    expect((both.body.data as Array<{ id: string }>).map((model) => model.id)).toEqual(['test/model', 'test/backup']);
    const none = await getJson('/v1/models?supported_parameters=tools,logit_bias');
    expect(none.body.data).toEqual([]);
  });

  it('as seen by the openai client', async () => {
    const ids: string[] = [];
    for await (const model of gateway.client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['test/model', 'test/backup']);
  });
});

describe('GET /models/:author/:slug/endpoints', () => {
  it('lists every endpoint with its provider, prices and null health', async () => {
    const { status, body } = await getJson('/api/v1/models/test/model/endpoints');
    expect(status).toBe(200);
    const data = body.data as { id: string; endpoints: Array<Record<string, unknown>> };
    expect(data.id).toBe('test/model');
    expect(data.endpoints.map((endpoint) => [endpoint.tag, endpoint.provider_name, (endpoint.pricing as { prompt: string }).prompt])).toEqual([
      ['alpha', 'Alpha', '0.000001'],
      ['beta', 'Beta', '0.000003'],
    ]);
    expect(data.endpoints[1]).toMatchObject({ name: 'Beta | test/model', context_length: 8_000, supported_parameters: ['max_tokens'], uptime_last_30m: null, latency_last_30m: null });
  });

  it('shows live health from the snapshot the engine routes with', async () => {
    const measured = await startGateway({
      alpha,
      beta,
      snapshot: () => ({ endpoints: { 'test/model@beta': { uptime: 97.5, latency_ms: { p50: 310, p90: 900 }, throughput: { p50: 42 } } } }),
    });
    try {
      const reply = await fetch(`${measured.url}/api/v1/models/test/model/endpoints`);
      const data = ((await reply.json()) as { data: { endpoints: Array<Record<string, unknown>> } }).data;
      expect(data.endpoints[0]).toMatchObject({ tag: 'alpha', uptime_last_30m: null, latency_last_30m: null });
      expect(data.endpoints[1]).toMatchObject({ tag: 'beta', uptime_last_30m: 97.5, latency_last_30m: { p50: 310, p90: 900 }, throughput_last_30m: { p50: 42 } });
    } finally {
      await measured.close();
    }
  });

  it('404s an unknown model', async () => {
    const { status, body } = await getJson('/api/v1/models/nobody/nothing/endpoints');
    expect(status).toBe(404);
    expect(body.error).toMatchObject({ code: 404, metadata: { error_type: 'model_not_found' } });
  });
});

describe('POST /plan', () => {
  it('returns the plan without calling any provider', async () => {
    const before = alpha.calls.length + beta.calls.length;
    const reply = await fetch(`${gateway.url}/api/v1/plan`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test/model', messages: [{ role: 'user', content: 'hi' }], temperature: 0.5 }),
    });
    expect(reply.status).toBe(200);
    const plan = (await reply.json()) as { plan_version: string; attempts: Array<{ endpoint: string; drop_parameters: string[] }> };
    expect(plan.plan_version).toBe('v1');
    expect(plan.attempts.map((attempt) => attempt.endpoint)).toEqual(['test/model@alpha', 'test/model@beta']);
    expect(plan.attempts[1]?.drop_parameters).toEqual(['temperature']);
    expect(alpha.calls.length + beta.calls.length).toBe(before);
  });

  it('returns the no-route error with the same envelope as chat', async () => {
    const reply = await fetch(`${gateway.url}/v1/plan`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nobody/nothing', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(reply.status).toBe(404);
    expect(((await reply.json()) as { error: unknown }).error).toMatchObject({ code: 404, metadata: { error_type: 'model_not_found', excluded: [] } });
  });
});

describe('GET /generation', () => {
  it('404s an unknown id and 400s a missing one', async () => {
    expect((await getJson('/api/v1/generation?id=gen-none')).status).toBe(404);
    expect((await getJson('/api/v1/generation')).status).toBe(400);
  });

  it('serves the record of a request made through the /v1 alias', async () => {
    const reply = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-title': 'Tests' },
      body: JSON.stringify({ model: 'test/model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const id = reply.headers.get('x-generation-id');
    const { body } = await getJson(`/api/v1/generation?id=${id ?? ''}`);
    expect(body.data).toMatchObject({ id, x_title: 'Tests', api_type: 'completions', requested_models: ['test/model'], policy_id: 'test-policy' });
  });
});

it('serves chat completions through the Express route too (a path with a query string)', async () => {
  const reply = await fetch(`${gateway.url}/api/v1/chat/completions?source=test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'test/model', messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(reply.status).toBe(200);
  expect(reply.headers.get('x-generation-id')).toMatch(/^gen-/);
  expect(((await reply.json()) as { model: string }).model).toBe('test/model');
  const malformed = await fetch(`${gateway.url}/api/v1/chat/completions?source=test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  expect(malformed.status).toBe(400);
});

it('answers unknown routes with the error envelope', async () => {
  const { status, body } = await getJson('/api/v1/nothing-here');
  expect(status).toBe(404);
  expect(body.error).toMatchObject({ code: 404, metadata: { error_type: 'not_found' } });
});
