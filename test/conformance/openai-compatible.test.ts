import { expect } from 'vitest';
import { createOpenAICompatibleAdapter } from '../../sidecar/providers/openai-compatible/adapter.ts';
import { openAIError, openAIFixture, openAIStream, startFakeOpenAI } from '../fakes/fake-openai.ts';
import { IMAGE_URL, PNG_BASE64, WEATHER_SCHEMA, httpConformanceFake, runAdapterConformance } from './adapter.case.ts';

const CREDENTIAL = 'sk-conformance-secret-1234567890';

runAdapterConformance({
  name: 'openai-compatible',
  createAdapter: () => createOpenAICompatibleAdapter(),
  fake: httpConformanceFake({
    start: (script) => startFakeOpenAI({ script }),
    provider: (url) => ({
      id: 'openai',
      name: 'OpenAI',
      protocol: 'openai-compatible',
      base_url: `${url}/v1`,
      data_policy: { trains_on_prompts: false, retention_days: 30, zdr: false },
      region: 'us',
      status: 'active',
    }),
    credential: CREDENTIAL,
    steps: {
      text: { body: openAIFixture('text.json') },
      'text-stream': openAIStream('text.chunks.txt'),
      'tool-call': { body: openAIFixture('tool-call.json') },
      'tool-call-stream': openAIStream('tool-call.chunks.txt'),
      'parallel-tool-calls': { body: openAIFixture('parallel-tool-calls.json') },
      'parallel-tool-calls-stream': openAIStream('parallel-tool-calls.chunks.txt'),
      'usage-details': { body: openAIFixture('usage-details.json') },
      'usage-cache-write': { body: openAIFixture('usage-details.json') },
      'reasoning-stream': openAIStream('reasoning.chunks.txt', { lineEnding: '\r\n' }),
      'finish-length': { body: openAIFixture('finish-length.json') },
      'finish-content-filter': { body: openAIFixture('finish-content-filter.json') },
      'structured-output': { body: openAIFixture('structured-output.json') },
      'image-input': { body: openAIFixture('text.json') },
      'rate-limit-429': { status: 429, body: openAIFixture('error-rate-limit.json'), headers: { 'retry-after': '2', 'x-ratelimit-remaining-requests': '0' } },
      'overloaded-529': { status: 529, body: openAIFixture('error-server.json') },
      'server-error-5xx': { status: 503, body: openAIFixture('error-server.json') },
      'server-error-stream': { status: 500, body: openAIFixture('error-server.json') },
      'invalid-request-400': { status: 400, body: openAIFixture('error-invalid-request.json') },
      'unauthorized-401': openAIError(401, `Incorrect API key provided: ${CREDENTIAL}.`, {}, 'invalid_api_key'),
      'context-length': { status: 400, body: openAIFixture('error-context-length.json') },
      'connection-reset': { reset: true },
      'malformed-chunk': openAIStream('malformed.chunks.txt'),
      'mid-stream-cut': openAIStream('long.chunks.txt', { cutAfter: 3 }),
      'mid-stream-error-event': openAIStream('stream-error.chunks.txt', { terminator: false }),
      'abort-stream': openAIStream('long.chunks.txt', { chunkDelayMs: 200 }),
      'abort-generate': { hang: true },
    },
  }),
  verifyRequest: {
    'structured-output': (body) => {
      expect(body).toMatchObject({ model: 'fake-model', response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: WEATHER_SCHEMA } } });
    },
    'image-input': (body, call) => {
      expect(call.url).toBe('/v1/chat/completions');
      expect(call.headers['authorization']).toBe(`Bearer ${CREDENTIAL}`);
      expect(body).toMatchObject({
        model: 'vision-model',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text' },
              { type: 'image_url', image_url: { url: IMAGE_URL } },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_BASE64}` } },
            ],
          },
        ],
      });
    },
  },
});
