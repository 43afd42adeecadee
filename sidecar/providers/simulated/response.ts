/** The simulated plan as a non-streaming result. */
import type { GenerateResult } from '../spec.ts';
import { mapSimulatedFinishReason } from './finish-reason.ts';
import type { SimulatedPlan } from './request.ts';

/** A plan as a non-streaming result (content null when only tool calls or a filter). */
export function convertSimulatedResponse(plan: SimulatedPlan, warnings: string[]): GenerateResult {
  const reasoning = plan.reasoningTokens.join('');
  const text = plan.textTokens.join('');
  return {
    upstream_id: plan.id,
    message: {
      content: plan.toolCalls.length > 0 || plan.finishReason === 'content_filter' ? (text === '' ? null : text) : text,
      ...(plan.toolCalls.length > 0 ? { tool_calls: plan.toolCalls } : {}),
      ...(reasoning === '' ? {} : { reasoning }),
    },
    finish_reason: mapSimulatedFinishReason(plan.finishReason),
    native_finish_reason: plan.finishReason,
    usage: plan.usage,
    warnings,
  };
}
