/**
 * `POST /api/v1/embeddings` and the legacy `POST /api/v1/completions` end to end: the official
 * `openai` client against createApp (real engine, real adapters) in front of the fake OpenAI
 * upstream and a simulated provider. Shapes, usage, the generation record, fallback from a 500,
 * adapters without the operation skipped, route/model kind separation, 404 and 400.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, formatDiagnostic, type Catalog, type Result } from '../../engine/index.ts';
import { createApp } from '../../sidecar/app.ts';
import { createKeyVerifier } from '../../sidecar/http/auth.ts';
import { createAdapterRegistry } from '../../sidecar/providers/index.ts';
import { startFakeAnthropic } from '../fakes/fake-anthropic.ts';
import { openAIError, openAIFixture, openAIStream, startFakeOpenAI, type FakeCall, type FakeStep, type FakeUpstream } from '../fakes/fake-openai.ts';

const DATA_POLICY = { trains_on_prompts: false, retention_days: 0, zdr: true };
const FIXTURE_TEXT = ' the fake upstream.';

/** The fake OpenAI: `*-broken` upstream models answer 500; otherwise the recorded fixtures. */
function openAIStep(call: FakeCall): FakeStep {
  const body = (call.body ?? {}) as { model?: string; stream?: boolean };
  if (body.model?.endsWith('-broken') === true) return openAIError(500, 'The server had an error while processing your request.', {}, null, 'server_error');
  if (call.url.includes('/embeddings')) return { body: openAIFixture('embeddings.json') };
  return body.stream === true ? openAIStream('completion.chunks.txt') : { body: openAIFixture('completion.json') };
}

function catalogSource(openaiUrl: string, anthropicUrl: string): Catalog {
  const endpoint = (provider: string, upstream: string, price: string) => ({
    provider,
    upstream_model: upstream,
    pricing: { prompt: price, completion: price },
    supported_parameters: ['max_tokens', 'temperature', 'stop', 'dimensions', 'encoding_format', 'user'],
  });
  const model = (id: string, output: 'text' | 'embeddings', endpoints: ReturnType<typeof endpoint>[]) => ({
    id,
    name: id,
    context_length: 8_192,
    input_modalities: ['text'],
    output_modalities: [output],
    endpoints,
  });
  return {
    providers: [
      { id: 'openai', name: 'OpenAI', protocol: 'openai-compatible', base_url: `${openaiUrl}/v1`, data_policy: DATA_POLICY, region: 'us', status: 'active' },
      { id: 'anthropic', name: 'Anthropic', protocol: 'anthropic', base_url: `${anthropicUrl}/v1`, data_policy: DATA_POLICY, region: 'us', status: 'active' },
      { id: 'simulated', name: 'Simulated', protocol: 'simulated', data_policy: DATA_POLICY, region: 'local', status: 'active', options: { latency_ms: 0, tokens_per_second: 0, embedding_dimensions: 8 } },
    ],
    models: [
      model('embed/openai', 'embeddings', [endpoint('openai', 'text-embedding-3-small', '0.00000002')]),
      // Sorted by price: the cheaper endpoint is tried first.
      model('embed/fallback', 'embeddings', [endpoint('openai', 'embed-broken', '0.00000001'), endpoint('simulated', 'sim-embed', '0.00000002')]),
      model('embed/anthropic-first', 'embeddings', [endpoint('anthropic', 'claude-embed', '0.00000001'), endpoint('simulated', 'sim-embed', '0.00000002')]),
      model('embed/anthropic-only', 'embeddings', [endpoint('anthropic', 'claude-embed', '0.00000001')]),
      model('text/openai', 'text', [endpoint('openai', 'gpt-3.5-turbo-instruct', '0.000001')]),
      model('text/fallback', 'text', [endpoint('openai', 'instruct-broken', '0.000001'), endpoint('simulated', 'sim-instruct', '0.000002')]),
    ],
  };
}

function compiled<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`fixture does not compile:\n${result.diagnostics.map(formatDiagnostic).join('\n')}`);
  return result.value;
}

let openaiFake: FakeUpstream;
let anthropicFake: FakeUpstream;
let server: Server;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  openaiFake = await startFakeOpenAI({ script: openAIStep });
  anthropicFake = await startFakeAnthropic({ script: [{ status: 500, body: {} }] });
  const catalog = compiled(compileCatalog([{ text: JSON.stringify(catalogSource(openaiFake.url, anthropicFake.url)), file: 'routes-catalog.yaml' }]));
  const policyDocument = {
    version: 1,
    id: 'routes-e2e',
    defaults: {
      attempts: 5,
      sort: 'price',
      retries: { max: 0, backoff_ms: 10, multiplier: 2, max_backoff_ms: 100 },
      timeouts: { first_byte_ms: 5_000, attempt_ms: 10_000, total_ms: 20_000 },
    },
  };
  const policy = compiled(compilePolicy(JSON.stringify(policyDocument), 'routes-e2e.yaml', catalog));
  const app = createApp({
    routing: { current: () => ({ policy, catalog }) },
    adapters: createAdapterRegistry(),
    credentials: (provider) => `e2e-key-${provider}`,
    keys: createKeyVerifier([]),
  });
  server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new OpenAI({ baseURL: `${url}/api/v1`, apiKey: 'unused', maxRetries: 0, timeout: 15_000 });
});

afterAll(async () => {
  // beforeAll may have failed before the server existed.
  if (server === undefined) return;
  await new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  await openaiFake.close();
  await anthropicFake.close();
});

async function record(id: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/api/v1/generation?id=${encodeURIComponent(id)}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { data: Record<string, unknown> }).data;
}

async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-switchyard-attempts': 'true' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function statusOf(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return (error as InstanceType<typeof OpenAI.APIError>).status;
  }
}

describe('POST /api/v1/embeddings', () => {
  it('returns the OpenAI embedding list with model, provider, usage, a generation id and a record', async () => {
    const { data: result, response } = await client.embeddings.create({ model: 'embed/openai', input: ['first', 'second'], encoding_format: 'float' }).withResponse();
    expect(result.object).toBe('list');
    expect(result.model).toBe('embed/openai');
    expect((result as unknown as { provider: string }).provider).toBe('OpenAI');
    expect(result.data.map((entry) => [entry.object, entry.index])).toEqual([['embedding', 0], ['embedding', 1]]);
    expect(result.data[0]?.embedding).toEqual([0.0023, -0.0092, 0.0154, -0.0028]);
    const usage = result.usage as unknown as { prompt_tokens: number; total_tokens: number; cost: number };
    expect(usage.prompt_tokens).toBe(8);
    expect(usage.total_tokens).toBe(8);
    expect(usage.cost).toBeCloseTo(8 * 0.00000002, 12);
    // The upstream got the provider model name and the input, not the gateway's routing fields.
    const upstream = openaiFake.calls.at(-1)?.body as Record<string, unknown>;
    expect(upstream.model).toBe('text-embedding-3-small');
    expect(upstream.input).toEqual(['first', 'second']);

    const id = response.headers.get('x-generation-id');
    expect(id).toMatch(/^gen-/);
    const stored = await record(id ?? '');
    expect(stored.api_type).toBe('embeddings');
    expect(stored.model).toBe('embed/openai');
    expect(stored.provider).toBe('openai');
    expect(stored.status).toBe(200);
    expect(stored.usage).toEqual({ prompt_tokens: 8 });
  });

  it('decodes base64 vectors with the client default encoding (simulated provider)', async () => {
    const result = await client.embeddings.create({ model: 'embed/fallback', input: 'hello there', dimensions: 8 });
    expect(result.data).toHaveLength(1);
    expect(result.data[0]?.embedding).toHaveLength(8);
    expect(result.data[0]?.embedding.every((value) => Number.isFinite(value))).toBe(true);
  });

  it('falls back from a 500 to the second provider before answering', async () => {
    const answer = await post('/api/v1/embeddings', { model: 'embed/fallback', input: 'fall back please', encoding_format: 'float' });
    expect(answer.status).toBe(200);
    expect(answer.body.provider).toBe('Simulated');
    const attempts = (answer.body.switchyard as { attempts: Array<{ provider: string; status: number | null; outcome: string }> }).attempts;
    expect(attempts.map((entry) => [entry.provider, entry.status, entry.outcome])).toEqual([
      ['openai', 500, 'retryable'],
      ['simulated', 200, 'ok'],
    ]);
  });

  it('skips endpoints whose adapter has no embed, with the reason in the attempt log', async () => {
    const callsBefore = anthropicFake.calls.length;
    const answer = await post('/v1/embeddings', { model: 'embed/anthropic-first', input: 'skip the first' });
    expect(answer.status).toBe(200);
    expect(answer.body.provider).toBe('Simulated');
    const attempts = (answer.body.switchyard as { attempts: Array<{ provider: string; outcome: string; error?: string }> }).attempts;
    expect(attempts[0]).toMatchObject({ provider: 'anthropic', outcome: 'skipped' });
    expect(attempts[0]?.error).toContain('does not implement embeddings');
    expect(anthropicFake.calls.length).toBe(callsBefore);
  });

  it('answers 503 naming the reason when no planned endpoint implements embed', async () => {
    const answer = await post('/api/v1/embeddings', { model: 'embed/anthropic-only', input: 'nobody can' });
    expect(answer.status).toBe(503);
    expect((answer.body.error as { message: string }).message).toContain('embed/anthropic-only@anthropic: the anthropic adapter does not implement embeddings');
  });

  it('answers 404 for an unknown model and 400 for a bad body', async () => {
    expect(await statusOf(client.embeddings.create({ model: 'nobody/nothing', input: 'x' }))).toBe(404);
    const bad = await post('/api/v1/embeddings', { model: 'embed/openai', input: 42 });
    expect(bad.status).toBe(400);
    expect((bad.body.error as { message: string }).message).toContain('input');
    const badFormat = await post('/api/v1/embeddings', { model: 'embed/openai', input: 'x', encoding_format: 'hex' });
    expect(badFormat.status).toBe(400);
  });

  it('keeps chat and embeddings models apart in both directions', async () => {
    const chatModel = await post('/api/v1/embeddings', { model: 'text/openai', input: 'x' });
    expect(chatModel.status).toBe(400);
    expect((chatModel.body.error as { message: string }).message).toContain('/chat/completions');
    const embeddingModel = await post('/api/v1/chat/completions', { model: 'embed/openai', messages: [{ role: 'user', content: 'hi' }] });
    expect(embeddingModel.status).toBe(400);
    expect((embeddingModel.body.error as { message: string }).message).toContain('/embeddings');
  });
});

describe('POST /api/v1/completions (legacy)', () => {
  it('returns a text_completion with choices[].text, usage and a record', async () => {
    const { data: result, response } = await client.completions.create({ model: 'text/openai', prompt: 'Complete me:', max_tokens: 16 }).withResponse();
    expect(result.object).toBe('text_completion');
    expect(result.model).toBe('text/openai');
    expect(result.choices).toHaveLength(1);
    expect(result.choices[0]?.text).toBe(FIXTURE_TEXT);
    expect(result.choices[0]?.finish_reason).toBe('stop');
    expect(result.usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    expect((result.usage as unknown as { cost: number }).cost).toBeCloseTo(9 * 0.000001, 12);
    const upstream = openaiFake.calls.at(-1)?.body as Record<string, unknown>;
    expect(upstream).toMatchObject({ model: 'gpt-3.5-turbo-instruct', prompt: 'Complete me:', max_tokens: 16 });
    const stored = await record(response.headers.get('x-generation-id') ?? '');
    expect(stored).toMatchObject({ api_type: 'completions', model: 'text/openai', streamed: false, finish_reason: 'stop' });
  });

  it('streams text chunks, then a usage chunk, then [DONE]', async () => {
    const stream = await client.completions.create({ model: 'text/openai', prompt: 'Complete me:', stream: true, stream_options: { include_usage: true } });
    let text = '';
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      expect(chunk.object).toBe('text_completion');
      expect(chunk.model).toBe('text/openai');
      text += chunk.choices[0]?.text ?? '';
      const finish = chunk.choices[0]?.finish_reason;
      if (finish) finishes.push(finish);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(FIXTURE_TEXT);
    expect(finishes).toEqual(['length']);
    expect(usage).toMatchObject({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    expect(chunks).toBeGreaterThanOrEqual(4);
  });

  it('falls back from a 500 to the simulated provider, streamed and not', async () => {
    const whole = await client.completions.create({ model: 'text/fallback', prompt: 'Fall back:' });
    expect((whole as unknown as { provider: string }).provider).toBe('Simulated');
    expect(whole.choices[0]?.text.length).toBeGreaterThan(0);
    const stream = await client.completions.create({ model: 'text/fallback', prompt: 'Fall back:', stream: true });
    let text = '';
    let provider: string | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      provider = (chunk as unknown as { provider: string }).provider;
    }
    expect(provider).toBe('Simulated');
    expect(text).toBe(whole.choices[0]?.text);
  });

  it('answers 404 for an unknown model and 400 for a bad body', async () => {
    expect(await statusOf(client.completions.create({ model: 'nobody/nothing', prompt: 'x' }))).toBe(404);
    const bad = await post('/api/v1/completions', { model: 'text/openai', prompt: 5 });
    expect(bad.status).toBe(400);
    expect((bad.body.error as { message: string }).message).toContain('prompt');
    const embeddingModel = await post('/api/v1/completions', { model: 'embed/openai', prompt: 'x' });
    expect(embeddingModel.status).toBe(400);
  });
});
