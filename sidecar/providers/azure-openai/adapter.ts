/** The `azure-openai` protocol: the Chat Completions adapter with Azure's URLs and auth. */
import type { HttpAdapterOptions } from '../http.ts';
import { createOpenAIWireAdapter } from '../openai-compatible/adapter.ts';
import { OPENAI_COMPATIBLE_PRESETS } from '../openai-compatible/presets.ts';
import type { ProviderAdapter } from '../spec.ts';
import { azureEndpoint } from './request.ts';

const AZURE_PRESET = OPENAI_COMPATIBLE_PRESETS['azure'];

/** The `azure-openai` adapter; `options.dispatcher` replaces the shared connection pool. */
export function createAzureOpenAIAdapter(options: HttpAdapterOptions = {}): ProviderAdapter {
  if (AZURE_PRESET === undefined) throw new Error('azure preset missing');
  return createOpenAIWireAdapter({ protocol: 'azure-openai', preset: () => AZURE_PRESET, endpoint: (call, _preset, operation) => azureEndpoint(call, operation) }, options);
}
