/**
 * The adapter layer's public surface. The executor needs only `createAdapterRegistry` and the
 * contract types from spec.ts; everything else is for tests and tooling.
 */
import type { AdapterRegistry } from './spec.ts';
import type { HttpAdapterOptions } from './http.ts';
import { createOpenAICompatibleAdapter } from './openai-compatible/adapter.ts';
import { createSimulatedAdapter } from './simulated/adapter.ts';
import { createAzureOpenAIAdapter } from './azure-openai/adapter.ts';
import { createAnthropicAdapter } from './anthropic/adapter.ts';
import { createGeminiAdapter } from './gemini/adapter.ts';

export * from './spec.ts';
export { sharedDispatcher, classifyHttpStatus, retryAfterFromHeaders, redact, type HttpAdapterOptions } from './http.ts';
export { createOpenAICompatibleAdapter } from './openai-compatible/adapter.ts';
export { createSimulatedAdapter } from './simulated/adapter.ts';
export { createAzureOpenAIAdapter } from './azure-openai/adapter.ts';
export { createAnthropicAdapter } from './anthropic/adapter.ts';
export { createGeminiAdapter } from './gemini/adapter.ts';
export { readSimulatedOptions, SIMULATED_DEFAULTS, type SimulatedOptions } from './simulated/api-types.ts';
export { OPENAI_COMPATIBLE_PRESETS, resolveOpenAICompatiblePreset, type OpenAICompatiblePreset } from './openai-compatible/presets.ts';

/** One adapter per protocol, sharing one connection pool (or the dispatcher given). */
export function createAdapterRegistry(options: HttpAdapterOptions = {}): AdapterRegistry {
  return {
    'openai-compatible': createOpenAICompatibleAdapter(options),
    'azure-openai': createAzureOpenAIAdapter(options),
    anthropic: createAnthropicAdapter(options),
    gemini: createGeminiAdapter(options),
    simulated: createSimulatedAdapter(),
  };
}
