/** The span tree of one request with a fallback, read back from an in-memory exporter. */
import { afterEach, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { openAIError, openAIFixture, startFakeOpenAI, type FakeUpstream } from '../fakes/fake-openai.ts';
import { startGateway, type GatewayHarness } from './support/gateway-harness.ts';

let alpha: FakeUpstream | undefined;
let beta: FakeUpstream | undefined;
let gateway: GatewayHarness | undefined;

afterEach(async () => {
  await gateway?.close();
  await alpha?.close();
  await beta?.close();
});

it('records request -> evaluate -> one CLIENT span per attempt, with GenAI attributes and no prompt text', async () => {
  alpha = await startFakeOpenAI({ script: [openAIError(500, 'The server had an error', {}, null, 'server_error')] });
  beta = await startFakeOpenAI({ script: [{ body: openAIFixture('text.json') }] });
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  gateway = await startGateway({ alpha, beta, tracer: provider.getTracer('test') });

  const prompt = 'A secret prompt about the quarterly numbers';
  const completion = await gateway.client.chat.completions.create({ model: 'test/model', messages: [{ role: 'user', content: prompt }] });

  const spans = exporter.getFinishedSpans();
  const root = spans.find((span) => span.kind === SpanKind.SERVER);
  expect(root?.name).toBe('POST /api/v1/chat/completions');
  expect(root?.attributes['switchyard.generation_id']).toBe(completion.id);
  expect(root?.attributes['http.response.status_code']).toBe(200);
  const children = spans.filter((span) => span.parentSpanContext?.spanId === root?.spanContext().spanId);
  expect(children.map((span) => span.name)).toEqual(['evaluate', 'chat test/model', 'chat test/model']);
  expect(spans.every((span) => span.spanContext().traceId === root?.spanContext().traceId)).toBe(true);

  const [evaluate, failed, served] = children;
  expect(evaluate?.attributes).toMatchObject({
    'routing.policy_id': 'test-policy',
    'routing.policy_version': gateway.policy.version,
    'routing.matched_rules': [],
    'routing.attempt_count': 2,
  });

  expect(failed?.kind).toBe(SpanKind.CLIENT);
  expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
  expect(failed?.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'alpha',
    'gen_ai.request.model': 'alpha-model',
    'error.type': '500',
    'switchyard.outcome': 'retryable',
  });

  expect(served?.kind).toBe(SpanKind.CLIENT);
  expect(served?.status.code).not.toBe(SpanStatusCode.ERROR);
  expect(served?.attributes).toMatchObject({
    'gen_ai.provider.name': 'beta',
    'gen_ai.request.model': 'beta-model',
    'gen_ai.response.model': 'beta-model',
    'gen_ai.usage.input_tokens': 11,
    'gen_ai.usage.output_tokens': 7,
    'gen_ai.response.finish_reasons': ['stop'],
    'switchyard.attempt': 2,
    'switchyard.outcome': 'ok',
  });
  expect(String(served?.attributes['switchyard.fallback_reason'])).toContain('test/model@alpha');
  expect(typeof served?.attributes['switchyard.latency_ms']).toBe('number');

  const everything = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })));
  expect(everything).not.toContain('quarterly');
  expect(everything).not.toContain('test-key-');
});
