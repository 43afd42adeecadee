import { expect } from 'vitest';
import { createAnthropicAdapter } from '../../sidecar/providers/anthropic/adapter.ts';
import { anthropicError, anthropicFixture, anthropicStream, startFakeAnthropic } from '../fakes/fake-anthropic.ts';
import { IMAGE_URL, PNG_BASE64, WEATHER_SCHEMA, httpConformanceFake, runAdapterConformance } from './adapter.case.ts';

const CREDENTIAL = 'sk-ant-conformance-0123456789';

runAdapterConformance({
  name: 'anthropic',
  createAdapter: () => createAnthropicAdapter(),
  fake: httpConformanceFake({
    start: (script) => startFakeAnthropic({ script }),
    provider: (url) => ({
      id: 'anthropic',
      name: 'Anthropic',
      protocol: 'anthropic',
      base_url: `${url}/v1`,
      data_policy: { trains_on_prompts: false, retention_days: 30, zdr: false },
      region: 'us',
      status: 'active',
    }),
    credential: CREDENTIAL,
    steps: {
      text: { body: anthropicFixture('text.json') },
      'text-stream': anthropicStream('text.chunks.txt', { lineEnding: '\r\n' }),
      'tool-call': { body: anthropicFixture('tool-call.json') },
      'tool-call-stream': anthropicStream('tool-call.chunks.txt'),
      'parallel-tool-calls': { body: anthropicFixture('parallel-tool-calls.json') },
      'parallel-tool-calls-stream': anthropicStream('parallel-tool-calls.chunks.txt'),
      'usage-details': { body: anthropicFixture('usage-details.json') },
      'usage-cache-write': { body: anthropicFixture('usage-details.json') },
      'reasoning-stream': anthropicStream('reasoning.chunks.txt'),
      'finish-length': { body: anthropicFixture('finish-length.json') },
      'finish-content-filter': { body: anthropicFixture('finish-refusal.json') },
      'structured-output': { body: anthropicFixture('structured-output.json') },
      'image-input': { body: anthropicFixture('text.json') },
      'rate-limit-429': anthropicError(429, 'error-rate-limit.json', { 'retry-after': '2', 'anthropic-ratelimit-requests-remaining': '0' }),
      'overloaded-529': anthropicError(529, 'error-overloaded.json'),
      'server-error-5xx': anthropicError(500, 'error-api.json'),
      'server-error-stream': anthropicError(500, 'error-api.json'),
      'invalid-request-400': anthropicError(400, 'error-invalid-request.json'),
      'unauthorized-401': anthropicError(401, 'error-authentication.json'),
      'context-length': anthropicError(400, 'error-prompt-too-long.json'),
      'connection-reset': { reset: true },
      'malformed-chunk': anthropicStream('malformed.chunks.txt'),
      'mid-stream-cut': anthropicStream('long.chunks.txt', { cutAfter: 4 }),
      'mid-stream-error-event': anthropicStream('stream-error.chunks.txt'),
      'abort-stream': anthropicStream('long.chunks.txt', { chunkDelayMs: 200 }),
      'abort-generate': { hang: true },
    },
  }),
  verifyRequest: {
    'structured-output': (body, call) => {
      expect(call.url).toBe('/v1/messages');
      expect(call.headers['x-api-key']).toBe(CREDENTIAL);
      expect(call.headers['anthropic-version']).toBe('2023-06-01');
      expect(body).toMatchObject({
        model: 'fake-model',
        max_tokens: 64,
        output_config: { format: { type: 'json_schema', schema: WEATHER_SCHEMA } },
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Weather in Oslo as JSON.' }] }],
      });
    },
    text: (body) => {
      // System lifted out of the messages; max_tokens always present.
      expect(body).toMatchObject({ system: [{ type: 'text', text: 'Answer tersely.' }], max_tokens: 64, messages: [{ role: 'user' }] });
      expect((body as { messages: unknown[] }).messages).toHaveLength(1);
    },
    'tool-call': (body) => {
      expect(body).toMatchObject({ tools: [{ name: 'get_weather', input_schema: { type: 'object' } }], tool_choice: { type: 'any' } });
    },
    'image-input': (body) => {
      expect(body).toMatchObject({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe both images.' },
              { type: 'image', source: { type: 'url', url: IMAGE_URL } },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_BASE64 } },
            ],
          },
        ],
      });
    },
  },
});
