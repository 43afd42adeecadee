import type { FinishReason } from '../spec.ts';

/** The simulated provider's own finish reasons; it speaks the unified vocabulary natively. */
export type SimulatedFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** Identity mapping, kept as its own role so every adapter folder reads the same. */
export function mapSimulatedFinishReason(native: SimulatedFinishReason): FinishReason {
  return native;
}
