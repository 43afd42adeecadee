import { parseDurationMs, type UpstreamErrorDetails } from '../http.ts';
import type { GeminiWireError } from './api-types.ts';

/** Reads `{"error":{code,message,status,details}}`, including RetryInfo's `retryDelay`. */
export function parseGeminiError(body: unknown): UpstreamErrorDetails {
  const wrapped = Array.isArray(body) ? (body[0] as unknown) : body;
  if (typeof wrapped !== 'object' || wrapped === null) return {};
  const error = (wrapped as { error?: GeminiWireError | null }).error;
  if (error === null || error === undefined) return {};
  const retryInfo = error.details?.find((detail) => detail['@type']?.endsWith('google.rpc.RetryInfo') === true);
  const reasons = (error.details ?? []).map((detail) => detail.reason).filter((reason): reason is string => typeof reason === 'string');
  return {
    message: error.message ?? undefined,
    code: [error.status, ...reasons].filter((code) => typeof code === 'string' && code !== '').join(' ') || undefined,
    retryAfterMs: parseDurationMs(retryInfo?.retryDelay),
  };
}
