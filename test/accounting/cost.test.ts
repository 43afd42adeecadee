import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Pricing } from '../../engine/index.ts';
import { affordableCompletionTokens, computeCost, insufficientCreditsMessage, worstCaseCost } from '../../sidecar/accounting/cost.ts';
import {
  addDecimals,
  compareDecimals,
  decimalToNumber,
  formatUnits,
  normalizeDecimal,
  numberToUnits,
  parseUnits,
  subtractDecimals,
} from '../../sidecar/accounting/decimal.ts';

describe('decimal', () => {
  it('parses and renders canonically, without exponent or trailing zeros', () => {
    expect(normalizeDecimal('0.000003')).toBe('0.000003');
    expect(normalizeDecimal('3e-6')).toBe('0.000003');
    expect(normalizeDecimal('1.5E2')).toBe('150');
    expect(normalizeDecimal('12.50')).toBe('12.5');
    expect(normalizeDecimal('-0.10')).toBe('-0.1');
    expect(normalizeDecimal('0.000')).toBe('0');
    expect(normalizeDecimal('.5')).toBe('0.5');
    expect(normalizeDecimal('7.')).toBe('7');
    expect(normalizeDecimal('0.000000000000000001')).toBe('0.000000000000000001');
  });

  it('rejects what is not a decimal, and precision it cannot keep', () => {
    for (const bad of ['', '.', 'abc', '1,5', 'NaN', 'Infinity', '1e', '--1']) {
      expect(() => parseUnits(bad), bad).toThrow(RangeError);
    }
    expect(() => parseUnits('0.0000000000000000001')).toThrow(/more than 18 decimal places/);
    // Trailing zeros beyond the scale lose nothing, so they are accepted.
    expect(parseUnits('0.1000000000000000000000')).toBe(100_000_000_000_000_000n);
  });

  it('adds without float drift', () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(addDecimals()).toBe('0');
    expect(addDecimals('0.000000075', '0.000000025', '1')).toBe('1.0000001');
    expect(subtractDecimals('1', '0.000001')).toBe('0.999999');
    expect(subtractDecimals('0.2', '0.5')).toBe('-0.3');
    expect(compareDecimals('0.30', '0.3')).toBe(0);
    expect(compareDecimals('0.3', '0.31')).toBe(-1);
    expect(compareDecimals('2', '1.999999999999999999')).toBe(1);
    expect(decimalToNumber('0.25')).toBe(0.25);
    expect(numberToUnits(1e-7)).toBe(parseUnits('0.0000001'));
  });

  it('round-trips any amount at the scale, and a million additions of 0.1 make exactly 100000', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), (units) => {
        expect(parseUnits(formatUnits(units))).toBe(units);
      }),
    );
    let total = 0n;
    const tenth = parseUnits('0.1');
    for (let index = 0; index < 1_000_000; index += 1) total += tenth;
    expect(formatUnits(total)).toBe('100000');
  });
});

/** A price sheet where every component has a distinct, easy-to-check price. */
const FULL: Pricing = {
  prompt: '0.000003', // $3 / M
  completion: '0.000015', // $15 / M
  input_cache_read: '0.0000003', // $0.30 / M
  input_cache_write: '0.00000375', // $3.75 / M
  internal_reasoning: '0.00002', // $20 / M
  request: '0.001',
  image: '0.0048',
};

describe('computeCost', () => {
  it('bills uncached prompt tokens at the prompt price', () => {
    // 1000 x 0.000003 = 0.003
    const result = computeCost({ prompt_tokens: 1000, completion_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 }, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'stop' });
    expect(result.cost).toBe('0.003');
    expect(result.cost_details.components.prompt).toBe('0.003');
    expect(result.cost_details.usage_incomplete).toBe(false);
  });

  it('bills cache reads and writes apart from the uncached prompt', () => {
    // uncached = 1000 - 600 - 100 = 300 -> 300 x 0.000003 = 0.0009
    // read 600 x 0.0000003 = 0.00018 ; write 100 x 0.00000375 = 0.000375
    const result = computeCost(
      { prompt_tokens: 1000, cached_tokens: 600, cache_write_tokens: 100, completion_tokens: 10, reasoning_tokens: 0 },
      { prompt: '0.000003', completion: '0.000015', input_cache_read: '0.0000003', input_cache_write: '0.00000375' },
      { finishReason: 'stop' },
    );
    const components = result.cost_details.components;
    expect(components.prompt).toBe('0.0009');
    expect(components.input_cache_read).toBe('0.00018');
    expect(components.input_cache_write).toBe('0.000375');
    // completion 10 x 0.000015 = 0.00015
    expect(components.completion).toBe('0.00015');
    // 0.0009 + 0.00018 + 0.000375 = 0.001455 ; + 0.00015 = 0.001605
    expect(result.cost_details.upstream_inference_prompt_cost).toBe('0.001455');
    expect(result.cost).toBe('0.001605');
  });

  it('bills reasoning tokens at internal_reasoning, and at the completion price when none is declared', () => {
    // 500 completion of which 200 reasoning: 300 x 0.000015 = 0.0045 ; 200 x 0.00002 = 0.004
    const usage = { prompt_tokens: 0, completion_tokens: 500, reasoning_tokens: 200, cached_tokens: 0, cache_write_tokens: 0 };
    const priced = computeCost(usage, { prompt: '0.000003', completion: '0.000015', internal_reasoning: '0.00002' }, { finishReason: 'stop' });
    expect(priced.cost_details.components.completion).toBe('0.0045');
    expect(priced.cost_details.components.internal_reasoning).toBe('0.004');
    expect(priced.cost_details.upstream_inference_completions_cost).toBe('0.0085');
    expect(priced.cost).toBe('0.0085');
    // Default: 200 x 0.000015 = 0.003, total 500 x 0.000015 = 0.0075
    const defaulted = computeCost(usage, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'stop' });
    expect(defaulted.cost_details.components.internal_reasoning).toBe('0.003');
    expect(defaulted.cost).toBe('0.0075');
  });

  it('adds the per-request fee and the per-image fee', () => {
    // 2 images x 0.0048 = 0.0096 ; request 0.001 ; prompt 10 x 0.000003 = 0.00003 ; completion 4 x 0.000015 = 0.00006
    const result = computeCost(
      { prompt_tokens: 10, completion_tokens: 4, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 },
      FULL,
      { finishReason: 'stop', imageCount: 2 },
    );
    expect(result.cost_details.components.image).toBe('0.0096');
    expect(result.cost_details.components.request).toBe('0.001');
    expect(result.cost).toBe('0.01069');
  });

  it('sums every component at once, exactly', () => {
    // prompt (10000-2000-500)=7500 x 0.000003 = 0.0225
    // read 2000 x 0.0000003 = 0.0006 ; write 500 x 0.00000375 = 0.001875
    // completion (3000-1000)=2000 x 0.000015 = 0.03 ; reasoning 1000 x 0.00002 = 0.02
    // request 0.001 ; image 1 x 0.0048
    // total = 0.0225 + 0.0006 + 0.001875 + 0.03 + 0.02 + 0.001 + 0.0048 = 0.080775
    const result = computeCost(
      { prompt_tokens: 10_000, cached_tokens: 2000, cache_write_tokens: 500, completion_tokens: 3000, reasoning_tokens: 1000 },
      FULL,
      { finishReason: 'length', imageCount: 1 },
    );
    expect(result.cost_details.components).toEqual({
      prompt: '0.0225',
      input_cache_read: '0.0006',
      input_cache_write: '0.001875',
      completion: '0.03',
      internal_reasoning: '0.02',
      request: '0.001',
      image: '0.0048',
    });
    expect(result.cost).toBe('0.080775');
    expect(result.cost_details.upstream_inference_cost).toBe(result.cost);
    expect(result.cost_details.insured).toBe(false);
    expect(result.cost_details.pricing_tier).toBeNull();
  });

  it('keeps sub-micro-dollar prices exact', () => {
    // 7 x 0.000000035 = 0.000000245 (a float gives 2.4500000000000004e-7)
    expect(7 * 0.000000035).not.toBe(0.000000245);
    const result = computeCost({ prompt_tokens: 7, completion_tokens: 1, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 }, { prompt: '0.000000035', completion: '0' }, { finishReason: 'stop' });
    expect(result.cost).toBe('0.000000245');
  });

  describe('long-context tiers', () => {
    const tiered: Pricing = {
      prompt: '0.000001',
      completion: '0.000002',
      overrides: [
        { min_prompt_tokens: 200_000, prompt: '0.000002', completion: '0.000004' },
        // Later entries win key by key: only completion changes above 500k.
        { min_prompt_tokens: 500_000, completion: '0.000008' },
      ],
    };
    const usage = (prompt: number) => ({ prompt_tokens: prompt, completion_tokens: 1000, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 });

    it('uses base prices up to and at the threshold', () => {
      // 200000 x 0.000001 = 0.2 ; 1000 x 0.000002 = 0.002
      const result = computeCost(usage(200_000), tiered, { finishReason: 'stop' });
      expect(result.cost).toBe('0.202');
      expect(result.cost_details.pricing_tier).toBeNull();
    });

    it('switches prices above the threshold', () => {
      // 200001 x 0.000002 = 0.400002 ; 1000 x 0.000004 = 0.004
      const result = computeCost(usage(200_001), tiered, { finishReason: 'stop' });
      expect(result.cost).toBe('0.404002');
      expect(result.cost_details.pricing_tier).toBe(200_000);
    });

    it('applies later tiers key by key over earlier ones', () => {
      // prompt keeps tier 1: 600000 x 0.000002 = 1.2 ; completion from tier 2: 1000 x 0.000008 = 0.008
      const result = computeCost(usage(600_000), tiered, { finishReason: 'stop' });
      expect(result.cost).toBe('1.208');
      expect(result.cost_details.pricing_tier).toBe(500_000);
    });
  });

  describe('zero-completion insurance', () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 0, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };

    it('charges nothing for zero completion tokens with an empty or error finish', () => {
      for (const finishReason of [null, undefined, '', 'error'] as const) {
        const result = computeCost(usage, FULL, { finishReason, imageCount: 1 });
        expect(result.cost, String(finishReason)).toBe('0');
        expect(result.cost_details.insured).toBe(true);
        expect(result.cost_details.components.request).toBe('0');
      }
    });

    it('still charges a zero-completion response that finished normally', () => {
      // 1000 x 0.000003 = 0.003 ; request 0.001
      const result = computeCost(usage, FULL, { finishReason: 'stop', imageCount: 0 });
      expect(result.cost).toBe('0.004');
      expect(result.cost_details.insured).toBe(false);
    });

    it('charges an errored response that produced completion tokens', () => {
      // 1000 x 0.000003 + 5 x 0.000015 = 0.003 + 0.000075
      const result = computeCost({ ...usage, completion_tokens: 5 }, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'error' });
      expect(result.cost).toBe('0.003075');
    });
  });

  describe('unknown usage', () => {
    it('leaves an unknown prompt count out of the total and says so', () => {
      // only completion: 100 x 0.000015 = 0.0015
      const result = computeCost({ completion_tokens: 100 }, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'stop' });
      expect(result.cost).toBe('0.0015');
      expect(result.cost_details.usage_incomplete).toBe(true);
      expect(result.cost_details.unknown_usage).toEqual(['prompt_tokens']);
    });

    it('leaves an unknown completion count out of the total and says so', () => {
      // only prompt: 100 x 0.000003 = 0.0003
      const result = computeCost({ prompt_tokens: 100 }, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'stop' });
      expect(result.cost).toBe('0.0003');
      expect(result.cost_details.unknown_usage).toEqual(['completion_tokens']);
    });

    it('bills unknown detail counts at the parent price, flagging them only when their price differs', () => {
      const usage = { prompt_tokens: 100, completion_tokens: 10 };
      // prompt 100 x 0.000003 = 0.0003 ; completion 10 x 0.000015 = 0.00015
      const plain = computeCost(usage, { prompt: '0.000003', completion: '0.000015' }, { finishReason: 'stop' });
      expect(plain.cost).toBe('0.00045');
      expect(plain.cost_details.usage_incomplete).toBe(false);
      const cached = computeCost(usage, { prompt: '0.000003', completion: '0.000015', input_cache_read: '0.0000003', internal_reasoning: '0.00002' }, { finishReason: 'stop' });
      expect(cached.cost).toBe('0.00045');
      expect(cached.cost_details.usage_incomplete).toBe(true);
      expect(cached.cost_details.unknown_usage).toEqual(['cached_tokens', 'reasoning_tokens']);
    });

    it('flags an unknown image count only when images are priced', () => {
      const usage = { prompt_tokens: 1, completion_tokens: 1, cached_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0 };
      expect(computeCost(usage, { prompt: '0', completion: '0' }, { finishReason: 'stop' }).cost_details.usage_incomplete).toBe(false);
      const priced = computeCost(usage, { prompt: '0', completion: '0', image: '0.01' }, { finishReason: 'stop' });
      expect(priced.cost).toBe('0');
      expect(priced.cost_details.unknown_usage).toEqual(['image_count']);
    });
  });

  it('is the sum of its components for any usage (property)', () => {
    const count = fc.integer({ min: 0, max: 2_000_000 });
    fc.assert(
      fc.property(count, count, count, count, count, fc.integer({ min: 0, max: 5 }), (prompt, cached, written, completion, reasoning, images) => {
        const usage = { prompt_tokens: prompt + cached + written, cached_tokens: cached, cache_write_tokens: written, completion_tokens: completion + reasoning, reasoning_tokens: reasoning };
        const result = computeCost(usage, FULL, { finishReason: 'stop', imageCount: images });
        expect(result.cost).toBe(addDecimals(...Object.values(result.cost_details.components)));
        // Exact against BigInt arithmetic done independently here.
        const expected =
          BigInt(prompt) * parseUnits(FULL.prompt) +
          BigInt(cached) * parseUnits('0.0000003') +
          BigInt(written) * parseUnits('0.00000375') +
          BigInt(completion) * parseUnits(FULL.completion) +
          BigInt(reasoning) * parseUnits('0.00002') +
          parseUnits('0.001') +
          BigInt(images) * parseUnits('0.0048');
        expect(parseUnits(result.cost)).toBe(expected);
      }),
    );
  });
});

describe('worst case and affordability', () => {
  it('prices the worst case at the dearest rates the request could meet', () => {
    // prompt 1000 x max(0.000003, 0.00000375) = 0.00375 ; output 500 x max(0.000015, 0.00002) = 0.01
    // request 0.001 ; 2 images x 0.0048 = 0.0096 ; total 0.02435
    expect(worstCaseCost(FULL, { promptTokens: 1000, maxCompletionTokens: 500, imageCount: 2 })).toBe('0.02435');
    // Plain prices: 1000 x 0.000003 + 500 x 0.000015 = 0.003 + 0.0075
    expect(worstCaseCost({ prompt: '0.000003', completion: '0.000015' }, { promptTokens: 1000, maxCompletionTokens: 500 })).toBe('0.0105');
  });

  it('uses the long-context tier of the prompt estimate', () => {
    const tiered: Pricing = { prompt: '0.000001', completion: '0.000002', overrides: [{ min_prompt_tokens: 1000, prompt: '0.00001', completion: '0.00002' }] };
    // 2000 x 0.00001 + 10 x 0.00002 = 0.02 + 0.0002
    expect(worstCaseCost(tiered, { promptTokens: 2000, maxCompletionTokens: 10 })).toBe('0.0202');
  });

  it('bounds every real cost of the request (property)', () => {
    const count = fc.integer({ min: 0, max: 100_000 });
    fc.assert(
      fc.property(count, count, count, count, (prompt, cachedShare, completion, reasoningShare) => {
        const cached = Math.floor((prompt * (cachedShare % 100)) / 100);
        const reasoning = Math.floor((completion * (reasoningShare % 100)) / 100);
        const actual = computeCost({ prompt_tokens: prompt, cached_tokens: 0, cache_write_tokens: cached, completion_tokens: completion, reasoning_tokens: reasoning }, FULL, { finishReason: 'stop', imageCount: 1 });
        const worst = worstCaseCost(FULL, { promptTokens: prompt, maxCompletionTokens: completion, imageCount: 1 });
        expect(compareDecimals(actual.cost, worst)).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('says how many output tokens the remaining credit affords', () => {
    const pricing = { prompt: '0.000003', completion: '0.000015', request: '0.001' };
    // 0.01 - 1000 x 0.000003 - 0.001 = 0.006 ; / 0.000015 = 400
    expect(affordableCompletionTokens(pricing, { promptTokens: 1000 }, '0.01')).toBe(400);
    // One unit less than 400 tokens' worth: 399
    expect(affordableCompletionTokens(pricing, { promptTokens: 1000 }, '0.009999999999999999')).toBe(399);
    expect(affordableCompletionTokens(pricing, { promptTokens: 10_000 }, '0.01')).toBe(0);
    expect(affordableCompletionTokens({ prompt: '0', completion: '0' }, { promptTokens: 10 }, '0')).toBeNull();
    expect(insufficientCreditsMessage(4096, 400)).toBe('This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 400.');
  });
});
