import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CatalogProvider } from '../../../engine/index.ts';
import { readSse } from '../http.ts';
import type { ChatRequest, StreamPart } from '../spec.ts';
import { parseOpenAICompatibleError } from './errors.ts';
import { OPENAI_COMPATIBLE_PRESETS, resolveOpenAICompatiblePreset, type OpenAICompatiblePreset } from './presets.ts';
import { convertToOpenAICompatibleRequest } from './request.ts';
import { convertOpenAICompatibleResponse } from './response.ts';
import { mapOpenAICompatibleStream } from './stream.ts';
import { classifyHttpStatus } from '../http.ts';

const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const json = (name: string): unknown => JSON.parse(fixture(name)) as unknown;

function presetOf(id: string): OpenAICompatiblePreset {
  const preset = OPENAI_COMPATIBLE_PRESETS[id];
  if (preset === undefined) throw new Error(`no preset ${id}`);
  return preset;
}

async function streamFixture(name: string, preset: OpenAICompatiblePreset): Promise<StreamPart[]> {
  const sse = fixture(name)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.startsWith(':') ? `${line}\n\n` : `data: ${line}\n\n`))
    .join('');
  const parts: StreamPart[] = [];
  for await (const part of mapOpenAICompatibleStream(readSse([sse]), preset, undefined)) parts.push(part);
  return parts;
}

function provider(id: string, options?: Record<string, unknown>): CatalogProvider {
  return {
    id,
    name: id,
    protocol: 'openai-compatible',
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: false },
    region: 'us',
    status: 'active',
    ...(options === undefined ? {} : { options }),
  };
}

const toolHistory: ChatRequest = {
  messages: [
    { role: 'developer', content: 'Be brief.', name: 'ops' },
    { role: 'user', content: [{ type: 'text', text: 'Weather?', cache_control: { type: 'ephemeral' } }], name: 'ann' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_weather_long_id', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool', tool_call_id: 'call_weather_long_id', content: '{"temp_c":4}' },
  ],
  max_tokens: 100,
  seed: 7,
  logprobs: true,
  top_k: 40,
  tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
  tool_choice: 'required',
  reasoning: { effort: 'low' },
};

describe('openai-compatible presets', () => {
  it('picks a preset by options.preset, then by id family, else generic', () => {
    expect(resolveOpenAICompatiblePreset(provider('my-host', { preset: 'vllm' })).id).toBe('vllm');
    expect(resolveOpenAICompatiblePreset(provider('deepinfra/turbo')).id).toBe('deepinfra');
    expect(resolveOpenAICompatiblePreset(provider('somewhere')).id).toBe('generic');
  });

  it('openai: max_tokens becomes max_completion_tokens, non-OpenAI sampling is dropped with a warning', () => {
    const { body, warnings } = convertToOpenAICompatibleRequest({ request: toolHistory, upstreamModel: 'gpt-4.1', preset: presetOf('openai'), dropped: [], stream: true });
    expect(body['max_completion_tokens']).toBe(100);
    expect(body).not.toHaveProperty('max_tokens');
    expect(body).not.toHaveProperty('top_k');
    expect(warnings.some((warning) => warning.includes('top_k'))).toBe(true);
    expect(body['reasoning_effort']).toBe('low');
    expect(body['stream_options']).toEqual({ include_usage: true });
    // cache_control is stripped from parts; the developer role is kept.
    expect(JSON.stringify(body['messages'])).not.toContain('cache_control');
    expect((body['messages'] as Array<{ role: string }>)[0]?.role).toBe('developer');
  });

  it('groq: rejected parameters and message names are not sent', () => {
    const { body, warnings } = convertToOpenAICompatibleRequest({ request: toolHistory, upstreamModel: 'llama', preset: presetOf('groq'), dropped: [], stream: false });
    expect(body).not.toHaveProperty('logprobs');
    expect(JSON.stringify(body['messages'])).not.toContain('"name":"ann"');
    expect(warnings.some((warning) => warning.includes('logprobs'))).toBe(true);
    expect(body).not.toHaveProperty('stream_options');
  });

  it('mistral: random_seed, any, system for developer, 9-character tool ids kept consistent', () => {
    const { body } = convertToOpenAICompatibleRequest({ request: toolHistory, upstreamModel: 'mistral-large', preset: presetOf('mistral'), dropped: [], stream: true });
    expect(body['random_seed']).toBe(7);
    expect(body).not.toHaveProperty('seed');
    expect(body['tool_choice']).toBe('any');
    expect(body).not.toHaveProperty('stream_options');
    expect(body).not.toHaveProperty('reasoning_effort');
    const messages = body['messages'] as Array<{ role: string; tool_calls?: Array<{ id: string }>; tool_call_id?: string }>;
    expect(messages[0]?.role).toBe('system');
    const id = messages[2]?.tool_calls?.[0]?.id ?? '';
    expect(id).toMatch(/^[a-zA-Z0-9]{9}$/);
    expect(messages[3]?.tool_call_id).toBe(id);
  });

  it('fireworks: asks for an error on context overflow instead of silent truncation', () => {
    const { body } = convertToOpenAICompatibleRequest({ request: { messages: [{ role: 'user', content: 'hi' }] }, upstreamModel: 'm', preset: presetOf('fireworks'), dropped: [], stream: false });
    expect(body['context_length_exceeded_behavior']).toBe('error');
  });

  it('drops the plan parameters with a warning each', () => {
    const { body, warnings } = convertToOpenAICompatibleRequest({ request: toolHistory, upstreamModel: 'm', preset: presetOf('generic'), dropped: ['max_tokens', 'seed'], stream: false });
    expect(body).not.toHaveProperty('max_tokens');
    expect(body).not.toHaveProperty('seed');
    expect(warnings.filter((warning) => warning.startsWith('dropped parameter'))).toHaveLength(2);
    expect(body['model']).toBe('m');
  });
});

describe('openai-compatible host quirks on the way back', () => {
  it('groq: whole tool call and usage on the finish chunk', async () => {
    const parts = await streamFixture('groq-tool-call.chunks.txt', presetOf('groq'));
    expect(parts.filter((part) => part.type === 'tool-call-delta')).toEqual([
      { type: 'tool-call-delta', index: 0, id: 'call_groq1', name: 'get_weather', arguments_delta: '{"city":"Oslo"}' },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finish_reason: 'tool_calls', usage: { prompt_tokens: 57, completion_tokens: 12 } });
  });

  it('mistral: two whole tool calls without index become indexes 0 and 1', async () => {
    const parts = await streamFixture('mistral-tool-call.chunks.txt', presetOf('mistral'));
    const calls = parts.filter((part) => part.type === 'tool-call-delta');
    expect(calls.map((call) => [call.index, call.id, call.name])).toEqual([
      [0, 'Ab3dE6gH9', 'get_weather'],
      [1, 'Zx8cV5bN2', 'get_time'],
    ]);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finish_reason: 'tool_calls', usage: { prompt_tokens: 80, completion_tokens: 30 } });
  });

  it('together: eos means stop', () => {
    const result = convertOpenAICompatibleResponse(json('together-eos.json'), presetOf('together'), []);
    expect(result.finish_reason).toBe('stop');
    expect(result.native_finish_reason).toBe('eos');
    expect(result.message.tool_calls).toBeUndefined();
  });

  it('ollama: object arguments are serialised and a stop with tool calls is tool_calls', () => {
    const result = convertOpenAICompatibleResponse(json('ollama-tool-call.json'), presetOf('ollama'), []);
    expect(result.message.tool_calls?.[0]?.function.arguments).toBe('{"city":"Oslo"}');
    expect(result.finish_reason).toBe('tool_calls');
  });

  it('deepseek: reasoning_content and prompt_cache_hit_tokens', () => {
    const result = convertOpenAICompatibleResponse(json('deepseek-usage.json'), presetOf('deepseek'), []);
    expect(result.message.reasoning).toBe('Thinking about it.');
    expect(result.usage).toEqual({ prompt_tokens: 100, completion_tokens: 30, cached_tokens: 60, reasoning_tokens: 12 });
  });

  it('deepinfra: completion tokens that leave out reasoning are corrected', () => {
    const body = { id: 'x', choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 3, completion_tokens_details: { reasoning_tokens: 40 } } };
    expect(convertOpenAICompatibleResponse(body, presetOf('deepinfra'), []).usage.completion_tokens).toBe(43);
    expect(convertOpenAICompatibleResponse(body, presetOf('generic'), []).usage.completion_tokens).toBe(3);
  });

  it('leaves usage the host did not send undefined', () => {
    const result = convertOpenAICompatibleResponse({ choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }, presetOf('generic'), []);
    expect(result.usage).toEqual({});
    expect(result.usage.prompt_tokens).toBeUndefined();
  });
});

describe('openai-compatible error bodies', () => {
  it.each([
    ['mistral-error.json', 400, 'final', 'Tool call id was'],
    ['deepinfra-validation-error.json', 422, 'final', 'body.temperature'],
    ['vllm-context-length.json', 400, 'context_length', 'maximum context length'],
    ['together-error.json', 400, 'context_length', 'max_new_tokens'],
    ['error-insufficient-quota.json', 429, 'fallback', 'quota'],
    ['error-rate-limit.json', 429, 'retryable', 'Rate limit'],
    ['../../azure-openai/__fixtures__/content-filter-error.json', 400, 'content_policy', 'content management policy'],
  ])('%s (HTTP %i) is %s', (name, status, errorClass, message) => {
    const details = parseOpenAICompatibleError(json(name));
    expect(details.message).toContain(message);
    expect(classifyHttpStatus(status, details)).toBe(errorClass);
  });
});

describe('reasoning.exclude', () => {
  it('hides reasoning from the result and the stream but keeps its token count', async () => {
    const { startFakeOpenAI, openAIFixture, openAIStream } = await import('../../../test/fakes/fake-openai.ts');
    const { createOpenAICompatibleAdapter } = await import('./adapter.ts');
    const fake = await startFakeOpenAI({ script: (call) => ((call.body as { stream?: boolean }).stream === true ? openAIStream('reasoning.chunks.txt') : { body: openAIFixture('usage-details.json') }) });
    try {
      const adapter = createOpenAICompatibleAdapter();
      const call = {
        request: { messages: [{ role: 'user' as const, content: 'x' }], reasoning: { effort: 'low' as const, exclude: true } },
        attempt: {
          endpoint: 'm@p', provider: 'p', provider_name: 'P', protocol: 'openai-compatible' as const, model: 'm', upstream_model: 'u',
          pricing: { prompt: '0', completion: '0' }, estimated_cost: { min: 0, max: 0 },
          timeouts: { first_byte_ms: 1000, attempt_ms: 1000, total_ms: 1000 }, retries: { max: 0, backoff_ms: 0, multiplier: 1, max_backoff_ms: 0 },
          drop_parameters: [], reasons: [],
        },
        provider: { ...provider('p'), base_url: fake.url },
        credential: undefined,
        signal: new AbortController().signal,
      };
      const result = await adapter.generate(call);
      expect(result.message.reasoning).toBeUndefined();
      expect(result.usage.reasoning_tokens).toBe(12);
      const streamed = await adapter.stream(call);
      const parts: StreamPart[] = [];
      for await (const part of streamed.parts) parts.push(part);
      expect(parts.some((part) => part.type === 'reasoning-delta')).toBe(false);
      expect(parts.filter((part) => part.type === 'text-delta').map((part) => part.delta).join('')).toBe('Done.');
    } finally {
      await fake.close();
    }
  });
});

describe('tool fields without tools', () => {
  it('are not sent (OpenAI rejects parallel_tool_calls and tool_choice without tools)', () => {
    const { body } = convertToOpenAICompatibleRequest({
      request: { messages: [{ role: 'user', content: 'x' }], tool_choice: 'auto', parallel_tool_calls: false },
      upstreamModel: 'm',
      preset: presetOf('openai'),
      dropped: [],
      stream: false,
    });
    expect(body).not.toHaveProperty('tool_choice');
    expect(body).not.toHaveProperty('parallel_tool_calls');
  });
});

describe('openrouter preset', () => {
  it('forwards the unified reasoning object unchanged', () => {
    const { body } = convertToOpenAICompatibleRequest({
      request: { messages: [{ role: 'user', content: 'x' }], reasoning: { max_tokens: 2000, exclude: false } },
      upstreamModel: 'anthropic/claude-sonnet-4',
      preset: presetOf('openrouter'),
      dropped: [],
      stream: false,
    });
    expect(body['reasoning']).toEqual({ max_tokens: 2000, exclude: false });
    expect(body).not.toHaveProperty('reasoning_effort');
  });
});
