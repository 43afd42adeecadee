import { expect } from 'vitest';
import { createGeminiAdapter } from '../../sidecar/providers/gemini/adapter.ts';
import { geminiError, geminiFixture, geminiStream, startFakeGemini } from '../fakes/fake-gemini.ts';
import { IMAGE_URL, PNG_BASE64, httpConformanceFake, runAdapterConformance } from './adapter.case.ts';

const CREDENTIAL = 'AIzaConformanceKey0123456789abcdefghij';

runAdapterConformance({
  name: 'gemini',
  createAdapter: () => createGeminiAdapter(),
  fake: httpConformanceFake({
    start: (script) => startFakeGemini({ script }),
    provider: (url) => ({
      id: 'google-ai-studio',
      name: 'Google AI Studio',
      protocol: 'gemini',
      base_url: `${url}/v1beta`,
      data_policy: { trains_on_prompts: false, retention_days: 55, zdr: false },
      region: 'us',
      status: 'active',
    }),
    credential: CREDENTIAL,
    steps: {
      text: { body: geminiFixture('text.json') },
      'text-stream': geminiStream('text.chunks.txt'),
      'tool-call': { body: geminiFixture('tool-call.json') },
      'tool-call-stream': geminiStream('tool-call.chunks.txt'),
      'parallel-tool-calls': { body: geminiFixture('parallel-tool-calls.json') },
      'parallel-tool-calls-stream': geminiStream('parallel-tool-calls.chunks.txt'),
      'usage-details': { body: geminiFixture('usage-details.json') },
      'usage-cache-write': undefined,
      'reasoning-stream': geminiStream('reasoning.chunks.txt'),
      'finish-length': { body: geminiFixture('finish-length.json') },
      'finish-content-filter': { body: geminiFixture('finish-safety.json') },
      'structured-output': { body: geminiFixture('structured-output.json') },
      'image-input': { body: geminiFixture('text.json') },
      // No Retry-After header: the delay comes from RetryInfo in the body.
      'rate-limit-429': geminiError(429, 'error-rate-limit.json'),
      'overloaded-529': { status: 529, body: geminiFixture('error-unavailable.json') },
      'server-error-5xx': geminiError(503, 'error-unavailable.json'),
      'server-error-stream': geminiError(500, 'error-internal.json'),
      'invalid-request-400': geminiError(400, 'error-invalid-argument.json'),
      'unauthorized-401': geminiError(401, 'error-unauthenticated.json'),
      'context-length': geminiError(400, 'error-context-length.json'),
      'connection-reset': { reset: true },
      'malformed-chunk': geminiStream('malformed.chunks.txt'),
      'mid-stream-cut': geminiStream('long.chunks.txt', { cutAfter: 3 }),
      'mid-stream-error-event': geminiStream('stream-error.chunks.txt'),
      'abort-stream': geminiStream('long.chunks.txt', { chunkDelayMs: 200 }),
      'abort-generate': { hang: true },
    },
  }),
  skip: [
    {
      reason: 'Gemini reports no cache writes: explicit caches are created out of band (cachedContents), implicit caching only reports reads',
      tests: ['usage-cache-write'],
    },
  ],
  verifyRequest: {
    text: (body, call) => {
      expect(call.url).toBe('/v1beta/models/fake-model:generateContent');
      expect(call.headers['x-goog-api-key']).toBe(CREDENTIAL);
      expect(body).toEqual({
        systemInstruction: { parts: [{ text: 'Answer tersely.' }] },
        contents: [{ role: 'user', parts: [{ text: 'Say hello.' }] }],
        generationConfig: { maxOutputTokens: 64 },
      });
    },
    'text-stream': (_body, call) => {
      expect(call.url).toBe('/v1beta/models/fake-model:streamGenerateContent?alt=sse');
    },
    'tool-call': (body) => {
      expect(body).toMatchObject({
        tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY' } },
      });
    },
    'structured-output': (body) => {
      expect(body).toMatchObject({ generationConfig: { responseMimeType: 'application/json', responseSchema: { type: 'object', required: ['city', 'temp_c'] } } });
      // Gemini's schema subset rejects additionalProperties.
      expect(JSON.stringify(body)).not.toContain('additionalProperties');
    },
    'image-input': (body) => {
      expect(body).toMatchObject({
        contents: [
          {
            role: 'user',
            parts: [
              { text: 'Describe both images.' },
              { fileData: { mimeType: 'image/png', fileUri: IMAGE_URL } },
              { inlineData: { mimeType: 'image/png', data: PNG_BASE64 } },
            ],
          },
        ],
      });
    },
  },
});
