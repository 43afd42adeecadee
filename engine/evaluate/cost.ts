/**
 * Cost bounds of one attempt, in USD, from the prompt estimate and the endpoint's prices.
 * `min`: the prompt alone (plus any per-request fee). `max`: the prompt plus the most completion
 * tokens the attempt can produce: `max_tokens` when the request sets it, otherwise the endpoint's
 * completion limit, never more than the context left after the prompt. Long-context price tiers
 * (`pricing.overrides`) apply when the prompt estimate reaches their threshold.
 */
import type { RequestFacts } from '../types.ts';
import type { EndpointInfo } from './catalog-index.ts';

export interface CostBounds {
  min: number;
  max: number;
  /** Completion tokens `max` assumes. */
  completionTokens: number;
}

/** To a pico-dollar: far below any price, and it hides float noise such as 0.0045000000000000005 in plans. */
function roundUsd(value: number): number {
  return Math.round(value * 1e12) / 1e12;
}

/** Completion tokens an attempt on this endpoint can produce at most. */
export function maxCompletionTokens(info: EndpointInfo, facts: RequestFacts): number {
  if (facts.max_tokens !== null) return facts.max_tokens;
  const endpoint = info.endpoint;
  return Math.max(0, Math.min(endpoint.max_completion_tokens, endpoint.context_length - facts.prompt_tokens));
}

/** USD bounds of one attempt. */
export function estimateCost(info: EndpointInfo, facts: RequestFacts): CostBounds {
  const price = info.endpoint.price;
  let prompt = price.prompt;
  let completion = price.completion;
  let request = price.request;
  for (const override of info.overrides) {
    if (facts.prompt_tokens >= override.minPromptTokens) {
      prompt = override.prompt;
      completion = override.completion;
      request = override.request;
      break;
    }
  }
  const completionTokens = maxCompletionTokens(info, facts);
  const min = facts.prompt_tokens * prompt + request;
  return { min: roundUsd(min), max: roundUsd(min + completionTokens * completion), completionTokens };
}
