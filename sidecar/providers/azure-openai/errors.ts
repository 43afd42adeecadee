/**
 * Azure error bodies are OpenAI's plus `innererror.code`; the shared parser folds that code in,
 * so `content_filter` / `ResponsibleAIPolicyViolation` 400s classify as `content_policy`.
 */
export { parseOpenAICompatibleError as parseAzureError } from '../openai-compatible/errors.ts';
