/**
 * The cost of one served attempt: usage x the serving endpoint's prices, exactly.
 *
 * Components (USD, exact decimal strings):
 * - `prompt`            = (prompt_tokens - cached_tokens - cache_write_tokens) x prompt
 * - `input_cache_read`  = cached_tokens x input_cache_read       (default: prompt price)
 * - `input_cache_write` = cache_write_tokens x input_cache_write (default: prompt price)
 * - `completion`        = (completion_tokens - reasoning_tokens) x completion
 * - `internal_reasoning`= reasoning_tokens x internal_reasoning  (default: completion price)
 * - `request`           = 1 x request
 * - `image`             = input images x image
 * Long-context tiers: every `pricing.overrides` entry whose `min_prompt_tokens` is below the
 * request's prompt_tokens replaces the base prices key by key, later entries winning.
 *
 * Unknown usage (a count the provider did not report) is never read as 0 silently:
 * - an unknown top-level count (`prompt_tokens`, `completion_tokens`, image count) leaves its
 *   component(s) out of the total, and is listed in `unknown_usage`;
 * - an unknown detail count (`cached_tokens`, `cache_write_tokens`, `reasoning_tokens`) means its
 *   tokens are billed at the parent's price (as if none were cached / reasoning); it is listed in
 *   `unknown_usage` only when the endpoint prices that kind differently, since only then could
 *   knowing it change the figure.
 * `usage_incomplete` is true exactly when `unknown_usage` is not empty: the cost is then what the
 * known counts prove, and the true figure may differ.
 *
 * Zero-completion insurance (OpenRouter's rule, extended to failures): when completion_tokens is
 * 0 or unknown and the finish reason is empty or `error`, nothing is charged, request and image
 * fees included.
 */
import type { Pricing } from '../../engine/index.ts';
import type { FinishReason, Usage } from '../providers/spec.ts';
import { formatUnits, multiplyUnits, parseUnits } from './decimal.ts';

/** Price keys a long-context override may replace. */
type PriceKey = Exclude<keyof Pricing, 'overrides'>;
const PRICE_KEYS: readonly PriceKey[] = ['prompt', 'completion', 'request', 'image', 'input_cache_read', 'input_cache_write', 'internal_reasoning'];

/** The price components, USD exact decimal strings. */
export interface CostComponents {
  prompt: string;
  input_cache_read: string;
  input_cache_write: string;
  completion: string;
  internal_reasoning: string;
  request: string;
  image: string;
}

/** What `usage.cost_details` carries (OpenRouter's `upstream_*` names plus our breakdown). */
export interface CostDetails {
  /** The whole cost; in a self-hosted gateway what the upstream charges is what we charge. */
  upstream_inference_cost: string;
  /** prompt + input_cache_read + input_cache_write. */
  upstream_inference_prompt_cost: string;
  /** completion + internal_reasoning. */
  upstream_inference_completions_cost: string;
  components: CostComponents;
  /** Some count that could change the figure was not reported (see `unknown_usage`). */
  usage_incomplete: boolean;
  /** Which counts were unknown and mattered (`prompt_tokens`, ..., `image_count`). */
  unknown_usage: string[];
  /** Zero-completion insurance applied: nothing charged. */
  insured: boolean;
  /** `min_prompt_tokens` of the last long-context tier applied; null at base prices. */
  pricing_tier: number | null;
}

export interface CostResult {
  /** Total USD, exact canonical decimal string. */
  cost: string;
  cost_details: CostDetails;
}

export interface CostOptions {
  /** The attempt's finish reason; null/undefined/'' = none was given. */
  finishReason?: FinishReason | string | null;
  /** Number of input images when known; only needed if the endpoint has an `image` price. */
  imageCount?: number;
}

/** Parsed prices by their text: a catalog has few distinct prices, and parsing is most of the work. */
const PRICE_CACHE = new Map<string, bigint>();
const PRICE_CACHE_LIMIT = 10_000;

function priceUnits(text: string): bigint {
  let units = PRICE_CACHE.get(text);
  if (units === undefined) {
    units = parseUnits(text);
    if (PRICE_CACHE.size >= PRICE_CACHE_LIMIT) PRICE_CACHE.clear();
    PRICE_CACHE.set(text, units);
  }
  return units;
}

/** Base prices with every long-context tier the prompt size reaches applied, in units of 10^-18 USD. */
function effectivePrices(pricing: Pricing, promptTokens: number | undefined): { prices: Map<PriceKey, bigint>; tier: number | null } {
  const prices = new Map<PriceKey, bigint>();
  const take = (source: Partial<Record<PriceKey, string | undefined>>): void => {
    // Only the keys the formula uses: a catalog may carry others (web_search, audio...) we do not bill.
    for (const key of PRICE_KEYS) {
      const value = source[key];
      if (typeof value === 'string') prices.set(key, priceUnits(value));
    }
  };
  take(pricing);
  let tier: number | null = null;
  if (promptTokens !== undefined) {
    for (const override of pricing.overrides ?? []) {
      if (promptTokens > override.min_prompt_tokens) {
        take(override);
        tier = override.min_prompt_tokens;
      }
    }
  }
  return { prices, tier };
}

/** Every price the formula uses, defaults applied, in units of 10^-18 USD per token (or request / image). */
function resolvePrices(pricing: Pricing, promptTokens: number | undefined) {
  const { prices, tier } = effectivePrices(pricing, promptTokens);
  const price = (key: PriceKey, fallback: bigint): bigint => prices.get(key) ?? fallback;
  const promptPrice = price('prompt', 0n);
  const completionPrice = price('completion', 0n);
  return {
    promptPrice,
    completionPrice,
    cacheReadPrice: price('input_cache_read', promptPrice),
    cacheWritePrice: price('input_cache_write', promptPrice),
    reasoningPrice: price('internal_reasoning', completionPrice),
    requestPrice: price('request', 0n),
    imagePrice: price('image', 0n),
    tier,
  };
}

/**
 * Cost of one attempt from its usage and the serving endpoint's pricing. Pure; throws only on
 * malformed prices (see `parseUnits`) or non-integer counts.
 */
export function computeCost(usage: Usage, pricing: Pricing, options: CostOptions = {}): CostResult {
  const { promptPrice, completionPrice, cacheReadPrice, cacheWritePrice, reasoningPrice, requestPrice, imagePrice, tier } = resolvePrices(
    pricing,
    usage.prompt_tokens,
  );

  const unknown: string[] = [];
  const noteUnknownDetail = (name: keyof Usage, kindPrice: bigint, parentPrice: bigint, parentKnown: boolean): void => {
    if (usage[name] === undefined && parentKnown && kindPrice !== parentPrice) unknown.push(name);
  };

  // Prompt side. Cached and written tokens are part of prompt_tokens (the adapter contract).
  const cached = usage.cached_tokens ?? 0;
  const written = usage.cache_write_tokens ?? 0;
  let promptUnits = 0n;
  if (usage.prompt_tokens === undefined) unknown.push('prompt_tokens');
  else promptUnits = multiplyUnits(promptPrice, Math.max(0, usage.prompt_tokens - cached - written));
  noteUnknownDetail('cached_tokens', cacheReadPrice, promptPrice, usage.prompt_tokens !== undefined);
  noteUnknownDetail('cache_write_tokens', cacheWritePrice, promptPrice, usage.prompt_tokens !== undefined);
  const cacheReadUnits = multiplyUnits(cacheReadPrice, cached);
  const cacheWriteUnits = multiplyUnits(cacheWritePrice, written);

  // Completion side. Reasoning tokens are part of completion_tokens.
  const reasoning = usage.reasoning_tokens ?? 0;
  let completionUnits = 0n;
  if (usage.completion_tokens === undefined) unknown.push('completion_tokens');
  else completionUnits = multiplyUnits(completionPrice, Math.max(0, usage.completion_tokens - reasoning));
  noteUnknownDetail('reasoning_tokens', reasoningPrice, completionPrice, usage.completion_tokens !== undefined);
  const reasoningUnits = multiplyUnits(reasoningPrice, reasoning);

  let imageUnits = 0n;
  if (imagePrice !== 0n) {
    if (options.imageCount === undefined) unknown.push('image_count');
    else imageUnits = multiplyUnits(imagePrice, options.imageCount);
  }

  const finish = options.finishReason ?? '';
  const insured = (usage.completion_tokens === undefined || usage.completion_tokens === 0) && (finish === '' || finish === 'error');

  const units: Record<keyof CostComponents, bigint> = insured
    ? { prompt: 0n, input_cache_read: 0n, input_cache_write: 0n, completion: 0n, internal_reasoning: 0n, request: 0n, image: 0n }
    : {
        prompt: promptUnits,
        input_cache_read: cacheReadUnits,
        input_cache_write: cacheWriteUnits,
        completion: completionUnits,
        internal_reasoning: reasoningUnits,
        request: requestPrice,
        image: imageUnits,
      };
  const promptSide = units.prompt + units.input_cache_read + units.input_cache_write;
  const completionSide = units.completion + units.internal_reasoning;
  const total = promptSide + completionSide + units.request + units.image;
  const components = Object.fromEntries(Object.entries(units).map(([key, value]) => [key, formatUnits(value)])) as unknown as CostComponents;
  const unknownUsage = insured ? [] : unknown;
  return {
    cost: formatUnits(total),
    cost_details: {
      upstream_inference_cost: formatUnits(total),
      upstream_inference_prompt_cost: formatUnits(promptSide),
      upstream_inference_completions_cost: formatUnits(completionSide),
      components,
      usage_incomplete: unknownUsage.length > 0,
      unknown_usage: unknownUsage,
      insured,
      pricing_tier: tier,
    },
  };
}

/** The cost of an attempt that served nothing (error, timeout, cancelled before any usage). */
export const ZERO_COST = '0';

/** What a request may cost at most, before it is sent. */
export interface WorstCaseInput {
  /** The prompt estimate (engine's `estimatePromptTokens`). */
  promptTokens: number;
  /** `max_tokens`, or the endpoint's maximum output when the request gives none. */
  maxCompletionTokens: number;
  imageCount?: number;
}

/** Per-token prices a worst case assumes: every prompt token at the dearer of prompt / cache write, every output token at the dearer of completion / reasoning. */
function worstPrices(pricing: Pricing, input: WorstCaseInput) {
  const prices = resolvePrices(pricing, input.promptTokens);
  const larger = (left: bigint, right: bigint): bigint => (left > right ? left : right);
  const fixed =
    multiplyUnits(larger(prices.promptPrice, prices.cacheWritePrice), input.promptTokens) +
    prices.requestPrice +
    multiplyUnits(prices.imagePrice, input.imageCount ?? 0);
  return { fixed, perOutputToken: larger(prices.completionPrice, prices.reasoningPrice) };
}

/**
 * The most a request can cost (what `reserve` holds), USD exact decimal string. Prices come from
 * the long-context tier of the estimated prompt size; a prompt far above its estimate could cross
 * into a dearer tier than the one reserved for.
 */
export function worstCaseCost(pricing: Pricing, input: WorstCaseInput): string {
  const { fixed, perOutputToken } = worstPrices(pricing, input);
  return formatUnits(fixed + multiplyUnits(perOutputToken, input.maxCompletionTokens));
}

/**
 * How many output tokens `remainingUsd` can pay for after the prompt, request and image fees;
 * null when output is free (any number fits). 0 when not even the prompt fits.
 */
export function affordableCompletionTokens(pricing: Pricing, input: Omit<WorstCaseInput, 'maxCompletionTokens'>, remainingUsd: string): number | null {
  const { fixed, perOutputToken } = worstPrices(pricing, { ...input, maxCompletionTokens: 0 });
  const left = parseUnits(remainingUsd) - fixed;
  if (perOutputToken === 0n) return left >= 0n ? null : 0;
  if (left <= 0n) return 0;
  const tokens = left / perOutputToken;
  return tokens > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(tokens);
}

/** OpenRouter's 402 wording for a request whose worst case does not fit. */
export function insufficientCreditsMessage(requestedTokens: number, affordableTokens: number): string {
  return `This request requires more credits, or fewer max_tokens. You requested up to ${requestedTokens} tokens, but can only afford ${affordableTokens}.`;
}
