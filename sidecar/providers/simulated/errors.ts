/**
 * Failures the simulated provider injects, shaped and classified exactly like real upstream
 * failures (the shared classifier decides the class), so fallback paths can be exercised locally.
 */
import { classifyHttpStatus, streamErrorPart } from '../http.ts';
import { ProviderCallError, type StreamPart } from '../spec.ts';
import type { SimulatedOptions } from './api-types.ts';

const MESSAGES: Record<number, string> = {
  400: 'Simulated invalid request.',
  401: 'Simulated invalid API key.',
  402: 'Simulated insufficient credits.',
  403: 'Simulated permission denied.',
  404: 'Simulated model not found.',
  408: 'Simulated request timeout.',
  429: 'Simulated rate limit exceeded.',
  500: 'Simulated internal error.',
  502: 'Simulated bad gateway.',
  503: 'Simulated service unavailable.',
  504: 'Simulated gateway timeout.',
  529: 'Simulated overload.',
};

/** An HTTP-style failure with an OpenAI-shaped body in `raw`. */
export function simulatedHttpError(status: number, options: SimulatedOptions, message = MESSAGES[status] ?? `Simulated HTTP ${status}.`): ProviderCallError {
  const details = { message, code: status === 400 && message.includes('context length') ? 'context_length_exceeded' : undefined };
  const retryable = status === 429 || status === 503 || status === 529;
  return new ProviderCallError({
    message: `Simulated provider returned HTTP ${status}: ${message}`,
    kind: 'http',
    errorClass: classifyHttpStatus(status, details),
    status,
    raw: JSON.stringify({ error: { message, type: 'simulated_error', param: null, code: details.code ?? null } }),
    ...(retryable ? { retryAfterMs: options.retry_after_ms } : {}),
  });
}

/**
 * The failure to inject before the first byte, if any: context overflow first (deterministic),
 * then one draw per configured failure kind, in key order.
 */
export function drawSimulatedFailure(options: SimulatedOptions, promptTokens: number, random: () => number): ProviderCallError | undefined {
  if (options.context_length !== undefined && promptTokens > options.context_length) {
    return simulatedHttpError(
      400,
      options,
      `This model's maximum context length is ${options.context_length} tokens. However, your messages resulted in ${promptTokens} tokens.`,
    );
  }
  for (const key of Object.keys(options.failure_rates).sort()) {
    const rate = options.failure_rates[key] ?? 0;
    if (rate <= 0 || random() >= rate) continue;
    if (key === 'connection') return new ProviderCallError({ message: 'Simulated connection reset', kind: 'connection', errorClass: 'retryable' });
    if (key === 'timeout') return new ProviderCallError({ message: 'Simulated upstream timeout', kind: 'timeout', errorClass: 'retryable' });
    const status = Number.parseInt(key, 10);
    if (Number.isInteger(status) && status >= 400 && status < 600) return simulatedHttpError(status, options);
  }
  return undefined;
}

/** The error part for a simulated mid-stream failure. */
export function simulatedMidStreamError(): StreamPart {
  return streamErrorPart({ message: 'Simulated upstream failure mid-stream', kind: 'connection', errorClass: 'retryable' });
}
