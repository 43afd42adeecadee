import type { FinishReason } from '../spec.ts';

/**
 * Gemini `finishReason` -> unified (provider-wire-formats.md 3.6).
 * https://ai.google.dev/api/generate-content#FinishReason
 * Tool calls end with STOP, so a candidate holding function calls maps to `tool_calls`.
 * Malformed or unexpected tool calls are the model failing, reported as `error`.
 */
const FINISH_REASONS: Record<string, FinishReason> = {
  STOP: 'stop',
  MAX_TOKENS: 'length',
  SAFETY: 'content_filter',
  RECITATION: 'content_filter',
  LANGUAGE: 'content_filter',
  BLOCKLIST: 'content_filter',
  PROHIBITED_CONTENT: 'content_filter',
  SPII: 'content_filter',
  IMAGE_SAFETY: 'content_filter',
  IMAGE_PROHIBITED_CONTENT: 'content_filter',
  IMAGE_RECITATION: 'content_filter',
  MALFORMED_FUNCTION_CALL: 'error',
  UNEXPECTED_TOOL_CALL: 'error',
  TOO_MANY_TOOL_CALLS: 'error',
  OTHER: 'stop',
  FINISH_REASON_UNSPECIFIED: 'stop',
};

/** Unknown reasons count as `stop`; `stop` with function calls becomes `tool_calls`. */
export function mapGeminiFinishReason(native: string | null | undefined, hasToolCalls: boolean): FinishReason {
  const mapped = native === null || native === undefined ? 'stop' : (FINISH_REASONS[native] ?? 'stop');
  return mapped === 'stop' && hasToolCalls ? 'tool_calls' : mapped;
}
