/**
 * Pure hashing and seeded randomness. The engine draws no random number of its own: every draw
 * comes from the caller's seed, split into independent streams by a label, so adding a rule or a
 * model does not shift the draws of another.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of a string (UTF-16 code units), continuing from `hash`. */
export function fnv1a(text: string, hash: number = FNV_OFFSET): number {
  let value = hash >>> 0;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, FNV_PRIME) >>> 0;
  }
  return value;
}

/** A hash in [0, 1) of a string; the sticky-split position of one caller. */
export function unitHash(text: string): number {
  // Finalize (murmur3 fmix32) so that keys differing only in their last characters spread out.
  let value = fnv1a(text);
  value ^= value >>> 16;
  value = Math.imul(value, 0x85ebca6b) >>> 0;
  value ^= value >>> 13;
  value = Math.imul(value, 0xc2b2ae35) >>> 0;
  value ^= value >>> 16;
  return (value >>> 0) / 4294967296;
}

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. Returns draws in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** One draw in [0, 1) from the stream `label` of `seed`. */
export function seededDraw(seed: number, label: string): number {
  // Seeds may be any finite number (e.g. a hashed request id); fold them to 32 bits first.
  const folded = Number.isFinite(seed) ? (Math.trunc(seed) ^ Math.trunc(seed / 4294967296)) >>> 0 : 0;
  return mulberry32(fnv1a(label, folded ^ FNV_OFFSET))();
}
