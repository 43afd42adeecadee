/**
 * Where an Azure call goes. The body is the OpenAI-compatible one (azure preset); only the URL
 * and the auth header differ. Classic deployment URLs pick the model from the path, so the
 * body's `model` is left out; the `v1` surface takes it in the body.
 */
import { configurationError, extraHeaders, type CallTarget, type OpenAIOperation, type OpenAIWireEndpoint } from '../openai-compatible/adapter.ts';
import { readAzureOptions } from './api-types.ts';

export { convertToOpenAICompatibleRequest as convertToAzureRequest } from '../openai-compatible/request.ts';

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** URL and headers for one Azure call. */
export function azureEndpoint(call: CallTarget, operation: OpenAIOperation = 'chat/completions'): OpenAIWireEndpoint {
  const base = call.provider.base_url;
  if (base === undefined) throw configurationError(`Azure provider ${call.provider.id} has no base_url (https://<resource>.openai.azure.com)`);
  const options = readAzureOptions(call.provider.options);
  const headers = extraHeaders(call.provider.options);
  if (call.credential !== undefined) {
    if (options.auth === 'bearer') headers['authorization'] = `Bearer ${call.credential}`;
    else headers['api-key'] = call.credential;
  }
  const root = trimSlash(base);
  if (options.api_version === 'v1' || root.endsWith('/openai/v1')) {
    const v1 = root.endsWith('/openai/v1') ? root : `${root}/openai/v1`;
    return { url: `${v1}/${operation}`, headers, includeModel: true };
  }
  const deployment = encodeURIComponent(options.deployment ?? call.attempt.upstream_model);
  return {
    url: `${root}/openai/deployments/${deployment}/${operation}?api-version=${encodeURIComponent(options.api_version)}`,
    headers,
    includeModel: false,
  };
}
