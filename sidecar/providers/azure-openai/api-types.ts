/**
 * Azure OpenAI speaks the Chat Completions wire format with additions: content-filter annotations
 * on chunks, a first chunk with empty `choices` and `prompt_filter_results`, and chunks without
 * `delta` under asynchronous filtering (provider-wire-formats.md section 4, Azure notes).
 */
import type { OpenAIWireChunk, OpenAIWireErrorBody } from '../openai-compatible/api-types.ts';

export type { OpenAIWireResponse as AzureWireResponse } from '../openai-compatible/api-types.ts';

/** A streamed chunk with Azure's filter annotations (read only for tolerance, not mapped). */
export interface AzureWireChunk extends OpenAIWireChunk {
  prompt_filter_results?: Array<{ prompt_index?: number; content_filter_results?: Record<string, unknown> }> | null;
}

/** Azure's error body: OpenAI's plus `innererror.code` (`ResponsibleAIPolicyViolation`) and a status. */
export type AzureWireErrorBody = OpenAIWireErrorBody;

/** `CatalogProvider.options` the azure-openai adapter reads. */
export interface AzureOptions {
  /** `YYYY-MM-DD[-preview]` for deployment URLs, or `v1` for the `/openai/v1` surface. Default `2024-10-21`. */
  api_version: string;
  /** Deployment name; defaults to the attempt's upstream model. */
  deployment: string | undefined;
  /** `api-key` header (default) or `bearer` for an Entra ID token. */
  auth: 'api-key' | 'bearer';
}

/** The GA api-version used when `options.api_version` is absent. */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

/** Reads the options, defaulting what is missing. */
export function readAzureOptions(options: Record<string, unknown> | undefined): AzureOptions {
  const apiVersion = options?.['api_version'];
  const deployment = options?.['deployment'];
  return {
    api_version: typeof apiVersion === 'string' && apiVersion !== '' ? apiVersion : AZURE_DEFAULT_API_VERSION,
    deployment: typeof deployment === 'string' && deployment !== '' ? deployment : undefined,
    auth: options?.['auth'] === 'bearer' ? 'bearer' : 'api-key',
  };
}
