import { context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { globalTracingRegistered, NOOP_SPAN, NOOP_TRACER } from './noop.ts';

describe('the no-op tracer', () => {
  afterAll(() => trace.disable());

  it('hands out one shared span that records nothing', () => {
    const span = NOOP_TRACER.startSpan('x');
    expect(span).toBe(NOOP_SPAN);
    expect(span.isRecording()).toBe(false);
    expect(NOOP_TRACER.startActiveSpan('y', (active) => active)).toBe(NOOP_SPAN);
    expect(NOOP_TRACER.startActiveSpan('z', {}, context.active(), (active) => active === NOOP_SPAN)).toBe(true);
  });

  it('is chosen only while no tracer provider is registered', () => {
    expect(globalTracingRegistered()).toBe(false);
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    expect(globalTracingRegistered()).toBe(true);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
