import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../spec.ts';
import { convertToAnthropicRequest } from './request.ts';
import { convertAnthropicUsage } from './response.ts';

function convert(request: ChatRequest, dropped: string[] = []) {
  return convertToAnthropicRequest({ request, upstreamModel: 'claude-test', dropped, stream: false, options: { defaultMaxTokens: 4096 } });
}

describe('convertToAnthropicRequest', () => {
  it('lifts every system and developer message into system, keeping cache_control', () => {
    const { body } = convert({
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Rules.', cache_control: { type: 'ephemeral', ttl: '1h' } }] },
        { role: 'user', content: 'Hi' },
        { role: 'developer', content: 'Late note.' },
      ],
    });
    expect(body.system).toEqual([
      { type: 'text', text: 'Rules.', cache_control: { type: 'ephemeral', ttl: '1h' } },
      { type: 'text', text: 'Late note.' },
    ]);
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
    expect(body.max_tokens).toBe(4096);
  });

  it('turns tool calls into tool_use and merges consecutive tool results into one user turn', () => {
    const { body } = convert({
      messages: [
        { role: 'user', content: 'Weather and time?' },
        {
          role: 'assistant',
          content: 'Looking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '{"temp_c":4}' },
        { role: 'tool', tool_call_id: 'toolu_2', content: '12:00' },
        { role: 'user', content: 'Thanks' },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather and time?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp_c":4}' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: '12:00' },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  it('maps tool_choice forms and the inverted parallel flag', () => {
    const tools: ChatRequest['tools'] = [{ type: 'function', function: { name: 'f' } }];
    const base: ChatRequest = { messages: [{ role: 'user', content: 'x' }], tools };
    expect(convert({ ...base, tool_choice: 'required' }).body.tool_choice).toEqual({ type: 'any' });
    expect(convert({ ...base, tool_choice: 'none' }).body.tool_choice).toEqual({ type: 'none' });
    expect(convert({ ...base, tool_choice: { type: 'function', function: { name: 'f' } } }).body.tool_choice).toEqual({ type: 'tool', name: 'f' });
    expect(convert({ ...base, parallel_tool_calls: false }).body.tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(convert(base).body.tools).toEqual([{ name: 'f', input_schema: { type: 'object', properties: {} } }]);
  });

  it('clamps temperature, drops whitespace stops, maps user, warns on unsupported fields', () => {
    const { body, warnings } = convert({ messages: [{ role: 'user', content: 'x' }], temperature: 1.6, stop: ['END', '  '], user: 'u-1', seed: 3, logprobs: true });
    expect(body.temperature).toBe(1);
    expect(body.stop_sequences).toEqual(['END']);
    expect(body.metadata).toEqual({ user_id: 'u-1' });
    expect(warnings.join('\n')).toMatch(/temperature/);
    expect(warnings.join('\n')).toMatch(/seed/);
    expect(warnings.join('\n')).toMatch(/logprobs/);
  });

  it('enables thinking with a budget that fits under max_tokens', () => {
    const { body, warnings, exposeReasoning } = convert({ messages: [{ role: 'user', content: 'x' }], max_tokens: 500, temperature: 0.2, reasoning: { effort: 'high' } });
    expect(body.thinking).toEqual({ type: 'enabled', budget_tokens: 16_384 });
    expect(body.max_tokens).toBe(16_884);
    expect(body).not.toHaveProperty('temperature');
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(exposeReasoning).toBe(true);
    expect(convert({ messages: [{ role: 'user', content: 'x' }], reasoning: { max_tokens: 3000, exclude: true } }).exposeReasoning).toBe(false);
    expect(convert({ messages: [{ role: 'user', content: 'x' }], reasoning: { effort: 'none' } }).body.thinking).toBeUndefined();
  });

  it('sends a PDF data URL as a document block', () => {
    const { body } = convert({ messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } }] }] });
    expect(body.messages[0]?.content[0]).toEqual({ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } });
  });
});

describe('convertAnthropicUsage', () => {
  it('adds cache reads and writes into prompt_tokens and keeps unknowns undefined', () => {
    expect(convertAnthropicUsage({ input_tokens: 20, output_tokens: 30, cache_creation_input_tokens: 20, cache_read_input_tokens: 60 })).toEqual({
      prompt_tokens: 100,
      completion_tokens: 30,
      cached_tokens: 60,
      cache_write_tokens: 20,
    });
    expect(convertAnthropicUsage({ output_tokens: 5 })).toEqual({ completion_tokens: 5 });
  });
});

describe('base URLs', () => {
  it('adds the API version only when the catalog left it out', async () => {
    const { versionedBaseUrl } = await import('../common.ts');
    expect(versionedBaseUrl('https://api.anthropic.com', 'v1')).toBe('https://api.anthropic.com/v1');
    expect(versionedBaseUrl('https://api.anthropic.com/v1/', 'v1')).toBe('https://api.anthropic.com/v1');
    expect(versionedBaseUrl('https://generativelanguage.googleapis.com', 'v1beta')).toBe('https://generativelanguage.googleapis.com/v1beta');
    expect(versionedBaseUrl('https://generativelanguage.googleapis.com/v1beta', 'v1beta')).toBe('https://generativelanguage.googleapis.com/v1beta');
    expect(versionedBaseUrl('http://127.0.0.1:9999/v1alpha', 'v1beta')).toBe('http://127.0.0.1:9999/v1alpha');
  });
});
