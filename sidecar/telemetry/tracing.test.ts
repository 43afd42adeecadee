import { describe, expect, it } from 'vitest';
import { setUpTracing, tracingWanted } from './tracing.ts';

describe('tracingWanted', () => {
  it('is off by default and on when an OTLP endpoint is set', () => {
    expect(tracingWanted('auto', {})).toBe(false);
    expect(tracingWanted('auto', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingWanted('auto', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
  });

  it('honours the explicit switches and the standard kill switches', () => {
    expect(tracingWanted('on', {})).toBe(true);
    expect(tracingWanted('off', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(false);
    expect(tracingWanted('on', { OTEL_SDK_DISABLED: 'true' })).toBe(false);
    expect(tracingWanted('auto', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
  });

  it('hands out a non-recording tracer when off', async () => {
    const tracing = await setUpTracing({ mode: 'off', serviceName: 'test', env: {} });
    expect(tracing.exporting).toBe(false);
    const span = tracing.tracer.startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
  });
});
