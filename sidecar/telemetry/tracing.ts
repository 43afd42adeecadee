/**
 * Tracing set-up from the standard OTEL_* variables: OTLP over HTTP, batched, off by default.
 *
 * `auto` exports only when an OTLP endpoint variable is set; `on` always (the exporter's defaults,
 * http://localhost:4318); `off`, `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` never.
 * Spans carry no prompt text and no secrets.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { globalTracingRegistered, NOOP_TRACER } from './noop.ts';

export interface Tracing {
  tracer: Tracer;
  /** Whether spans leave the process. */
  exporting: boolean;
  /** Flush and stop; call on shutdown. */
  shutdown(): Promise<void>;
}

/** Standard variables the exporter reads (documented in the README). */
export const OTEL_ENVIRONMENT = [
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_TRACES_EXPORTER',
  'OTEL_SDK_DISABLED',
] as const;

export function tracingWanted(mode: 'auto' | 'on' | 'off', env: Record<string, string | undefined>): boolean {
  if (mode === 'off' || env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  if (mode === 'on') return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** The SDK and exporter are loaded only when tracing is on: they cost memory even when idle. */
export async function setUpTracing(options: { mode: 'auto' | 'on' | 'off'; serviceName: string; env: Record<string, string | undefined> }): Promise<Tracing> {
  if (!tracingWanted(options.mode, options.env)) {
    // A host that registered its own tracer provider (auto-instrumentation) still gets our spans.
    return { tracer: globalTracingRegistered() ? trace.getTracer('switchyard') : NOOP_TRACER, exporting: false, shutdown: async () => undefined };
  }
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor }, { NodeTracerProvider }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // Registers the W3C trace-context propagator too, so an app's trace continues through us.
  provider.register();
  return { tracer: provider.getTracer('switchyard'), exporting: true, shutdown: () => provider.shutdown() };
}
