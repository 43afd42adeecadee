/** Azure responses are Chat Completions responses; content filtering shows as `finish_reason: "content_filter"`. */
export { convertOpenAICompatibleResponse as convertAzureResponse, convertOpenAICompatibleUsage as convertAzureUsage } from '../openai-compatible/response.ts';
