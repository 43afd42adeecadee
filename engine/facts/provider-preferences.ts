/**
 * Normalizes the request's OpenRouter `provider` object into `ProviderPreferences`.
 *
 * OpenRouter marks every field optional and nullable, so `null` means absent. Strings the OpenAPI
 * types loosely (prices as strings, `sort` as a bare string, throughput as a bare number) are
 * turned into one shape here so evaluation never re-checks them. A malformed field is a 400 that
 * names the field: silently ignoring a misspelt privacy filter would route where the caller said not to.
 */
import { QUANTIZATION_ORDER } from '../types.ts';
import type { Percentiles, ProviderPreferences, Quantization } from '../types.ts';

/** A 400 caused by one request field. */
export interface FactsError {
  status: 400;
  code: string;
  message: string;
  param?: string;
}

export type Normalized<T> = { ok: true; value: T } | { ok: false; error: FactsError };

/** Fields OpenRouter accepts that do not change routing here; accepted and ignored so clients keep working. */
const IGNORED_PROVIDER_FIELDS = new Set(['enforce_distillable_text', 'experimental']);

/** Quantization names OpenRouter accepts that we fold into our levels (S1: fp4 covers mxfp4/nvfp4, fp8 covers mxfp8). */
const QUANTIZATION_ALIASES: Readonly<Record<string, Quantization>> = { mxfp4: 'fp4', nvfp4: 'fp4', mxfp8: 'fp8' };

const PERCENTILE_KEYS = ['p50', 'p75', 'p90', 'p99'] as const;

function invalid(field: string, message: string): { ok: false; error: FactsError } {
  return { ok: false, error: { status: 400, code: 'invalid_provider_preferences', message: `provider.${field}: ${message}`, param: `provider.${field}` } };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(field: string, value: unknown): Normalized<string[]> {
  if (!Array.isArray(value) || value.some((entry) => typeof entry !== 'string' || entry.trim() === '')) {
    return invalid(field, 'must be an array of provider slugs or names');
  }
  return { ok: true, value: value.map((entry: string) => entry.trim()) };
}

function boolean(field: string, value: unknown): Normalized<boolean> {
  return typeof value === 'boolean' ? { ok: true, value } : invalid(field, 'must be a boolean');
}

/** A non-negative number, or a string holding one (the OpenAPI types prices as strings). */
function price(field: string, value: unknown): Normalized<number> {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < 0) return invalid(field, 'must be a non-negative number or numeric string');
  return { ok: true, value: number };
}

/** A number (taken as p50) or `{p50, p75, p90, p99}` of non-negative numbers. */
function percentiles(field: string, value: unknown): Normalized<Percentiles> {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? { ok: true, value: { p50: value } } : invalid(field, 'must be a non-negative number');
  }
  if (!isRecord(value)) return invalid(field, 'must be a number (p50) or an object with p50/p75/p90/p99');
  const result: Percentiles = {};
  for (const key of Object.keys(value)) {
    const entry = value[key];
    if (entry === null || entry === undefined) continue;
    if (!(PERCENTILE_KEYS as readonly string[]).includes(key)) return invalid(`${field}.${key}`, 'unknown percentile (use p50, p75, p90 or p99)');
    if (typeof entry !== 'number' || !Number.isFinite(entry) || entry < 0) return invalid(`${field}.${key}`, 'must be a non-negative number');
    result[key as (typeof PERCENTILE_KEYS)[number]] = entry;
  }
  return { ok: true, value: result };
}

function sort(value: unknown): Normalized<NonNullable<ProviderPreferences['sort']>> {
  const by = isRecord(value) ? value.by : value;
  const partition = isRecord(value) && value.partition !== undefined && value.partition !== null ? value.partition : 'model';
  if (by !== 'price' && by !== 'throughput' && by !== 'latency') {
    return invalid(isRecord(value) ? 'sort.by' : 'sort', "must be 'price', 'throughput' or 'latency'");
  }
  if (partition !== 'model' && partition !== 'none') return invalid('sort.partition', "must be 'model' or 'none'");
  return { ok: true, value: { by, partition } };
}

function maxPrice(value: unknown): Normalized<NonNullable<ProviderPreferences['max_price']>> {
  if (!isRecord(value)) return invalid('max_price', 'must be an object with prompt/completion/request/image');
  const result: NonNullable<ProviderPreferences['max_price']> = {};
  for (const key of Object.keys(value)) {
    const entry = value[key];
    if (entry === null || entry === undefined) continue;
    // `audio` is in OpenRouter's schema; no catalog price exists for it here, so it cannot filter.
    if (key === 'audio') continue;
    if (key !== 'prompt' && key !== 'completion' && key !== 'request' && key !== 'image') return invalid(`max_price.${key}`, 'unknown price key');
    const parsed = price(`max_price.${key}`, entry);
    if (!parsed.ok) return parsed;
    result[key] = parsed.value;
  }
  return { ok: true, value: result };
}

function quantizations(value: unknown): Normalized<Quantization[]> {
  if (!Array.isArray(value)) return invalid('quantizations', 'must be an array');
  const result: Quantization[] = [];
  for (const entry of value) {
    const name = typeof entry === 'string' ? entry.toLowerCase() : '';
    const level = QUANTIZATION_ALIASES[name] ?? ((QUANTIZATION_ORDER as readonly string[]).includes(name) || name === 'unknown' ? (name as Quantization) : null);
    if (level === null) return invalid('quantizations', `unknown quantization ${JSON.stringify(entry)}`);
    if (!result.includes(level)) result.push(level);
  }
  return { ok: true, value: result };
}

/**
 * Normalize `body.provider` (and the deprecated top-level `route`) into `ProviderPreferences`.
 * `route: "fallback"` means partition `model`, `"sort"` means `none`; an explicit `sort.partition` wins.
 */
export function normalizeProviderPreferences(provider: unknown, route: unknown): Normalized<ProviderPreferences> {
  const result: ProviderPreferences = {};
  if (route !== undefined && route !== null && route !== 'fallback' && route !== 'sort') {
    return { ok: false, error: { status: 400, code: 'invalid_request', message: "route: must be 'fallback' or 'sort'", param: 'route' } };
  }
  if (provider === undefined || provider === null) return { ok: true, value: result };
  if (!isRecord(provider)) {
    return { ok: false, error: { status: 400, code: 'invalid_provider_preferences', message: 'provider: must be an object', param: 'provider' } };
  }

  for (const field of Object.keys(provider)) {
    const value = provider[field];
    if (value === null || value === undefined || IGNORED_PROVIDER_FIELDS.has(field)) continue;
    let outcome: Normalized<unknown>;
    switch (field) {
      case 'order':
      case 'only':
      case 'ignore':
        outcome = stringList(field, value);
        if (outcome.ok) result[field] = outcome.value as string[];
        break;
      case 'allow_fallbacks':
      case 'zdr':
      case 'require_parameters':
        outcome = boolean(field, value);
        if (outcome.ok) result[field] = outcome.value as boolean;
        break;
      case 'data_collection':
        outcome = value === 'allow' || value === 'deny' ? { ok: true, value } : invalid(field, "must be 'allow' or 'deny'");
        if (outcome.ok) result.data_collection = value as 'allow' | 'deny';
        break;
      case 'sort':
        outcome = sort(value);
        if (outcome.ok) result.sort = outcome.value as NonNullable<ProviderPreferences['sort']>;
        break;
      case 'max_price':
        outcome = maxPrice(value);
        if (outcome.ok) result.max_price = outcome.value as NonNullable<ProviderPreferences['max_price']>;
        break;
      case 'quantizations':
        outcome = quantizations(value);
        if (outcome.ok) result.quantizations = outcome.value as Quantization[];
        break;
      case 'preferred_min_throughput':
      case 'preferred_max_latency':
        outcome = percentiles(field, value);
        if (outcome.ok) result[field] = outcome.value as Percentiles;
        break;
      default:
        outcome = invalid(field, 'unknown field');
    }
    if (!outcome.ok) return outcome;
  }

  // The deprecated `route` only sets the partition of a sort given without one.
  if (result.sort && route === 'sort' && !(isRecord(provider.sort) && provider.sort.partition)) {
    result.sort = { by: result.sort.by, partition: 'none' };
  }
  return { ok: true, value: result };
}
