import { describe, expect, it } from 'vitest';
import { estimatePromptTokens } from '../../engine/index.ts';
import { embeddingRequest, estimateInputTokens, parseCompletionsBody, parseEmbeddingsBody, textCompletionRequest } from './embeddings-and-completions-body.ts';
import { GatewayError } from './errors.ts';

function paramOf(parse: () => unknown): unknown {
  try {
    parse();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(400);
    return (error as GatewayError).metadata.param;
  }
}

describe('parseEmbeddingsBody', () => {
  it.each([['text'], [['a', 'b']], [[1, 2, 3]], [[[1, 2], [3]]]])('accepts input %j', (input) => {
    expect(parseEmbeddingsBody({ model: 'm', input }).input).toEqual(input);
  });

  it.each([[42], [''], [[]], [['a', 1]], [[[1], ['x']]], [undefined]])('rejects input %j naming the field', (input) => {
    expect(paramOf(() => parseEmbeddingsBody({ model: 'm', input }))).toBe('input');
  });

  it('rejects a bad encoding_format, dimensions or a stream', () => {
    expect(paramOf(() => parseEmbeddingsBody({ input: 'x', encoding_format: 'hex' }))).toBe('encoding_format');
    expect(paramOf(() => parseEmbeddingsBody({ input: 'x', dimensions: 0 }))).toBe('dimensions');
    expect(paramOf(() => parseEmbeddingsBody({ input: 'x', stream: true }))).toBe('stream');
  });

  it('keeps only embedding fields for the adapter (routing fields stay with the gateway)', () => {
    const body = parseEmbeddingsBody({ model: 'm', provider: { order: ['x'] }, input: 'x', dimensions: 8, user: 'u', encoding_format: 'base64' });
    expect(embeddingRequest(body)).toEqual({ input: 'x', dimensions: 8, user: 'u', encoding_format: 'base64' });
  });
});

describe('parseCompletionsBody', () => {
  it('accepts a prompt string or strings and keeps completion fields for the adapter', () => {
    const body = parseCompletionsBody({ model: 'm', models: ['n'], prompt: ['a', 'b'], max_tokens: 5, stream: true, stop: '\n' });
    expect(textCompletionRequest(body)).toEqual({ prompt: ['a', 'b'], max_tokens: 5, stream: true, stop: '\n' });
  });

  it.each([
    [{ prompt: 5 }, 'prompt'],
    [{ prompt: 'x', max_tokens: 0 }, 'max_tokens'],
    [{ prompt: 'x', temperature: 3 }, 'temperature'],
    [{ prompt: 'x', stop: 7 }, 'stop'],
    [{ prompt: 'x', stream: 'yes' }, 'stream'],
  ])('rejects %j naming %s', (body, field) => {
    expect(paramOf(() => parseCompletionsBody(body))).toBe(field);
  });
});

describe('estimateInputTokens', () => {
  it('estimates text as the engine does, counts token ids, and sums arrays', () => {
    const one = estimatePromptTokens({ prompt: 'hello world' });
    expect(one).toBeGreaterThan(0);
    expect(estimateInputTokens('hello world')).toBe(one);
    expect(estimateInputTokens(['hello world', 'hello world'])).toBe(2 * one);
    expect(estimateInputTokens([5, 6, 7])).toBe(3);
    expect(estimateInputTokens([[5, 6], [7]])).toBe(3);
    expect(estimateInputTokens(undefined)).toBe(0);
  });
});
