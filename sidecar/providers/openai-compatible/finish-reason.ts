import type { FinishReason } from '../spec.ts';

/**
 * OpenAI's `finish_reason` plus the compatible hosts' extras (provider-wire-formats.md section 4):
 * Together's `eos`, Mistral's `model_length` and `error`, the deprecated `function_call`.
 * https://platform.openai.com/docs/api-reference/chat/object
 */
const FINISH_REASONS: Record<string, FinishReason> = {
  stop: 'stop',
  eos: 'stop',
  end_turn: 'stop',
  length: 'length',
  model_length: 'length',
  max_tokens: 'length',
  tool_calls: 'tool_calls',
  function_call: 'tool_calls',
  content_filter: 'content_filter',
  error: 'error',
};

/** Maps a compatible host's finish reason; an unknown value counts as `stop`, kept verbatim as native. */
export function mapOpenAICompatibleFinishReason(native: string | null | undefined, hasToolCalls: boolean): FinishReason {
  if (native === null || native === undefined) return hasToolCalls ? 'tool_calls' : 'stop';
  const mapped = FINISH_REASONS[native] ?? 'stop';
  // Some hosts (Ollama, older vLLM) end tool-call turns with `stop`; clients loop on `tool_calls`.
  return mapped === 'stop' && hasToolCalls ? 'tool_calls' : mapped;
}
