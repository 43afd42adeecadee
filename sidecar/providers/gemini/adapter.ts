/**
 * The `gemini` protocol: `{base_url}/models/{model}:generateContent`, and
 * `:streamGenerateContent?alt=sse` for streams (base_url defaults to the v1beta API).
 */
import { versionedBaseUrl } from '../common.ts';
import type { HttpAdapterOptions } from '../http.ts';
import { createHttpAdapter, postAndConvert } from '../http-adapter.ts';
import type { ProviderAdapter } from '../spec.ts';
import type { GeminiRequestBody } from './api-types.ts';
import { parseGeminiError } from './errors.ts';
import { convertToGeminiEmbeddingRequest, convertToGeminiRequest } from './request.ts';
import { convertGeminiEmbeddingResponse, convertGeminiResponse } from './response.ts';
import { mapGeminiStream } from './stream.ts';

/** Used when the catalog provider has no `base_url`. */
export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

function baseUrl(base: string | undefined): string {
  return versionedBaseUrl(base ?? GEMINI_DEFAULT_BASE_URL, 'v1beta');
}

function authHeaders(credential: string | undefined): Record<string, string> {
  return credential === undefined ? {} : { 'x-goog-api-key': credential };
}

/** The `gemini` adapter (chat and embeddings); `options.dispatcher` replaces the shared pool. */
export function createGeminiAdapter(options: HttpAdapterOptions = {}): ProviderAdapter {
  const chat = createHttpAdapter<{ exposeReasoning: boolean }>(
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
        const headers = authHeaders(call.credential);
        const path = `${baseUrl(call.provider.base_url)}/models/${encodeURIComponent(model)}`;
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
  return {
    ...chat,
    async embed(call) {
      const model = call.attempt.upstream_model;
      const prepared = {
        url: `${baseUrl(call.provider.base_url)}/models/${encodeURIComponent(model)}:batchEmbedContents`,
        headers: authHeaders(call.credential),
        body: convertToGeminiEmbeddingRequest(call.request, model),
        warnings: [],
        context: undefined,
      };
      return postAndConvert(prepared, call, parseGeminiError, (json) => convertGeminiEmbeddingResponse(json, call.request.encoding_format), options);
    },
  };
}
