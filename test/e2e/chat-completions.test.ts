/**
 * End to end through the official `openai` client: app on loopback, fake OpenAI upstreams behind it.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { openAIError, openAIFixture, openAIStream, startFakeOpenAI, type FakeUpstream } from '../fakes/fake-openai.ts';
import { startGateway, type GatewayHarness, type HarnessOptions } from './support/gateway-harness.ts';

const messages = [{ role: 'user' as const, content: 'Say hello' }];

/** The text a fixture stream carries, computed from the fixture itself. */
function fixtureText(name: string): string {
  const step = openAIStream(name);
  let text = '';
  for (const line of step.stream) {
    if (!line.startsWith('{')) continue;
    const chunk = JSON.parse(line) as { choices: Array<{ delta?: { content?: string | null } }> };
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  return text;
}

/** A POST with a chosen Host header (fetch does not let one set it). */
function postWithHost(host: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const target = new URL(`${gateway.url}/api/v1/chat/completions`);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { host, 'content-type': 'application/json', ...headers } },
      (incoming) => {
        let text = '';
        incoming.setEncoding('utf8');
        incoming.on('data', (piece: string) => (text += piece));
        incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, body: text }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

let alpha: FakeUpstream;
let beta: FakeUpstream;
let gateway: GatewayHarness;

async function gatewayWith(options: Omit<HarnessOptions, 'alpha' | 'beta'> = {}): Promise<GatewayHarness> {
  gateway = await startGateway({ alpha, beta, ...options });
  return gateway;
}

beforeEach(async () => {
  alpha = await startFakeOpenAI({ script: [{ body: openAIFixture('text.json') }] });
  beta = await startFakeOpenAI({ script: [{ body: openAIFixture('text.json') }] });
});

afterEach(async () => {
  await gateway?.close();
  await alpha.close();
  await beta.close();
});

describe('non-streaming', () => {
  it('answers in OpenRouter shape and records the generation', async () => {
    await gatewayWith();
    const { data, response } = await gateway.client.chat.completions.create({ model: 'test/model', messages }).withResponse();
    expect(data.id).toMatch(/^gen-\d+-[A-Za-z0-9]{20}$/);
    expect(response.headers.get('x-generation-id')).toBe(data.id);
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe('test/model');
    expect((data as unknown as { provider: string }).provider).toBe('Alpha');
    expect(data.choices[0]?.message.content).toBe('Hello from the fake upstream.');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } });
    // Cost at alpha's prices (1e-6 prompt, 2e-6 completion per token).
    expect((data.usage as unknown as { cost: number }).cost).toBeCloseTo(11 * 1e-6 + 7 * 2e-6, 12);
    // The upstream saw its own model name and none of the gateway-only fields.
    const upstreamBody = alpha.calls[0]?.body as Record<string, unknown>;
    expect(upstreamBody.model).toBe('alpha-model');
    expect(upstreamBody).not.toHaveProperty('provider');
    expect(beta.calls).toHaveLength(0);

    const record = (await fetch(`${gateway.url}/api/v1/generation?id=${data.id}`).then((reply) => reply.json())) as { data: { attempts: unknown[] } };
    expect(record.data).toMatchObject({ id: data.id, model: 'test/model', provider: 'alpha', provider_name: 'Alpha', streamed: false, status: 200, finish_reason: 'stop' });
    expect(record.data).toMatchObject({ total_cost: '0.000025' });
    expect(record.data.attempts).toHaveLength(1);
    expect(record.data.attempts[0]).toMatchObject({ endpoint: 'test/model@alpha', outcome: 'ok', status: 200 });
  });

  it('drops parameters the endpoint does not support and forwards the rest untouched', async () => {
    await gatewayWith();
    await gateway.client.chat.completions.create({
      model: 'test/model',
      messages,
      temperature: 0.3,
      max_tokens: 50,
      provider: { order: ['beta'] },
      metadata: { team: 'search' },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const upstreamBody = beta.calls[0]?.body as Record<string, unknown>;
    expect(upstreamBody).not.toHaveProperty('temperature');
    expect(upstreamBody).not.toHaveProperty('metadata');
    expect(upstreamBody.max_tokens ?? upstreamBody.max_completion_tokens).toBe(50);
    expect(upstreamBody).not.toHaveProperty('top_p');
  });
});

describe('streaming', () => {
  it('forwards text chunks, role first, then a usage chunk with no choices', async () => {
    alpha.setScript([openAIStream('text.chunks.txt')]);
    await gatewayWith();
    const stream = await gateway.client.chat.completions.create({ model: 'test/model', messages, stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(fixtureText('text.chunks.txt'));
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks.every((chunk) => chunk.model === 'test/model')).toBe(true);
    const finish = chunks.find((chunk) => chunk.choices[0]?.finish_reason);
    expect(finish?.choices[0]?.finish_reason).toBe('stop');
    const last = chunks[chunks.length - 1];
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    expect((last?.usage as unknown as { cost: number }).cost).toBeCloseTo(11 * 1e-6 + 7 * 2e-6, 12);
  });

  it('streams tool calls: id and name first, then argument fragments', async () => {
    alpha.setScript([openAIStream('tool-call.chunks.txt')]);
    await gatewayWith();
    const stream = await gateway.client.chat.completions.create({
      model: 'test/model',
      messages,
      stream: true,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const calls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finishReason: string | null | undefined;
    for await (const chunk of stream) {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) calls.push(call);
      finishReason = chunk.choices[0]?.finish_reason ?? finishReason;
    }
    expect(calls[0]).toMatchObject({ index: 0, id: 'call_weather1', type: 'function', function: { name: 'get_weather' } });
    expect(calls.slice(1).every((call) => call.id === undefined && call.index === 0)).toBe(true);
    expect(JSON.parse(calls.map((call) => call.function?.arguments ?? '').join(''))).toEqual({ city: 'Oslo' });
    expect(finishReason).toBe('tool_calls');
  });

  it('sends keep-alive comments while waiting, and the client is unaffected', async () => {
    alpha.setScript([openAIStream('text.chunks.txt', { delayMs: 400 })]);
    await gatewayWith({ keepAliveIntervalMs: 50 });
    const raw = await fetch(`${gateway.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test/model', messages, stream: true }),
    }).then((reply) => reply.text());
    expect(raw.startsWith(': SWITCHYARD PROCESSING\n\n')).toBe(true);
    expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true);

    const stream = await gateway.client.chat.completions.create({ model: 'test/model', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(fixtureText('text.chunks.txt'));
  });
  it('names the attempts that failed before the keep-alive comments began, in the header', async () => {
    alpha.setScript([openAIError(500, 'The server had an error', {}, null, 'server_error')]);
    beta.setScript([openAIStream('text.chunks.txt', { delayMs: 300 })]);
    await gatewayWith({ keepAliveIntervalMs: 50 });
    const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-switchyard-attempts': 'true' },
      body: JSON.stringify({ model: 'test/model', messages, stream: true }),
    });
    expect(reply.headers.get('x-switchyard-attempts')).toMatch(/^1:alpha:500:retryable:\d+ms$/);
    const raw = await reply.text();
    expect(raw.startsWith(': SWITCHYARD PROCESSING')).toBe(true);
    expect(raw).toContain('"provider":"Beta"');
  });

  it('reports a total failure in-band once keep-alive comments committed the 200', async () => {
    const failure = openAIError(500, 'The server had an error', {}, null, 'server_error');
    alpha.setScript([{ ...failure, delayMs: 250 }]);
    beta.setScript([{ ...failure, delayMs: 250 }]);
    await gatewayWith({ keepAliveIntervalMs: 50 });
    const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-switchyard-attempts': 'true' },
      body: JSON.stringify({ model: 'test/model', messages, stream: true }),
    });
    expect(reply.status).toBe(200);
    const raw = await reply.text();
    expect(raw.startsWith(': SWITCHYARD PROCESSING')).toBe(true);
    const events = raw.split('\n\n').filter((event) => event.startsWith('data: '));
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const errorChunk = JSON.parse((events[0] ?? '').slice(6));
    expect(errorChunk.error).toMatchObject({ code: 502, metadata: { error_type: 'provider_error', provider_name: 'Beta' } });
    expect(errorChunk.choices[0].finish_reason).toBe('error');
    expect(alpha.calls).toHaveLength(1);
    expect(beta.calls).toHaveLength(1);
  });
});

describe('fallback before the first byte', () => {
  const failures = {
    '429': openAIError(429, 'Rate limit reached', { 'retry-after': '0' }, 'rate_limit_exceeded', 'requests'),
    '500': openAIError(500, 'The server had an error', {}, null, 'server_error'),
    'connection reset': { reset: true as const },
    timeout: { hang: true as const },
  };

  for (const [name, step] of Object.entries(failures)) {
    for (const stream of [false, true]) {
      it(`falls back to the next provider on ${name} (${stream ? 'streaming' : 'non-streaming'})`, async () => {
        alpha.setScript([step]);
        beta.setScript([stream ? openAIStream('text.chunks.txt') : { body: openAIFixture('text.json') }]);
        await gatewayWith({ timeouts: { first_byte_ms: 800, attempt_ms: 1_500 } });
        const request = gateway.client.chat.completions.create(
          { model: 'test/model', messages, stream },
          { headers: { 'X-Switchyard-Attempts': 'true' } },
        );
        const { data, response } = await request.withResponse();
        let text = '';
        let provider = '';
        let attemptLog: Array<{ provider: string; outcome: string }> = [];
        if (stream) {
          for await (const chunk of data as AsyncIterable<OpenAI.ChatCompletionChunk & { provider: string; switchyard?: { attempts: typeof attemptLog } }>) {
            text += chunk.choices[0]?.delta.content ?? '';
            provider = chunk.provider;
            if (chunk.switchyard) attemptLog = chunk.switchyard.attempts;
          }
        } else {
          const completion = data as OpenAI.ChatCompletion & { provider: string; switchyard: { attempts: typeof attemptLog } };
          text = completion.choices[0]?.message.content ?? '';
          provider = completion.provider;
          attemptLog = completion.switchyard.attempts;
        }
        expect(text).toBe('Hello from the fake upstream.');
        expect(provider).toBe('Beta');
        expect(alpha.calls.length).toBeGreaterThanOrEqual(1);
        expect(beta.calls).toHaveLength(1);
        expect(attemptLog.map((entry) => entry.provider)).toEqual(['alpha', 'beta']);
        expect(attemptLog[0]?.outcome).not.toBe('ok');
        expect(attemptLog[1]?.outcome).toBe('ok');
        expect(response.headers.get('x-switchyard-attempts')).toMatch(/^1:alpha:/);
      });
    }
  }

  it('retries the same endpoint first when the plan allows retries', async () => {
    alpha.setScript([openAIError(503, 'overloaded', {}, null, 'server_error'), { body: openAIFixture('text.json') }]);
    await gatewayWith({ retries: { max: 1, backoff_ms: 5 } });
    const completion = await gateway.client.chat.completions.create({ model: 'test/model', messages });
    expect((completion as unknown as { provider: string }).provider).toBe('Alpha');
    expect(alpha.calls).toHaveLength(2);
    expect(beta.calls).toHaveLength(0);
  });

  it('respects allow_fallbacks: false and returns the provider error', async () => {
    alpha.setScript([openAIError(500, 'The server had an error', {}, null, 'server_error')]);
    await gatewayWith();
    const failure = await gateway.client.chat.completions
      .create({ model: 'test/model', messages, provider: { allow_fallbacks: false } } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    const apiError = failure as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(502);
    expect(apiError.error).toMatchObject({ code: 502, metadata: { error_type: 'provider_error', provider_name: 'Alpha' } });
    expect(beta.calls).toHaveLength(0);
  });

  it('falls back across `models` and reports the model that served', async () => {
    alpha.setScript([openAIError(500, 'down', {}, null, 'server_error')]);
    beta.setScript((call) => ((call.body as { model: string }).model === 'backup-model' ? { body: openAIFixture('text.json') } : openAIError(503, 'down', {}, null, 'server_error')));
    await gatewayWith();
    const completion = await gateway.client.chat.completions.create({ model: 'test/model', messages, models: ['test/backup'] } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(completion.model).toBe('test/backup');
    expect((completion as unknown as { provider: string }).provider).toBe('Beta');
    expect(beta.calls.map((call) => (call.body as { model: string }).model)).toEqual(['beta-model', 'backup-model']);
  });

  it('returns 429 with Retry-After when every provider is rate limited', async () => {
    const limited = openAIError(429, 'Rate limit reached', { 'retry-after': '7' }, 'rate_limit_exceeded', 'requests');
    alpha.setScript([limited]);
    beta.setScript([limited]);
    await gatewayWith();
    const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test/model', messages }),
    });
    expect(reply.status).toBe(429);
    expect(reply.headers.get('retry-after')).toBe('7');
    const body = (await reply.json()) as { error: unknown };
    expect(body.error).toMatchObject({ code: 429, metadata: { error_type: 'rate_limit_exceeded', provider_name: 'Beta' } });
  });
});

describe('after the first byte', () => {
  it('ends the stream with an error chunk and does not fall back', async () => {
    alpha.setScript([openAIStream('long.chunks.txt', { cutAfter: 3 })]);
    await gatewayWith();
    const stream = await gateway.client.chat.completions.create({ model: 'test/model', messages, stream: true });
    let text = '';
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((error: unknown) => error);
    expect(text).toBe('Once upon a');
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(beta.calls).toHaveLength(0);

    alpha.setScript([openAIStream('long.chunks.txt', { cutAfter: 3 })]);
    const raw = await fetch(`${gateway.url}/api/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test/model', messages, stream: true }),
    }).then((reply) => reply.text());
    const events = raw.split('\n\n').filter((event) => event.startsWith('data: '));
    expect(events[events.length - 1]).toBe('data: [DONE]');
    const errorChunk = JSON.parse((events[events.length - 2] ?? '').slice(6));
    expect(errorChunk.error.metadata.error_type).toBeDefined();
    expect(errorChunk.choices).toEqual([{ index: 0, delta: { content: '' }, finish_reason: 'error', native_finish_reason: null, logprobs: null }]);
    expect(beta.calls).toHaveLength(0);
  });

  it('aborts the upstream when the client goes away', async () => {
    alpha.setScript([openAIStream('long.chunks.txt', { chunkDelayMs: 200 })]);
    await gatewayWith();
    const controller = new AbortController();
    const stream = await gateway.client.chat.completions.create({ model: 'test/model', messages, stream: true }, { signal: controller.signal });
    let id = '';
    await (async () => {
      for await (const chunk of stream) {
        id = chunk.id;
        controller.abort();
      }
    })().catch(() => undefined);
    const call = alpha.calls[0];
    await call?.ended;
    expect(call?.closedEarly).toBe(true);
    // The record is written when the response ends; give the close event a moment to propagate.
    let record: { cancelled: boolean } | null = null;
    for (let tries = 0; tries < 50 && !record; tries++) {
      record = (await gateway.store.get(id)) as { cancelled: boolean } | null;
      if (!record) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(record?.cancelled).toBe(true);
  });
});

describe('client leaving before the first byte', () => {
  for (const stream of [true, false]) {
    it(`aborts the upstream call (${stream ? 'streaming, during keep-alive comments' : 'non-streaming'})`, async () => {
      alpha.setScript([{ hang: true }]);
      await gatewayWith({ keepAliveIntervalMs: 20 });
      const controller = new AbortController();
      const request = fetch(`${gateway.url}/api/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'test/model', messages, stream }),
        signal: controller.signal,
      }).then((reply) => reply.text());
      while (alpha.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 60));
      controller.abort();
      await request.catch(() => undefined);
      await alpha.calls[0]?.ended;
      expect(alpha.calls[0]?.closedEarly).toBe(true);
      expect(beta.calls).toHaveLength(0);
      let records: Array<{ cancelled: boolean; streamed: boolean }> = [];
      for (let tries = 0; tries < 50 && records.length === 0; tries++) {
        records = (await gateway.store.list({ limit: 10 })) as typeof records;
        if (records.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(records[0]).toMatchObject({ cancelled: true, streamed: stream });
    });
  }
});

describe('errors', () => {
  async function post(body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { error: { code: number; message: string; metadata: Record<string, unknown> } } }> {
    const reply = await fetch(`${gateway.url}/api/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: reply.status, body: (await reply.json()) as { error: { code: number; message: string; metadata: Record<string, unknown> } } };
  }

  it('404s an unknown model through the client', async () => {
    await gatewayWith();
    const failure = await gateway.client.chat.completions.create({ model: 'nobody/nothing', messages }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.NotFoundError);
    expect((failure as InstanceType<typeof OpenAI.NotFoundError>).error).toMatchObject({ code: 404, metadata: { error_type: 'model_not_found' } });
    expect(alpha.calls).toHaveLength(0);
  });

  it('400s malformed JSON', async () => {
    await gatewayWith();
    const reply = await post('{"model": "test/model", "messages": [');
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe(400);
    expect(reply.body.error.message).toMatch(/Malformed JSON/);
  });

  it('400s a wrong type, naming the field', async () => {
    await gatewayWith();
    const reply = await post(JSON.stringify({ model: 'test/model', messages, temperature: 'hot' }));
    expect(reply.status).toBe(400);
    expect(reply.body.error.metadata).toMatchObject({ error_type: 'invalid_request', param: 'temperature' });
    const nested = await post(JSON.stringify({ model: 'test/model', messages: [{ role: 'wizard', content: 'x' }] }));
    expect(nested.body.error.metadata.param).toBe('messages[0].role');
  });

  it('400s an unknown top-level field, naming it', async () => {
    await gatewayWith();
    const reply = await post(JSON.stringify({ model: 'test/model', messages, temprature: 0.2 }));
    expect(reply.status).toBe(400);
    expect(reply.body.error.message).toContain("'temprature'");
    expect(reply.body.error.metadata.param).toBe('temprature');
  });

  it('413s a body over the limit', async () => {
    await gatewayWith({ bodyLimitBytes: 2_000 });
    const reply = await post(JSON.stringify({ model: 'test/model', messages: [{ role: 'user', content: 'x'.repeat(5_000) }] }));
    expect(reply.status).toBe(413);
    expect(reply.body.error.metadata.error_type).toBe('payload_too_large');
  });

  it('400s a body that is not sent as JSON', async () => {
    await gatewayWith();
    const reply = await post(JSON.stringify({ model: 'test/model', messages }), { 'content-type': 'text/plain' });
    expect(reply.status).toBe(400);
    expect(reply.body.error.metadata).toMatchObject({ error_type: 'invalid_request', param: 'content-type' });
    expect(alpha.calls).toHaveLength(0);
  });

  it('without gateway keys, answers only requests addressed to localhost', async () => {
    await gatewayWith();
    const body = JSON.stringify({ model: 'test/model', messages });
    const rebound = await postWithHost('evil.example:8080', body);
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.metadata.error_type).toBe('forbidden');
    expect(alpha.calls).toHaveLength(0);
    expect((await postWithHost(`localhost:${new URL(gateway.url).port}`, body)).status).toBe(200);
  });

  it('with gateway keys, the key alone decides', async () => {
    await gatewayWith({ keys: ['sk-switchyard-test'] });
    const reply = await postWithHost('gateway.internal:8080', JSON.stringify({ model: 'test/model', messages }), { authorization: 'Bearer sk-switchyard-test' });
    expect(reply.status).toBe(200);
  });

  it('401s a missing or wrong gateway key and accepts the right one', async () => {
    await gatewayWith({ keys: ['sk-switchyard-test'] });
    const wrong = new OpenAI({ baseURL: `${gateway.url}/api/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const failure = await wrong.chat.completions.create({ model: 'test/model', messages }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OpenAI.AuthenticationError);
    const missing = await post(JSON.stringify({ model: 'test/model', messages }));
    expect(missing.status).toBe(401);
    expect(missing.body.error.metadata.error_type).toBe('authentication');
    const completion = await gateway.client.chat.completions.create({ model: 'test/model', messages });
    expect(completion.choices[0]?.message.content).toBe('Hello from the fake upstream.');
  });
});
