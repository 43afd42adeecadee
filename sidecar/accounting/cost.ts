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

/** The prices a pricing object (or one long-context tier) gives, in units; absent = not given. */
type PriceSet = Partial<Record<PriceKey, bigint>>;

/** Every price the formula uses, defaults applied, in units of 10^-18 USD per token (or request / image). */
interface ResolvedPrices {
  promptPrice: bigint;
  completionPrice: bigint;
  cacheReadPrice: bigint;
  cacheWritePrice: bigint;
  reasoningPrice: bigint;
  requestPrice: bigint;
  imagePrice: bigint;
  /** `min_prompt_tokens` of the last tier applied; null at base prices. */
  tier: number | null;
}

/** A pricing object parsed once: the compiled catalog keeps each endpoint's pricing object for its lifetime. */
interface ParsedPricing {
  base: PriceSet;
  /** The base prices with defaults applied (no tier reached). */
  atBase: ResolvedPrices;
}

const PARSED_PRICING = new WeakMap<Pricing, ParsedPricing>();
/** Tiers are parsed when first reached, so a malformed price in a tier no request reaches never throws. */
const PARSED_TIERS = new WeakMap<object, PriceSet>();

/** Only the keys the formula uses: a catalog may carry others (web_search, audio...) we do not bill. */
function priceSetOf(source: Partial<Record<PriceKey, string | undefined>>): PriceSet {
  const prices: PriceSet = {};
  for (const key of PRICE_KEYS) {
    const value = source[key];
    if (typeof value === 'string') prices[key] = priceUnits(value);
  }
  return prices;
}

function withDefaults(prices: PriceSet, tier: number | null): ResolvedPrices {
  const promptPrice = prices.prompt ?? 0n;
  const completionPrice = prices.completion ?? 0n;
  return {
    promptPrice,
    completionPrice,
    cacheReadPrice: prices.input_cache_read ?? promptPrice,
    cacheWritePrice: prices.input_cache_write ?? promptPrice,
    reasoningPrice: prices.internal_reasoning ?? completionPrice,
    requestPrice: prices.request ?? 0n,
    imagePrice: prices.image ?? 0n,
    tier,
  };
}

/**
 * Base prices with every long-context tier the prompt size reaches applied (key by key, later
 * tiers winning), defaults filled in.
 */
function resolvePrices(pricing: Pricing, promptTokens: number | undefined): ResolvedPrices {
  let parsed = PARSED_PRICING.get(pricing);
  if (parsed === undefined) {
    const base = priceSetOf(pricing);
    parsed = { base, atBase: withDefaults(base, null) };
    PARSED_PRICING.set(pricing, parsed);
  }
  const overrides = pricing.overrides;
  if (promptTokens === undefined || overrides === undefined || overrides.length === 0) return parsed.atBase;
  let merged: PriceSet | undefined;
  let tier: number | null = null;
  for (const override of overrides) {
    if (promptTokens > override.min_prompt_tokens) {
      let prices = PARSED_TIERS.get(override);
      if (prices === undefined) {
        prices = priceSetOf(override);
        PARSED_TIERS.set(override, prices);
      }
      merged = merged === undefined ? { ...parsed.base, ...prices } : Object.assign(merged, prices);
      tier = override.min_prompt_tokens;
    }
  }
  return merged === undefined ? parsed.atBase : withDefaults(merged, tier);
}

/**
 * Cost of one attempt from its usage and the serving endpoint's pricing. Pure; throws only on
 * malformed prices (see `parseUnits`) or non-integer counts.
 */
export function computeCost(usage: Usage, pricing: Pricing, options: CostOptions = {}): CostResult {
  const prices = resolvePrices(pricing, usage.prompt_tokens);
  const { promptPrice, completionPrice, cacheReadPrice, cacheWritePrice, reasoningPrice } = prices;
  const promptTokens = usage.prompt_tokens;
  const completionTokens = usage.completion_tokens;

  // Unknown counts that matter, in this order: prompt_tokens, cached_tokens, cache_write_tokens,
  // completion_tokens, reasoning_tokens, image_count. A detail is noted only when its parent is
  // known and the endpoint prices its kind differently from the parent.
  const unknown: string[] = [];

  // Prompt side. Cached and written tokens are part of prompt_tokens (the adapter contract).
  const cached = usage.cached_tokens ?? 0;
  const written = usage.cache_write_tokens ?? 0;
  let promptUnits = 0n;
  if (promptTokens === undefined) unknown.push('prompt_tokens');
  else {
    promptUnits = multiplyUnits(promptPrice, Math.max(0, promptTokens - cached - written));
    if (usage.cached_tokens === undefined && cacheReadPrice !== promptPrice) unknown.push('cached_tokens');
    if (usage.cache_write_tokens === undefined && cacheWritePrice !== promptPrice) unknown.push('cache_write_tokens');
  }
  const cacheReadUnits = multiplyUnits(cacheReadPrice, cached);
  const cacheWriteUnits = multiplyUnits(cacheWritePrice, written);

  // Completion side. Reasoning tokens are part of completion_tokens.
  const reasoning = usage.reasoning_tokens ?? 0;
  let completionUnits = 0n;
  if (completionTokens === undefined) unknown.push('completion_tokens');
  else {
    completionUnits = multiplyUnits(completionPrice, Math.max(0, completionTokens - reasoning));
    if (usage.reasoning_tokens === undefined && reasoningPrice !== completionPrice) unknown.push('reasoning_tokens');
  }
  const reasoningUnits = multiplyUnits(reasoningPrice, reasoning);

  let imageUnits = 0n;
  if (prices.imagePrice !== 0n) {
    if (options.imageCount === undefined) unknown.push('image_count');
    else imageUnits = multiplyUnits(prices.imagePrice, options.imageCount);
  }

  const finish = options.finishReason ?? '';
  const insured = (completionTokens === undefined || completionTokens === 0) && (finish === '' || finish === 'error');
  if (insured) return insuredResult(prices.tier);

  const promptSide = promptUnits + cacheReadUnits + cacheWriteUnits;
  const completionSide = completionUnits + reasoningUnits;
  const total = promptSide + completionSide + prices.requestPrice + imageUnits;
  const cost = formatUnits(total);
  return {
    cost,
    cost_details: {
      upstream_inference_cost: cost,
      upstream_inference_prompt_cost: formatUnits(promptSide),
      upstream_inference_completions_cost: formatUnits(completionSide),
      components: {
        prompt: formatUnits(promptUnits),
        input_cache_read: formatUnits(cacheReadUnits),
        input_cache_write: formatUnits(cacheWriteUnits),
        completion: formatUnits(completionUnits),
        internal_reasoning: formatUnits(reasoningUnits),
        request: formatUnits(prices.requestPrice),
        image: formatUnits(imageUnits),
      },
      usage_incomplete: unknown.length > 0,
      unknown_usage: unknown,
      insured: false,
      pricing_tier: prices.tier,
    },
  };
}

/** Zero-completion insurance: nothing charged, nothing unknown that matters. */
function insuredResult(tier: number | null): CostResult {
  return {
    cost: '0',
    cost_details: {
      upstream_inference_cost: '0',
      upstream_inference_prompt_cost: '0',
      upstream_inference_completions_cost: '0',
      components: { prompt: '0', input_cache_read: '0', input_cache_write: '0', completion: '0', internal_reasoning: '0', request: '0', image: '0' },
      usage_incomplete: false,
      unknown_usage: [],
      insured: true,
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
function worstPrices(pricing: Pricing, promptTokens: number, imageCount: number | undefined): { fixed: bigint; perOutputToken: bigint } {
  const prices = resolvePrices(pricing, promptTokens);
  const promptRate = prices.promptPrice > prices.cacheWritePrice ? prices.promptPrice : prices.cacheWritePrice;
  const fixed = multiplyUnits(promptRate, promptTokens) + prices.requestPrice + multiplyUnits(prices.imagePrice, imageCount ?? 0);
  return { fixed, perOutputToken: prices.completionPrice > prices.reasoningPrice ? prices.completionPrice : prices.reasoningPrice };
}

/** `worstCaseCost` in units of 10^-18 USD (to compare attempts without formatting each). */
export function worstCaseUnits(pricing: Pricing, input: WorstCaseInput): bigint {
  const { fixed, perOutputToken } = worstPrices(pricing, input.promptTokens, input.imageCount);
  return fixed + multiplyUnits(perOutputToken, input.maxCompletionTokens);
}

/**
 * The most a request can cost (what `reserve` holds), USD exact decimal string. Prices come from
 * the long-context tier of the estimated prompt size; a prompt far above its estimate could cross
 * into a dearer tier than the one reserved for.
 */
export function worstCaseCost(pricing: Pricing, input: WorstCaseInput): string {
  return formatUnits(worstCaseUnits(pricing, input));
}

/**
 * How many output tokens `remainingUsd` can pay for after the prompt, request and image fees;
 * null when output is free (any number fits). 0 when not even the prompt fits.
 */
export function affordableCompletionTokens(pricing: Pricing, input: Omit<WorstCaseInput, 'maxCompletionTokens'>, remainingUsd: string): number | null {
  const { fixed, perOutputToken } = worstPrices(pricing, input.promptTokens, input.imageCount);
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
