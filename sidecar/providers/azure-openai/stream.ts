/**
 * Azure streams are Chat Completions streams. The shared mapper already skips the empty-`choices`
 * first chunk (`prompt_filter_results`), chunks without `delta`, and empty ids; the azure
 * conformance test plays such a stream.
 */
export { mapOpenAICompatibleStream as mapAzureStream } from '../openai-compatible/stream.ts';
