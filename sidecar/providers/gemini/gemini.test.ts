import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSse } from '../http.ts';
import type { ChatRequest, StreamPart } from '../spec.ts';
import { convertToGeminiRequest, decodeGeminiToolCallId, SKIP_THOUGHT_SIGNATURE, toGeminiSchema } from './request.ts';
import { convertGeminiResponse } from './response.ts';
import { mapGeminiStream } from './stream.ts';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8')) as unknown;

function convert(request: ChatRequest, upstreamModel = 'gemini-2.5-flash') {
  return convertToGeminiRequest({ request, upstreamModel, dropped: [], options: { inlineSystem: upstreamModel.startsWith('gemma'), safetySettings: undefined } });
}

describe('gemini responses', () => {
  it('reports a blocked prompt as content_filter with no content', () => {
    const result = convertGeminiResponse(fixture('prompt-blocked.json'), [], true);
    expect(result.finish_reason).toBe('content_filter');
    expect(result.native_finish_reason).toBe('PROHIBITED_CONTENT');
    expect(result.message.content).toBeNull();
    expect(result.usage.prompt_tokens).toBe(11);
  });

  it('keeps the thought signature inside the tool-call id and sends it back on the next turn', () => {
    const result = convertGeminiResponse(fixture('tool-call.json'), [], true);
    const call = result.message.tool_calls?.[0];
    expect(call).toBeDefined();
    expect(decodeGeminiToolCallId(call?.id ?? '').signature).toBe('c2lnLW1vY2s=');
    expect(result.usage).toEqual({ prompt_tokens: 29, completion_tokens: 60, reasoning_tokens: 45 });
    const { body } = convert({
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: null, tool_calls: call === undefined ? [] : [call] },
        { role: 'tool', tool_call_id: call?.id ?? '', content: '{"temp_c":4}' },
      ],
    });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather in Oslo?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'c2lnLW1vY2s=' }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp_c: 4 } } }] },
    ]);
  });

  it('uses the documented sentinel for Gemini 3 calls replayed without a signature', () => {
    const { body } = convert(
      { messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'call_other', type: 'function', function: { name: 'f', arguments: '{}' } }] }] },
      'gemini-3-pro-preview',
    );
    expect(body.contents[0]?.parts[0]?.thoughtSignature).toBe(SKIP_THOUGHT_SIGNATURE);
  });

  it('ends a blocked stream with content_filter', async () => {
    const sse = `data: ${JSON.stringify(fixture('prompt-blocked.json'))}\r\n\r\n`;
    const parts: StreamPart[] = [];
    for await (const part of mapGeminiStream(readSse([sse]), { credential: undefined, exposeReasoning: true })) parts.push(part);
    expect(parts).toEqual([{ type: 'finish', finish_reason: 'content_filter', native_finish_reason: 'PROHIBITED_CONTENT', usage: { prompt_tokens: 11 }, upstream_id: 'resp-fake-blocked' }]);
  });
});

describe('gemini requests', () => {
  it('sanitises JSON Schema to the OpenAPI subset', () => {
    expect(
      toGeminiSchema({
        $schema: 'x',
        type: 'object',
        additionalProperties: false,
        properties: { name: { type: ['string', 'null'] }, kind: { anyOf: [{ type: 'integer' }, { type: 'null' }] } },
      }),
    ).toEqual({ type: 'object', properties: { name: { type: 'string', nullable: true }, kind: { type: 'integer', nullable: true } } });
  });

  it('maps sampling, stop, json mode, tool choice by name and thinking', () => {
    const { body, warnings } = convert({
      messages: [{ role: 'user', content: 'x' }],
      temperature: 0.3,
      top_p: 0.9,
      top_k: 20,
      max_completion_tokens: 100,
      stop: 'END',
      seed: 5,
      response_format: { type: 'json_object' },
      tools: [{ type: 'function', function: { name: 'f' } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      reasoning: { effort: 'low' },
      user: 'u',
    });
    expect(body.generationConfig).toEqual({
      temperature: 0.3,
      topP: 0.9,
      topK: 20,
      maxOutputTokens: 100,
      stopSequences: ['END'],
      seed: 5,
      responseMimeType: 'application/json',
      thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 },
    });
    expect(body.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } });
    expect(warnings.some((warning) => warning.includes('user'))).toBe(true);
  });

  it('inlines the system prompt for Gemma, which has no systemInstruction', () => {
    const { body } = convert({ messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }] }, 'gemma-3-27b-it');
    expect(body.systemInstruction).toBeUndefined();
    expect(body.contents[0]?.parts).toEqual([{ text: 'Be brief.' }, { text: 'Hi' }]);
  });
});
