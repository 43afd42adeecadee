import { describe, expect, it } from 'vitest';
import { dropParameters, parseDataUrl, parseToolArguments, usageOf } from './common.ts';
import type { ChatRequest } from './spec.ts';

const request: ChatRequest = {
  messages: [{ role: 'user', content: 'x' }],
  max_tokens: 10,
  max_completion_tokens: 12,
  tools: [{ type: 'function', function: { name: 'f' } }],
  tool_choice: 'auto',
  response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
};

describe('dropParameters', () => {
  it('removes every field an OpenRouter parameter covers, one warning each', () => {
    const { request: dropped, warnings } = dropParameters(request, ['max_tokens', 'tools']);
    expect(dropped).not.toHaveProperty('max_tokens');
    expect(dropped).not.toHaveProperty('max_completion_tokens');
    expect(dropped).not.toHaveProperty('tools');
    expect(dropped).not.toHaveProperty('tool_choice');
    expect(warnings).toHaveLength(4);
    expect(request.max_tokens).toBe(10);
  });

  it('downgrades json_schema to json_object when only structured outputs are missing', () => {
    const { request: dropped, warnings } = dropParameters(request, ['structured_outputs']);
    expect(dropped.response_format).toEqual({ type: 'json_object' });
    expect(warnings[0]).toMatch(/json_object/);
  });

  it('returns the request untouched when nothing is dropped', () => {
    expect(dropParameters(request, []).request).toBe(request);
  });
});

describe('helpers', () => {
  it('parse data URLs, tool arguments and usage without inventing zeros', () => {
    expect(parseDataUrl('data:image/png;base64,AAAA')).toEqual({ mediaType: 'image/png', data: 'AAAA' });
    expect(parseDataUrl('https://example.com/a.png')).toBeUndefined();
    expect(parseToolArguments('')).toEqual({});
    expect(parseToolArguments('[1]')).toEqual({ value: [1] });
    expect(parseToolArguments('{oops')).toEqual({ raw_arguments: '{oops' });
    expect(usageOf({ prompt_tokens: 3, completion_tokens: null, cached_tokens: undefined })).toEqual({ prompt_tokens: 3 });
  });
});
