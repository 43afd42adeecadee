/** Azure uses OpenAI's finish reasons (`content_filter` when its filter cut the output). */
export { mapOpenAICompatibleFinishReason as mapAzureFinishReason } from '../openai-compatible/finish-reason.ts';
