/**
 * HTTP headers for a rate-limit decision: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
 * `X-RateLimit-Reset` (epoch milliseconds, as OpenRouter sends it) for the request window, or for
 * the window that refused; plus `Retry-After` (seconds) on a refusal.
 */
import type { RateResult } from './accounting-state.ts';

export function rateLimitHeaders(result: RateResult): Record<string, string> {
  if (!result.ok && result.reason === 'state_unavailable') return {};
  const window = !result.ok && result.limited === 'tokens' ? result.tokens : (result.requests ?? result.tokens);
  const headers: Record<string, string> = {};
  if (window) {
    headers['X-RateLimit-Limit'] = String(window.limit);
    headers['X-RateLimit-Remaining'] = String(window.remaining);
    headers['X-RateLimit-Reset'] = String(window.resetAt);
  }
  if (!result.ok) headers['Retry-After'] = String(result.retryAfterSeconds);
  return headers;
}
