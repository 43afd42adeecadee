import type { UpstreamErrorDetails } from '../http.ts';
import type { AnthropicWireErrorBody } from './api-types.ts';

/** Reads `{"type":"error","error":{type,message}}`; the error type is the code. */
export function parseAnthropicError(body: unknown): UpstreamErrorDetails {
  if (typeof body !== 'object' || body === null) return {};
  const wire = body as AnthropicWireErrorBody;
  return { message: wire.error?.message ?? undefined, code: wire.error?.type ?? undefined };
}

/**
 * The HTTP status an error type stands for, used for `event: error` frames that arrive after the
 * 200 (https://docs.claude.com/en/api/errors).
 */
const STATUS_BY_TYPE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The status for an in-stream error type; unknown types count as 500. */
export function anthropicStatusForErrorType(type: string | null | undefined): number {
  return (type === null || type === undefined ? undefined : STATUS_BY_TYPE[type]) ?? 500;
}
