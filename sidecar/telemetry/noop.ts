/**
 * The tracer Switchyard uses when no span can leave the process (tracing off and no tracer
 * provider registered by the host): one shared, non-recording span for everything, so the request
 * path allocates no span, no context and reads no propagation headers.
 */
import { INVALID_SPAN_CONTEXT, isSpanContextValid, trace, type Span, type Tracer } from '@opentelemetry/api';

export const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export const NOOP_TRACER: Tracer = {
  startSpan: () => NOOP_SPAN,
  startActiveSpan: ((_name: string, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (span: Span) => unknown;
    return callback(NOOP_SPAN);
  }) as Tracer['startActiveSpan'],
};

/**
 * Whether the global tracer provider would record anything: false when nothing registered one
 * (the API's no-op tracer hands out spans with an invalid context). A registered SDK always makes
 * valid span contexts, sampled or not.
 */
export function globalTracingRegistered(): boolean {
  // Never ended, so never exported.
  const probe = trace.getTracer('switchyard-probe').startSpan('probe');
  return isSpanContextValid(probe.spanContext());
}
