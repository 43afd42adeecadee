/**
 * Fallback across wire protocols: Anthropic answers 529 overloaded before the first byte, Gemini
 * serves, and the client sees one normal answer naming the provider that served it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPECTED_TEXT } from '../conformance/adapter.case.ts';
import { startMultiProviderGateway, type MultiProviderGateway } from './support/multi-provider-gateway.ts';

let gateway: MultiProviderGateway;

beforeAll(async () => {
  gateway = await startMultiProviderGateway();
});

afterAll(async () => {
  await gateway.close();
});

const request = { model: 'fallback/model', messages: [{ role: 'user' as const, content: 'Say hello.' }] };
const attemptLog = { headers: { 'x-switchyard-attempts': 'true' } };

describe('Anthropic 529 -> Gemini', () => {
  it('non-streaming: Gemini serves after Anthropic is overloaded', async () => {
    const anthropicBefore = gateway.fakes.anthropic.calls.length;
    const geminiBefore = gateway.fakes.gemini.calls.length;
    const { data, response } = await gateway.client.chat.completions.create(request, attemptLog).withResponse();
    expect(data.choices[0]?.message.content).toBe(EXPECTED_TEXT);
    expect(data.model).toBe('fallback/model');
    expect((data as unknown as { provider: string }).provider).toBe('Google AI Studio');
    expect(gateway.fakes.anthropic.calls.length - anthropicBefore).toBe(1);
    expect(gateway.fakes.gemini.calls.length - geminiBefore).toBe(1);
    expect(gateway.fakes.gemini.calls.at(-1)?.url).toBe('/v1beta/models/gemini-fallback:generateContent');
    const attempts = response.headers.get('x-switchyard-attempts') ?? '';
    expect(attempts).toMatch(/^1:anthropic:529:[a-z_]+:\d+ms,2:google-ai-studio:200:ok:\d+ms$/);
  });

  it('streaming: the fallback happens before the first byte, so the stream is Gemini\'s alone', async () => {
    const anthropicBefore = gateway.fakes.anthropic.calls.length;
    const stream = await gateway.client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }, attemptLog);
    let text = '';
    let finish: string | null = null;
    const providers = new Set<string>();
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      providers.add((chunk as unknown as { provider: string }).provider);
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(EXPECTED_TEXT);
    expect(finish).toBe('stop');
    expect([...providers]).toEqual(['Google AI Studio']);
    expect(usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7 });
    expect(gateway.fakes.anthropic.calls.length - anthropicBefore).toBe(1);
    expect(gateway.fakes.gemini.calls.at(-1)?.url).toBe('/v1beta/models/gemini-fallback:streamGenerateContent?alt=sse');
  });
});
