import { describe, expect, it } from 'vitest';
import type { CatalogProvider, PlanAttempt } from '../../../engine/index.ts';
import type { AdapterCall, ChatRequest, StreamPart } from '../spec.ts';
import { ProviderCallError } from '../spec.ts';
import { createSimulatedAdapter } from './adapter.ts';
import { readSimulatedOptions } from './api-types.ts';
import { estimatePromptTokens, planSimulatedResponse } from './request.ts';

function provider(options: Record<string, unknown>): CatalogProvider {
  return {
    id: 'sim',
    name: 'Simulated',
    protocol: 'simulated',
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true },
    region: 'local',
    status: 'active',
    options,
  };
}

const attempt: PlanAttempt = {
  endpoint: 'test/model@sim',
  provider: 'sim',
  provider_name: 'Simulated',
  protocol: 'simulated',
  model: 'test/model',
  upstream_model: 'sim-model',
  pricing: { prompt: '0', completion: '0' },
  estimated_cost: { min: 0, max: 0 },
  timeouts: { first_byte_ms: 1000, attempt_ms: 1000, total_ms: 1000 },
  retries: { max: 0, backoff_ms: 0, multiplier: 1, max_backoff_ms: 0 },
  drop_parameters: [],
  reasons: [],
};

function call(request: ChatRequest, options: Record<string, unknown>, signal = new AbortController().signal): AdapterCall {
  return { request, attempt, provider: provider(options), credential: undefined, signal };
}

const hello: ChatRequest = { messages: [{ role: 'user', content: 'Tell me about railway yards.' }] };
const instant = { latency_ms: 0, tokens_per_second: 0 };

async function collect(parts: AsyncIterable<StreamPart>): Promise<StreamPart[]> {
  const collected: StreamPart[] = [];
  for await (const part of parts) collected.push(part);
  return collected;
}

describe('simulated provider', () => {
  const adapter = createSimulatedAdapter();

  it('gives the same text for the same request and different text for another', async () => {
    const first = await adapter.generate(call(hello, instant));
    const second = await adapter.generate(call(hello, instant));
    const other = await adapter.generate(call({ messages: [{ role: 'user', content: 'Something else entirely.' }] }, instant));
    expect(first.message.content).toBe(second.message.content);
    expect(first.message.content).not.toBe(other.message.content);
    expect(first.message.content?.length).toBeGreaterThan(10);
  });

  it('reports usage it can stand behind: completion = tokens emitted, prompt estimated', async () => {
    const result = await adapter.stream(call({ ...hello, stream: true }, { ...instant, response_tokens: 12 }));
    const parts = await collect(result.parts);
    const deltas = parts.filter((part) => part.type === 'text-delta');
    const finish = parts.at(-1);
    expect(deltas).toHaveLength(12);
    expect(finish?.type).toBe('finish');
    if (finish?.type !== 'finish') return;
    expect(finish.usage.completion_tokens).toBe(12);
    expect(finish.usage.prompt_tokens).toBe(estimatePromptTokens(hello));
    expect(finish.usage.reasoning_tokens).toBe(0);
  });

  it('counts reasoning tokens inside completion tokens and emits them first', async () => {
    const result = await adapter.generate(call({ ...hello, reasoning: { effort: 'high' } }, { ...instant, response_tokens: 5, reasoning_tokens: 7 }));
    expect(result.usage).toMatchObject({ completion_tokens: 12, reasoning_tokens: 7 });
    expect(result.message.reasoning?.split(' ')).toHaveLength(7);
  });

  it('honours max_tokens with finish_reason length', async () => {
    const result = await adapter.generate(call({ ...hello, max_tokens: 3 }, { ...instant, response_tokens: 20 }));
    expect(result.finish_reason).toBe('length');
    expect(result.usage.completion_tokens).toBe(3);
    expect(result.message.content?.trim().split(/\s+/)).toHaveLength(3);
  });

  it('stops at a stop sequence', async () => {
    const result = await adapter.generate(call({ ...hello, stop: ['fake'] }, { ...instant, response_text: 'Hello from the fake upstream.' }));
    expect(result.message.content).toBe('Hello from the');
    expect(result.finish_reason).toBe('stop');
  });

  it('calls the tool the request names, with arguments matching its schema', async () => {
    const request: ChatRequest = {
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    };
    const first = await adapter.generate(call(request, instant));
    const second = await adapter.generate(call(request, instant));
    expect(first.finish_reason).toBe('tool_calls');
    const args = JSON.parse(first.message.tool_calls?.[0]?.function.arguments ?? 'null') as { city: unknown; days: unknown };
    expect(args.city).toBe('Oslo');
    expect(Number.isInteger(args.days)).toBe(true);
    expect(second.message.tool_calls).toEqual(first.message.tool_calls);
    const auto = await adapter.generate(call({ ...request, tool_choice: 'auto' }, instant));
    expect(auto.message.tool_calls).toBeUndefined();
    const autoCalling = await adapter.generate(call({ ...request, tool_choice: 'auto' }, { ...instant, tool_calls: 'auto' }));
    expect(autoCalling.message.tool_calls).toHaveLength(1);
  });

  it('answers JSON matching the schema when response_format asks', async () => {
    const result = await adapter.generate(
      call(
        { ...hello, response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object', properties: { ok: { type: 'boolean' }, tags: { type: 'array', items: { type: 'string' } } } } } } },
        instant,
      ),
    );
    const parsed = JSON.parse(result.message.content ?? 'null') as { ok: unknown; tags: unknown };
    expect(typeof parsed.ok).toBe('boolean');
    expect(Array.isArray(parsed.tags)).toBe(true);
    const objectMode = await adapter.generate(call({ ...hello, response_format: { type: 'json_object' } }, instant));
    expect(typeof JSON.parse(objectMode.message.content ?? 'null')).toBe('object');
  });

  it('paces output: latency before the first token, then tokens_per_second', async () => {
    const started = performance.now();
    const result = await adapter.stream(call({ ...hello, stream: true }, { latency_ms: 60, tokens_per_second: 100, response_tokens: 11 }));
    const accepted = performance.now() - started;
    await collect(result.parts);
    const total = performance.now() - started;
    expect(accepted).toBeGreaterThanOrEqual(55);
    // 10 intervals of 10 ms after the first token.
    expect(total - accepted).toBeGreaterThanOrEqual(90);
    expect(total - accepted).toBeLessThan(400);
  });

  it('stops emitting when aborted', async () => {
    const controller = new AbortController();
    const result = await adapter.stream(call({ ...hello, stream: true }, { latency_ms: 0, tokens_per_second: 50, response_tokens: 100 }, controller.signal));
    const parts: StreamPart[] = [];
    for await (const part of result.parts) {
      parts.push(part);
      if (parts.length === 2) controller.abort();
    }
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(2);
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { kind: 'aborted' } });
  });

  it('draws failures reproducibly from options.seed', async () => {
    const options = { ...instant, failure_rates: { 429: 0.5 }, seed: 42 };
    const outcomes = async (): Promise<string[]> => {
      const fresh = createSimulatedAdapter();
      const results: string[] = [];
      for (let index = 0; index < 20; index += 1) {
        results.push(await fresh.generate(call(hello, options)).then(() => 'ok', (error: ProviderCallError) => String(error.status)));
      }
      return results;
    };
    const first = await outcomes();
    expect(await outcomes()).toEqual(first);
    expect(first).toContain('429');
    expect(first).toContain('ok');
  });

  it('fails mid-stream after the configured number of tokens', async () => {
    const result = await adapter.stream(call({ ...hello, stream: true }, { ...instant, mid_stream_failure_rate: 1, mid_stream_failure_after_tokens: 3 }));
    const parts = await collect(result.parts);
    expect(parts.filter((part) => part.type === 'text-delta')).toHaveLength(3);
    expect(parts.at(-1)).toMatchObject({ type: 'error', error: { kind: 'connection', errorClass: 'retryable' } });
  });

  it('paces a thousand concurrent streams, each at its configured rate', async () => {
    // Speed is the benchmarks' business; this checks the pacing itself: 20 ms latency, then 40
    // tokens at 200 per second, so no stream can finish in under ~215 ms, and all of them finish.
    const durations = await Promise.all(
      Array.from({ length: 1000 }, async (_, index) => {
        const started = performance.now();
        const result = await adapter.stream(call({ messages: [{ role: 'user', content: `stream ${index}` }], stream: true }, { latency_ms: 20, tokens_per_second: 200, response_tokens: 40 }));
        const parts = await collect(result.parts);
        expect(parts.at(-1)?.type).toBe('finish');
        return performance.now() - started;
      }),
    );
    expect(Math.min(...durations)).toBeGreaterThanOrEqual(200);
  });

  it('ignores option values of the wrong type', () => {
    const options = readSimulatedOptions({ latency_ms: 'fast', failure_rates: { 429: 7 }, tool_calls: 'sometimes' });
    expect(options.latency_ms).toBe(150);
    expect(options.failure_rates['429']).toBe(1);
    expect(options.tool_calls).toBe('required');
  });

  it('plans content_filter for configured phrases', () => {
    const plan = planSimulatedResponse(hello, readSimulatedOptions({ content_filter_phrases: ['RAILWAY'] }));
    expect(plan.finishReason).toBe('content_filter');
    expect(plan.textTokens).toEqual([]);
  });
});
