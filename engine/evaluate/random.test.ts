import { describe, expect, it } from 'vitest';
import { fnv1a, mulberry32, seededDraw, unitHash } from './random.ts';

describe('fnv1a', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });
});

describe('draws', () => {
  it('are in [0, 1), repeatable, and spread evenly', () => {
    const next = mulberry32(123);
    const again = mulberry32(123);
    const buckets = new Array<number>(10).fill(0);
    for (let index = 0; index < 20_000; index++) {
      const value = next();
      expect(value).toBe(again());
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
      buckets[Math.floor(value * 10)]!++;
    }
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200);
  });

  it('separate streams by label and tolerate any numeric seed', () => {
    expect(seededDraw(1, 'first-pick|a')).toBe(seededDraw(1, 'first-pick|a'));
    expect(seededDraw(1, 'first-pick|a')).not.toBe(seededDraw(1, 'first-pick|b'));
    expect(seededDraw(1, 'x')).not.toBe(seededDraw(2, 'x'));
    for (const seed of [Number.NaN, Number.POSITIVE_INFINITY, -5, 2 ** 53, 1.5]) {
      const value = seededDraw(seed, 'x');
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });

  it('spread sticky keys that differ only in their last characters', () => {
    let below = 0;
    for (let user = 0; user < 10_000; user++) if (unitHash(`user-${user}|canary`) < 0.1) below++;
    expect(below).toBeGreaterThan(900);
    expect(below).toBeLessThan(1100);
  });
});
