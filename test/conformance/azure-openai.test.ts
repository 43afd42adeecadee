import { expect } from 'vitest';
import { createAzureOpenAIAdapter } from '../../sidecar/providers/azure-openai/adapter.ts';
import { loadChunks, loadJson } from '../fakes/fake-upstream.ts';
import { openAIError, openAIFixture, openAIStream, startFakeOpenAI } from '../fakes/fake-openai.ts';
import { IMAGE_URL, WEATHER_SCHEMA, httpConformanceFake, runAdapterConformance } from './adapter.case.ts';

const CREDENTIAL = 'azure-conformance-key-0123456789abcdef';
const AZURE_FIXTURES = new URL('../../sidecar/providers/azure-openai/__fixtures__/', import.meta.url);

runAdapterConformance({
  name: 'azure-openai',
  createAdapter: () => createAzureOpenAIAdapter(),
  fake: httpConformanceFake({
    start: (script) => startFakeOpenAI({ script }),
    provider: (url) => ({
      id: 'azure',
      name: 'Azure',
      protocol: 'azure-openai',
      base_url: url,
      data_policy: { trains_on_prompts: false, retention_days: 30, zdr: false },
      region: 'eu',
      status: 'active',
      options: { api_version: '2024-10-21' },
    }),
    credential: CREDENTIAL,
    steps: {
      text: { body: openAIFixture('text.json') },
      // Azure's own stream: empty first chunk with prompt_filter_results, a chunk without delta.
      'text-stream': { stream: loadChunks(new URL('text.chunks.txt', AZURE_FIXTURES)) },
      'tool-call': { body: openAIFixture('tool-call.json') },
      'tool-call-stream': openAIStream('tool-call.chunks.txt'),
      'parallel-tool-calls': { body: openAIFixture('parallel-tool-calls.json') },
      'parallel-tool-calls-stream': openAIStream('parallel-tool-calls.chunks.txt'),
      'usage-details': { body: openAIFixture('usage-details.json') },
      'usage-cache-write': { body: openAIFixture('usage-details.json') },
      'reasoning-stream': openAIStream('reasoning.chunks.txt'),
      'finish-length': { body: openAIFixture('finish-length.json') },
      'finish-content-filter': { body: openAIFixture('finish-content-filter.json') },
      'structured-output': { body: openAIFixture('structured-output.json') },
      'image-input': { body: openAIFixture('text.json') },
      // Azure sends all three; the millisecond header wins.
      'rate-limit-429': { status: 429, body: loadJson(new URL('rate-limit.json', AZURE_FIXTURES)), headers: { 'retry-after': '3', 'x-ms-retry-after-ms': '2000' } },
      'overloaded-529': { status: 529, body: openAIFixture('error-server.json') },
      'server-error-5xx': { status: 500, body: openAIFixture('error-server.json') },
      'server-error-stream': { status: 503, body: openAIFixture('error-server.json') },
      'invalid-request-400': { status: 400, body: openAIFixture('error-invalid-request.json') },
      'unauthorized-401': openAIError(401, 'Access denied due to invalid subscription key or wrong API endpoint.', {}, '401'),
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
    'structured-output': (body, call) => {
      expect(call.url).toBe('/openai/deployments/fake-model/chat/completions?api-version=2024-10-21');
      expect(body).toMatchObject({ response_format: { type: 'json_schema', json_schema: { schema: WEATHER_SCHEMA } } });
      // The deployment in the path picks the model.
      expect(body).not.toHaveProperty('model');
    },
    'image-input': (body, call) => {
      expect(call.headers['api-key']).toBe(CREDENTIAL);
      expect(call.headers['authorization']).toBeUndefined();
      expect(call.url).toContain('/openai/deployments/vision-model/');
      expect(JSON.stringify(body)).toContain(IMAGE_URL);
    },
  },
});
