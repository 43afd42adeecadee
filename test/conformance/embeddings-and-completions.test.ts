/**
 * The optional adapter operations behind `POST /embeddings` and the legacy `POST /completions`:
 * OpenAI-compatible, Azure, Gemini (embeddings only) and simulated, against loopback fakes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogProvider, PlanAttempt, ProtocolKind } from '../../engine/index.ts';
import { createAzureOpenAIAdapter } from '../../sidecar/providers/azure-openai/adapter.ts';
import { createGeminiAdapter } from '../../sidecar/providers/gemini/adapter.ts';
import { createOpenAICompatibleAdapter } from '../../sidecar/providers/openai-compatible/adapter.ts';
import { createSimulatedAdapter } from '../../sidecar/providers/simulated/adapter.ts';
import type { EmbeddingCall, ProviderAdapter, TextCompletionCall } from '../../sidecar/providers/spec.ts';
import { geminiFixture, startFakeGemini } from '../fakes/fake-gemini.ts';
import { openAIError, openAIFixture, openAIStream, startFakeOpenAI } from '../fakes/fake-openai.ts';
import type { FakeUpstream } from '../fakes/fake-upstream.ts';
import { collectParts, assembleParts } from './adapter.case.ts';

function provider(protocol: ProtocolKind, baseUrl: string | undefined, options?: Record<string, unknown>): CatalogProvider {
  return {
    id: `${protocol}-test`,
    name: protocol,
    protocol,
    ...(baseUrl === undefined ? {} : { base_url: baseUrl }),
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true },
    region: 'us',
    status: 'active',
    ...(options === undefined ? {} : { options }),
  };
}

function attempt(protocol: ProtocolKind, upstreamModel: string): PlanAttempt {
  return {
    endpoint: `test/embed@${protocol}`,
    provider: `${protocol}-test`,
    provider_name: protocol,
    protocol,
    model: 'test/embed',
    upstream_model: upstreamModel,
    pricing: { prompt: '0', completion: '0' },
    estimated_cost: { min: 0, max: 0 },
    timeouts: { first_byte_ms: 5000, attempt_ms: 5000, total_ms: 5000 },
    retries: { max: 0, backoff_ms: 0, multiplier: 1, max_backoff_ms: 0 },
    drop_parameters: [],
    reasons: [],
  };
}

function embedCall(target: CatalogProvider, upstreamModel: string, request: EmbeddingCall['request']): EmbeddingCall {
  return { request, attempt: attempt(target.protocol, upstreamModel), provider: target, credential: 'secret-key-123456', signal: new AbortController().signal };
}

function completionCall(target: CatalogProvider, request: TextCompletionCall['request']): TextCompletionCall {
  return { request, attempt: attempt(target.protocol, 'instruct-model'), provider: target, credential: 'secret-key-123456', signal: new AbortController().signal };
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('operation missing');
  return value;
}

let openai: FakeUpstream;
let gemini: FakeUpstream;

beforeAll(async () => {
  openai = await startFakeOpenAI({
    script: (call) => {
      if (call.url.endsWith('/embeddings') || call.url.includes('/embeddings?')) {
        return (call.body as { input?: unknown }).input === 'rate me' ? openAIError(429, 'Rate limit reached', { 'retry-after': '1' }, 'rate_limit_exceeded') : { body: openAIFixture('embeddings.json') };
      }
      return (call.body as { stream?: unknown }).stream === true ? openAIStream('completion.chunks.txt') : { body: openAIFixture('completion.json') };
    },
  });
  gemini = await startFakeGemini({ script: [{ body: geminiFixture('batch-embed.json') }] });
});

afterAll(async () => {
  await openai.close();
  await gemini.close();
});

describe('embeddings', () => {
  it('openai-compatible: POST {base}/embeddings with the upstream model', async () => {
    const adapter: ProviderAdapter = createOpenAICompatibleAdapter();
    const result = await required(adapter.embed)(embedCall(provider('openai-compatible', `${openai.url}/v1`), 'text-embedding-3-small', { input: ['first', 'second'], dimensions: 4 }));
    expect(openai.calls.at(-1)?.url).toBe('/v1/embeddings');
    expect(openai.calls.at(-1)?.body).toEqual({ model: 'text-embedding-3-small', input: ['first', 'second'], dimensions: 4 });
    expect(result.data.map((item) => item.index)).toEqual([0, 1]);
    expect(result.data[0]?.embedding).toEqual([0.0023, -0.0092, 0.0154, -0.0028]);
    expect(result.usage).toEqual({ prompt_tokens: 8 });
  });

  it('openai-compatible: a 429 is retryable with its delay', async () => {
    const adapter = createOpenAICompatibleAdapter();
    const error = await required(adapter.embed)(embedCall(provider('openai-compatible', openai.url), 'm', { input: 'rate me' })).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ status: 429, errorClass: 'retryable', retryAfterMs: 1000 });
  });

  it('azure-openai: the deployment URL, no model in the body', async () => {
    const adapter = createAzureOpenAIAdapter();
    await required(adapter.embed)(embedCall(provider('azure-openai', openai.url, { api_version: '2024-10-21' }), 'embed-deployment', { input: 'x' }));
    expect(openai.calls.at(-1)?.url).toBe('/openai/deployments/embed-deployment/embeddings?api-version=2024-10-21');
    expect(openai.calls.at(-1)?.body).toEqual({ input: 'x' });
    expect(openai.calls.at(-1)?.headers['api-key']).toBe('secret-key-123456');
  });

  it('gemini: batchEmbedContents, one request per input, no token count', async () => {
    const adapter = createGeminiAdapter();
    const result = await required(adapter.embed)(embedCall(provider('gemini', `${gemini.url}/v1beta`), 'text-embedding-004', { input: ['a', 'b'], dimensions: 3 }));
    expect(gemini.calls.at(-1)?.url).toBe('/v1beta/models/text-embedding-004:batchEmbedContents');
    expect(gemini.calls.at(-1)?.body).toEqual({
      requests: [
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] }, outputDimensionality: 3 },
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'b' }] }, outputDimensionality: 3 },
      ],
    });
    expect(result.data[1]?.embedding).toEqual([-0.004, 0.017, 0.009]);
    expect(result.usage.prompt_tokens).toBeUndefined();
  });

  it('simulated: deterministic unit vectors of the asked size, base64 on request', async () => {
    const adapter = createSimulatedAdapter();
    const target = provider('simulated', undefined, { latency_ms: 0 });
    const first = await required(adapter.embed)(embedCall(target, 'sim', { input: ['hello', 'world'], dimensions: 16 }));
    const again = await required(adapter.embed)(embedCall(target, 'sim', { input: 'hello', dimensions: 16 }));
    const vector = first.data[0]?.embedding as number[];
    expect(vector).toHaveLength(16);
    expect(Math.hypot(...vector)).toBeCloseTo(1, 6);
    expect(again.data[0]?.embedding).toEqual(vector);
    expect(first.data[1]?.embedding).not.toEqual(vector);
    expect(first.usage.prompt_tokens).toBe(4);
    const encoded = await required(adapter.embed)(embedCall(target, 'sim', { input: 'hello', dimensions: 16, encoding_format: 'base64' }));
    const decoded = Array.from(new Float32Array(Uint8Array.from(Buffer.from(encoded.data[0]?.embedding as string, 'base64')).buffer));
    expect(decoded.map((value) => Number(value.toFixed(5)))).toEqual(vector.map((value) => Number(Math.fround(value).toFixed(5))));
  });
});

describe('legacy completions', () => {
  it('openai-compatible: POST {base}/completions, whole and streamed', async () => {
    const adapter = createOpenAICompatibleAdapter();
    const target = provider('openai-compatible', `${openai.url}/v1`, { preset: 'openai' });
    const result = await required(adapter.complete)(completionCall(target, { prompt: 'Hello from', max_tokens: 4, top_k: 3 } as TextCompletionCall['request']));
    expect(openai.calls.at(-1)?.url).toBe('/v1/completions');
    expect(openai.calls.at(-1)?.body).toMatchObject({ model: 'instruct-model', prompt: 'Hello from', max_tokens: 4, stream: false });
    expect(openai.calls.at(-1)?.body).not.toHaveProperty('top_k');
    expect(result.choices).toEqual([{ index: 0, text: ' the fake upstream.', finish_reason: 'stop', native_finish_reason: 'stop' }]);
    expect(result.usage).toEqual({ prompt_tokens: 5, completion_tokens: 4 });

    const streamed = await required(adapter.completeStream)(completionCall(target, { prompt: 'Hello from', max_tokens: 4 }));
    const parts = await collectParts(streamed.parts);
    expect(openai.calls.at(-1)?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    const assembled = assembleParts(parts);
    expect(assembled.text).toBe(' the fake upstream.');
    expect(assembled.finish).toMatchObject({ finish_reason: 'length', usage: { prompt_tokens: 5, completion_tokens: 4 }, upstream_id: 'cmpl-fake-2' });
  });

  it('simulated: one choice per prompt, max_tokens honoured, streamed the same', async () => {
    const adapter = createSimulatedAdapter();
    const target = provider('simulated', undefined, { latency_ms: 0, tokens_per_second: 0, response_tokens: 10 });
    const result = await required(adapter.complete)(completionCall(target, { prompt: ['one', 'two'], max_tokens: 3 }));
    expect(result.choices.map((choice) => [choice.index, choice.finish_reason, choice.text.trim().split(/\s+/).length])).toEqual([
      [0, 'length', 3],
      [1, 'length', 3],
    ]);
    expect(result.usage.completion_tokens).toBe(6);
    const streamed = await required(adapter.completeStream)(completionCall(target, { prompt: 'one', max_tokens: 3 }));
    const assembled = assembleParts(await collectParts(streamed.parts));
    expect(assembled.text).toBe(result.choices[0]?.text);
    expect(assembled.finish?.finish_reason).toBe('length');
  });
});
