import { describe, expect, it } from 'vitest';
import { GatewayError } from './errors.ts';
import { parseChatBody, providerRequest, withoutParameters } from './chat-body.ts';

const messages = [{ role: 'user', content: 'hi' }];

function rejection(body: unknown): GatewayError {
  try {
    parseChatBody(body);
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('parseChatBody', () => {
  it('accepts an OpenRouter body with routing fields', () => {
    const body = { model: 'a/b', models: ['c/d'], messages, provider: { order: ['x'], allow_fallbacks: false, sort: { by: 'price', partition: 'none' } }, stream: true, temperature: 0.2 };
    expect(parseChatBody(body)).toBe(body);
  });

  it('names the field of every kind of mistake', () => {
    expect(rejection({ messages, temperature: 'hot' }).metadata).toMatchObject({ param: 'temperature' });
    expect(rejection({ messages, provider: { order: 'x' } }).metadata).toMatchObject({ param: 'provider.order' });
    expect(rejection({ messages, provider: { allow_fallback: false } }).metadata).toMatchObject({ param: 'provider.allow_fallback' });
    expect(rejection({ model: 'a/b' }).metadata).toMatchObject({ param: 'messages' });
    expect(rejection({ messages: [{ role: 'tool', content: 'x' }] }).metadata).toMatchObject({ param: 'messages[0].tool_call_id' });
    expect(rejection({ messages, response_format: { type: 'xml' } }).message).toContain('"json_schema"');
    expect(rejection([messages]).metadata).toMatchObject({ param: 'body' });
  });

  it('folds reasoning_effort and include_reasoning into reasoning', () => {
    expect(parseChatBody({ messages, reasoning_effort: 'low', include_reasoning: false })).toEqual({ messages, reasoning: { effort: 'low', exclude: true } });
    expect(parseChatBody({ messages, reasoning_effort: 'high', reasoning: { effort: 'high', max_tokens: 100 } })).toEqual({ messages, reasoning: { effort: 'high', max_tokens: 100 } });
    expect(rejection({ messages, reasoning_effort: 'high', reasoning: { effort: 'low' } }).metadata).toMatchObject({ param: 'reasoning_effort' });
  });
});

describe('providerRequest', () => {
  it('removes the gateway-only fields and keeps the rest as sent', () => {
    const body = { model: 'a/b', models: ['c/d'], provider: {}, route: 'fallback', transforms: [], plugins: [], session_id: 's', usage: { include: true }, stream_options: { include_usage: true }, metadata: { a: 'b' }, messages, stream: true, top_p: 0.9 };
    expect(providerRequest(body)).toEqual({ messages, stream: true, top_p: 0.9 });
  });

  it('drops the parameters an endpoint does not support, adding nothing', () => {
    const request = providerRequest({ messages, temperature: 0.1, top_k: 5 });
    expect(withoutParameters(request, ['top_k', 'seed'])).toEqual({ messages, temperature: 0.1 });
    expect(withoutParameters(request, [])).toBe(request);
  });
});
