import { describe, expect, it } from 'vitest';
import type { RequestFacts } from '../types.ts';
import { estimatePromptTokens } from './estimate-tokens.ts';
import { requestFacts, type FactsResult } from './request-facts.ts';

const messages = [{ role: 'user', content: 'Hello there' }];

function facts(body: Record<string, unknown>, headers: Record<string, string | string[] | undefined> = {}, exposeHeaders: string[] = []): RequestFacts {
  const result = requestFacts({ messages, ...body }, headers, { key: 'k1', team: 'ml' }, { exposeHeaders });
  if (!result.ok) throw new Error(`unexpected error: ${result.error.message}`);
  return result.facts;
}

function failure(body: unknown): Extract<FactsResult, { ok: false }>['error'] {
  const result = requestFacts(body, {}, {}, { exposeHeaders: [] });
  if (result.ok) throw new Error('expected an error');
  return result.error;
}

describe('requested models and variants', () => {
  it('puts model first, then models, stripping variants', () => {
    const result = facts({ model: 'openai/gpt-4o:nitro', models: ['anthropic/claude:floor', 'meta/llama:free'] });
    expect(result.model).toBe('openai/gpt-4o');
    expect(result.models).toEqual(['openai/gpt-4o', 'anthropic/claude', 'meta/llama']);
    expect(result.variants).toEqual(['nitro', 'floor', 'free']);
  });

  it('keeps unknown suffixes in the id and drops exact repeats', () => {
    const result = facts({ model: 'x/y:thinking', models: ['x/y:thinking', 'a/b'] });
    expect(result.models).toEqual(['x/y:thinking', 'a/b']);
    expect(result.variants).toEqual([null, null]);
  });

  it('takes models alone, and no model at all as null', () => {
    expect(facts({ models: ['a/b', 'c/d'] }).model).toBe('a/b');
    const none = facts({});
    expect(none.model).toBeNull();
    expect(none.models).toEqual([]);
  });

  it("rejects more than 3 'models' with OpenRouter's message", () => {
    const error = failure({ messages, models: ['a/1', 'a/2', 'a/3', 'a/4'] });
    expect(error).toMatchObject({ status: 400, param: 'models', message: "'models' array must have 3 items or fewer" });
  });

  it('rejects malformed model fields', () => {
    expect(failure({ model: 42 }).param).toBe('model');
    expect(failure({ models: 'a/b' }).param).toBe('models');
    expect(failure('not an object').param).toBe('body');
  });
});

describe('identity, tags, headers and session', () => {
  it('takes key/team from identity and user from the body when identity has none', () => {
    const result = facts({ user: 'end-user-7' });
    expect(result).toMatchObject({ key: 'k1', team: 'ml', user: 'end-user-7' });
    const authenticated = requestFacts({ messages, user: 'body-user' }, {}, { user: 'id-user' }, { exposeHeaders: [] });
    expect(authenticated.ok && authenticated.facts.user).toBe('id-user');
  });

  it('reads tags from x-switchyard-tags (any case), trimmed and deduplicated', () => {
    expect(facts({}, { 'X-Switchyard-Tags': ' batch, eval ,batch,, ' }).tags).toEqual(['batch', 'eval']);
    expect(facts({ metadata: { tags: 'ignored' } }).tags).toEqual([]);
  });

  it('exposes only the policy-listed headers, lowercased', () => {
    const result = facts({}, { 'X-Tenant': 'acme', Authorization: 'Bearer secret', 'X-Multi': ['a', 'b'] }, ['x-tenant', 'x-multi']);
    expect(result.headers).toEqual({ 'x-tenant': 'acme', 'x-multi': 'a, b' });
  });

  it('derives the session from session_id, then x-session-id, then prompt_cache_key, then user', () => {
    expect(facts({ session_id: 's-body', user: 'u' }, { 'x-session-id': 's-header' }).session).toBe('s-body');
    expect(facts({ user: 'u' }, { 'x-session-id': 's-header' }).session).toBe('s-header');
    expect(facts({ user: 'u', prompt_cache_key: 'pck' }).session).toBe('pck');
    expect(facts({ user: 'u' }).session).toBe('u');
    expect(facts({}).session).toBeNull();
    expect(failure({ messages, session_id: 'x'.repeat(257) }).param).toBe('session_id');
  });
});

describe('request shape', () => {
  it('takes max_completion_tokens over max_tokens and validates both', () => {
    expect(facts({ max_tokens: 100 }).max_tokens).toBe(100);
    expect(facts({ max_tokens: 100, max_completion_tokens: 50 }).max_tokens).toBe(50);
    expect(facts({}).max_tokens).toBeNull();
    expect(failure({ messages, max_tokens: 0 }).param).toBe('max_tokens');
    expect(failure({ messages, max_completion_tokens: 1.5 }).param).toBe('max_completion_tokens');
  });

  it('reads tools, tool_choice and response_format', () => {
    const result = facts({ tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'f' } }, response_format: { type: 'json_schema', json_schema: {} } });
    expect(result).toMatchObject({ tools: true, tool_choice: 'function', response_format: 'json_schema' });
    expect(facts({ tools: [], tool_choice: 'none' })).toMatchObject({ tools: false, tool_choice: 'none' });
    expect(facts({ response_format: { type: 'grammar', grammar: 'x' } }).response_format).toBeNull();
    expect(failure({ messages, response_format: 'json' }).param).toBe('response_format');
    expect(failure({ messages, tools: {} }).param).toBe('tools');
  });

  it('lists input modalities from content parts in a fixed order', () => {
    const result = facts({
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'what is this' }, { type: 'input_audio', input_audio: {} }] },
        { role: 'user', content: [{ type: 'file', file: {} }, { type: 'video_url', video_url: {} }] },
      ],
    });
    expect(result.input_modalities).toEqual(['text', 'image', 'audio', 'file', 'video']);
    expect(facts({ messages: undefined, prompt: 'legacy' }).input_modalities).toEqual(['text']);
  });

  it('lists the OpenRouter parameters present, mapping body names, ignoring nulls', () => {
    const result = facts({ temperature: 0.2, max_completion_tokens: 10, reasoning_effort: 'low', stop: null, tools: [{}], response_format: { type: 'json_schema' }, seed: 1 });
    expect(result.parameters).toEqual(['max_tokens', 'temperature', 'seed', 'tools', 'response_format', 'reasoning', 'structured_outputs']);
  });

  it('estimates prompt tokens with the documented estimator', () => {
    expect(facts({}).prompt_tokens).toBe(estimatePromptTokens({ messages }));
    expect(facts({ stream: true }).stream).toBe(true);
    expect(failure({ messages, stream: 'yes' }).param).toBe('stream');
  });
});

describe('provider preferences', () => {
  it('normalizes every field', () => {
    const result = facts({
      provider: {
        order: ['DeepInfra', ' openai '],
        allow_fallbacks: false,
        only: ['deepinfra'],
        ignore: ['azure'],
        data_collection: 'deny',
        zdr: true,
        sort: 'throughput',
        max_price: { prompt: '1.5', completion: 3, request: null, audio: 1 },
        quantizations: ['FP8', 'mxfp4', 'unknown'],
        require_parameters: true,
        preferred_min_throughput: 50,
        preferred_max_latency: { p90: 2 },
        enforce_distillable_text: true,
      },
    });
    expect(result.provider).toEqual({
      order: ['DeepInfra', 'openai'],
      allow_fallbacks: false,
      only: ['deepinfra'],
      ignore: ['azure'],
      data_collection: 'deny',
      zdr: true,
      sort: { by: 'throughput', partition: 'model' },
      max_price: { prompt: 1.5, completion: 3 },
      quantizations: ['fp8', 'fp4', 'unknown'],
      require_parameters: true,
      preferred_min_throughput: { p50: 50 },
      preferred_max_latency: { p90: 2 },
    });
  });

  it('maps the deprecated route to a sort partition; an explicit partition wins', () => {
    expect(facts({ route: 'sort', provider: { sort: 'price' } }).provider.sort).toEqual({ by: 'price', partition: 'none' });
    expect(facts({ route: 'sort', provider: { sort: { by: 'price', partition: 'model' } } }).provider.sort).toEqual({ by: 'price', partition: 'model' });
    expect(facts({ route: 'fallback', provider: { sort: { by: 'latency' } } }).provider.sort).toEqual({ by: 'latency', partition: 'model' });
    expect(facts({ provider: null }).provider).toEqual({});
    expect(failure({ messages, route: 'random' }).param).toBe('route');
  });

  it.each([
    [{ order: 'openai' }, 'provider.order'],
    [{ only: [''] }, 'provider.only'],
    [{ allow_fallbacks: 'no' }, 'provider.allow_fallbacks'],
    [{ data_collection: 'maybe' }, 'provider.data_collection'],
    [{ sort: 'exacto' }, 'provider.sort'],
    [{ sort: { by: 'price', partition: 'all' } }, 'provider.sort.partition'],
    [{ max_price: { prompt: -1 } }, 'provider.max_price.prompt'],
    [{ max_price: { prompt: 'cheap' } }, 'provider.max_price.prompt'],
    [{ max_price: { tokens: 1 } }, 'provider.max_price.tokens'],
    [{ quantizations: ['fp3'] }, 'provider.quantizations'],
    [{ preferred_min_throughput: { p42: 1 } }, 'provider.preferred_min_throughput.p42'],
    [{ preferred_max_latency: -1 }, 'provider.preferred_max_latency'],
    [{ ordr: ['openai'] }, 'provider.ordr'],
  ])('rejects %j naming %s', (provider, param) => {
    const error = failure({ messages, provider });
    expect(error).toMatchObject({ status: 400, code: 'invalid_provider_preferences', param });
    expect(error.message).toContain(param);
  });
});

describe('facts schema', () => {
  it('produces facts that validate against schemas/facts.v1.schema.json', async () => {
    const { readFileSync } = await import('node:fs');
    const { default: Ajv } = await import('ajv');
    const schema = JSON.parse(readFileSync(new URL('../../schemas/facts.v1.schema.json', import.meta.url), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true }).compile(schema);
    const bodies: Array<Record<string, unknown>> = [
      {},
      { model: 'a/b:free', models: ['c/d'], max_tokens: 10, tools: [{}], tool_choice: 'auto', response_format: { type: 'json_object' }, stream: true, user: 'u' },
      {
        messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'image_url', image_url: { url: 'y' } }] }],
        provider: { order: ['a'], sort: 'latency', max_price: { prompt: '1' }, quantizations: ['fp8'], preferred_min_throughput: 10, preferred_max_latency: { p90: 3 } },
        session_id: 's',
      },
    ];
    for (const body of bodies) {
      const result = facts(body, { 'x-switchyard-tags': 'a,b', 'x-tenant': 't' }, ['x-tenant']);
      expect(validate(result), JSON.stringify(validate.errors)).toBe(true);
    }
  });
});
