/**
 * The `gemini` protocol: `{base_url}/models/{model}:generateContent`, and
 * `:streamGenerateContent?alt=sse` for streams (base_url defaults to the v1beta API).
 */
import type { HttpAdapterOptions } from '../http.ts';
import { createHttpAdapter } from '../http-adapter.ts';
import type { ProviderAdapter } from '../spec.ts';
import type { GeminiRequestBody } from './api-types.ts';
import { parseGeminiError } from './errors.ts';
import { convertToGeminiRequest } from './request.ts';
import { convertGeminiResponse } from './response.ts';
import { mapGeminiStream } from './stream.ts';

export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

export function createGeminiAdapter(options: HttpAdapterOptions = {}): ProviderAdapter {
  return createHttpAdapter<{ exposeReasoning: boolean }>(
    {
      protocol: 'gemini',
      prepare: (call, stream) => {
        const providerOptions = call.provider.options ?? {};
        const model = call.attempt.upstream_model;
        const { body, warnings, exposeReasoning } = convertToGeminiRequest({
          request: call.request,
          upstreamModel: model,
          dropped: call.attempt.drop_parameters,
          options: {
            inlineSystem: providerOptions['inline_system'] === true || model.startsWith('gemma'),
            safetySettings: Array.isArray(providerOptions['safety_settings']) ? (providerOptions['safety_settings'] as GeminiRequestBody['safetySettings']) : undefined,
          },
        });
        const headers: Record<string, string> = {};
        if (call.credential !== undefined) headers['x-goog-api-key'] = call.credential;
        const base = (call.provider.base_url ?? GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, '');
        const path = `${base}/models/${encodeURIComponent(model)}`;
        return {
          url: stream ? `${path}:streamGenerateContent?alt=sse` : `${path}:generateContent`,
          headers,
          body,
          warnings,
          context: { exposeReasoning },
        };
      },
      parseError: parseGeminiError,
      convertResponse: (body, prepared) => convertGeminiResponse(body, prepared.warnings, prepared.context.exposeReasoning),
      mapStream: (events, prepared, call) => mapGeminiStream(events, { credential: call.credential, exposeReasoning: prepared.context.exposeReasoning }),
    },
    options,
  );
}
