/**
 * The one place where failures become HTTP answers.
 *
 * Every error reaches the client as OpenRouter's envelope `{ error: { code, message, metadata } }`,
 * where `code` is the HTTP status (as OpenRouter sends it) and `metadata.error_type` is one of the
 * stable codes below. The README's error table is checked against `SIDECAR_ERROR_CODES` by a test.
 */
import type { Logger } from '../logger.ts';

/** Stable error types, the HTTP status each answers with, and what it means. */
export const SIDECAR_ERROR_CODES = {
  invalid_request: { status: 400, meaning: 'The body is not valid JSON, or a field has the wrong type, or is unknown.' },
  context_length_exceeded: { status: 400, meaning: 'The prompt does not fit any endpoint that could serve it.' },
  content_policy_violation: { status: 400, meaning: 'Every provider that was tried refused the content.' },
  authentication: { status: 401, meaning: 'Missing or wrong gateway key (`Authorization: Bearer ...`).' },
  payment_required: { status: 402, meaning: 'A budget cannot fit this request.' },
  insufficient_credits: { status: 402, meaning: "The key's credit limit or a policy budget cannot hold this request's worst case; the message says what max_tokens would fit." },
  forbidden: { status: 403, meaning: 'No gateway keys are configured and the request was not addressed to localhost.' },
  management_key_required: { status: 403, meaning: 'The key-management API takes a management key (`switchyard keys create --management`).' },
  not_found: { status: 404, meaning: 'Unknown route, or unknown generation id.' },
  model_not_found: { status: 404, meaning: 'The requested model is not in the catalog.' },
  no_endpoints: { status: 404, meaning: 'No endpoint satisfies the request and the policy; `metadata.excluded` says why.' },
  timeout: { status: 408, meaning: 'The providers did not answer within the deadlines.' },
  payload_too_large: { status: 413, meaning: 'The body is larger than `server.body_limit_bytes`.' },
  rate_limit_exceeded: { status: 429, meaning: 'Every provider tried was rate limited; see `Retry-After`.' },
  key_rate_limited: { status: 429, meaning: "The key's requests or tokens per minute are used up; see `Retry-After` and `X-RateLimit-*`." },
  server: { status: 500, meaning: 'An unexpected error; details are in the gateway log, never in the response.' },
  provider_error: { status: 502, meaning: 'The provider failed or answered badly; `metadata.provider_name` and `metadata.raw` say how.' },
  provider_unavailable: { status: 503, meaning: 'No provider could be called (no adapter or credential for any planned endpoint).' },
  accounting_unavailable: { status: 503, meaning: 'Redis (budgets, limits) is unreachable and `accounting.fail` is `closed`.' },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type SidecarErrorType = keyof typeof SIDECAR_ERROR_CODES;

/** The wire shape of every error. */
export interface ErrorEnvelope {
  error: {
    /** HTTP status, as OpenRouter sends it. */
    code: number;
    message: string;
    metadata: { error_type: string } & Record<string, unknown>;
  };
}

/** An error the gateway means to show the client. Anything else is a 500 that leaks nothing. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly errorType: SidecarErrorType;
  readonly status: number;
  readonly metadata: Record<string, unknown>;
  /** Sent as `Retry-After` (seconds) when set. */
  readonly retryAfterSeconds: number | undefined;

  constructor(errorType: SidecarErrorType, message: string, metadata: Record<string, unknown> = {}, retryAfterSeconds?: number) {
    super(message);
    this.errorType = errorType;
    this.status = SIDECAR_ERROR_CODES[errorType].status;
    this.metadata = metadata;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What to send for an error: status, headers and the envelope. */
export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: ErrorEnvelope;
}

/** Errors body-parser raises, recognised by their `type`. */
interface BodyParserError {
  type: string;
  status?: number;
  message: string;
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string' && 'expose' in error;
}

function fromBodyParser(error: BodyParserError): GatewayError {
  switch (error.type) {
    case 'entity.parse.failed':
      return new GatewayError('invalid_request', `Malformed JSON body: ${error.message}`, { param: 'body' });
    case 'entity.too.large':
      return new GatewayError('payload_too_large', `Request body is larger than the limit of ${error.limit ?? 'the configured'} bytes.`, {
        limit_bytes: error.limit ?? null,
      });
    default:
      return new GatewayError('invalid_request', `Unreadable request body (${error.type}).`, { param: 'body' });
  }
}

/** Map any thrown value to the response the client gets. Unknown errors are logged, never echoed. */
export function errorResponse(error: unknown, logger: Logger): ErrorResponse {
  const gatewayError = error instanceof GatewayError ? error : isBodyParserError(error) ? fromBodyParser(error) : undefined;
  if (!gatewayError) {
    logger.error({ err: error }, 'unexpected error while handling a request');
    return envelope(new GatewayError('server', 'Internal server error.'));
  }
  return envelope(gatewayError);
}

function envelope(error: GatewayError): ErrorResponse {
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
  return {
    status: error.status,
    headers,
    body: { error: { code: error.status, message: error.message, metadata: { error_type: error.errorType, ...error.metadata } } },
  };
}
