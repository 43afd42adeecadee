/**
 * The `anthropic` protocol: Messages API at `{base_url}/v1/messages` (`/v1` added when the base
 * has no version; base_url defaults to https://api.anthropic.com/v1).
 */
import { versionedBaseUrl } from '../common.ts';
import type { HttpAdapterOptions } from '../http.ts';
import { createHttpAdapter } from '../http-adapter.ts';
import type { ProviderAdapter } from '../spec.ts';
import { parseAnthropicError } from './errors.ts';
import { ANTHROPIC_DEFAULT_MAX_TOKENS, convertToAnthropicRequest } from './request.ts';
import { convertAnthropicResponse } from './response.ts';
import { mapAnthropicStream } from './stream.ts';

/** Used when the catalog provider has no `base_url`. */
export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com/v1';
/** The `anthropic-version` header the official SDKs send. */
export const ANTHROPIC_VERSION = '2023-06-01';

function betaHeader(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (Array.isArray(value)) {
    const names = value.filter((item): item is string => typeof item === 'string');
    return names.length > 0 ? names.join(',') : undefined;
  }
  return undefined;
}

/** The `anthropic` adapter; `options.dispatcher` replaces the shared connection pool. */
export function createAnthropicAdapter(options: HttpAdapterOptions = {}): ProviderAdapter {
  return createHttpAdapter<{ exposeReasoning: boolean }>(
    {
      protocol: 'anthropic',
      prepare: (call, stream) => {
        const providerOptions = call.provider.options ?? {};
        const configuredMax = providerOptions['default_max_tokens'];
        const { body, warnings, exposeReasoning } = convertToAnthropicRequest({
          request: call.request,
          upstreamModel: call.attempt.upstream_model,
          dropped: call.attempt.drop_parameters,
          stream,
          options: { defaultMaxTokens: typeof configuredMax === 'number' && configuredMax > 0 ? configuredMax : ANTHROPIC_DEFAULT_MAX_TOKENS },
        });
        const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
        if (call.credential !== undefined) headers['x-api-key'] = call.credential;
        const beta = betaHeader(providerOptions['beta']);
        if (beta !== undefined) headers['anthropic-beta'] = beta;
        const base = versionedBaseUrl(call.provider.base_url ?? ANTHROPIC_DEFAULT_BASE_URL, 'v1');
        return { url: `${base}/messages`, headers, body, warnings, context: { exposeReasoning } };
      },
      parseError: parseAnthropicError,
      convertResponse: (body, prepared) => convertAnthropicResponse(body, prepared.warnings, prepared.context.exposeReasoning),
      mapStream: (events, prepared, call) => mapAnthropicStream(events, { credential: call.credential, exposeReasoning: prepared.context.exposeReasoning }),
    },
    options,
  );
}
