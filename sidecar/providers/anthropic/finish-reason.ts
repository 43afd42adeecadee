import type { FinishReason } from '../spec.ts';

/**
 * Anthropic `stop_reason` -> unified (provider-wire-formats.md 2.6).
 * https://docs.claude.com/en/api/handling-stop-reasons
 * `pause_turn` is an incomplete turn reported as `stop` (the native value is kept);
 * `refusal` is a content filter; `model_context_window_exceeded` ran out of room, i.e. `length`.
 */
const STOP_REASONS: Record<string, FinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  pause_turn: 'stop',
  max_tokens: 'length',
  model_context_window_exceeded: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
};

/** Unknown or missing stop reasons count as `stop`; the native value is kept by the caller. */
export function mapAnthropicFinishReason(native: string | null | undefined): FinishReason {
  if (native === null || native === undefined) return 'stop';
  return STOP_REASONS[native] ?? 'stop';
}
