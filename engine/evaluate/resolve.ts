/**
 * Model resolution: what the request (or a rule) asked for -> an ordered chain of catalog models.
 *
 * Names resolve as: policy alias -> catalog model id -> `auto`. The chain is the primary model(s)
 * (`model`, then `models`), then the first matching rule's `fallbacks`. `auto` (also the absent
 * model and `openrouter/auto`) expands to the capable models ranked by `auto.strategy`; evaluation
 * takes the first AUTO_MODELS of them that still have an endpoint after the filters.
 */
import type { CompiledCatalog, CompiledPolicy, NoRouteError, RequestFacts, Snapshot, TraceEntry, Variant } from '../types.ts';
import { catalogIndex, type ModelInfo } from './catalog-index.ts';
import { seededDraw, unitHash } from './random.ts';
import type { RuleOutcome } from './rules.ts';

/** How many routable models `auto` puts in the chain (the pick plus two fallbacks). */
export const AUTO_MODELS = 3;

const AUTO_NAMES: ReadonlySet<string> = new Set(['auto', 'openrouter/auto']);
const NO_HEALTH: NonNullable<Snapshot['endpoints']> = Object.freeze({});
const AUTO_REQUEST: readonly string[] = Object.freeze(['auto']);
const NO_VARIANT: ReadonlyArray<Variant | null> = Object.freeze([]);

function isVariant(variant: Variant | null): boolean {
  return variant !== null;
}

/** One model in the chain, or a ranked `auto` group taken lazily. */
export type ChainItem =
  | { kind: 'model'; model: ModelInfo; variant: Variant | null; role: string }
  | { kind: 'auto'; ranked: readonly ModelInfo[]; variant: Variant | null; role: string };

export type ResolveResult =
  | { ok: true; strategy: 'direct' | 'alias' | 'auto' | 'rule'; chain: ChainItem[] }
  | { ok: false; error: NoRouteError };

/** Does the model have what the request needs (used to pick `auto` candidates)? */
export function modelIsCapable(info: ModelInfo, facts: RequestFacts): boolean {
  if ((facts.tools || (facts.tool_choice !== null && facts.tool_choice !== 'none')) && !info.anyTools) return false;
  if (facts.response_format === 'json_schema' && !info.anyStructuredOutputs) return false;
  if (facts.response_format === 'json_object' && !info.anyResponseFormat && !info.anyStructuredOutputs) return false;
  if (facts.prompt_tokens + (facts.max_tokens ?? 0) > info.maxContextLength) return false;
  if (facts.max_tokens !== null && facts.max_tokens > info.maxCompletionTokens) return false;
  const modalities = info.model.input_modalities;
  for (const modality of facts.input_modalities) if (!modalities.includes(modality)) return false;
  return true;
}

/** Ascending, infinity-safe (Infinity - Infinity is NaN, which breaks sort). */
function compareNumbers(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function bestThroughput(info: ModelInfo, health: NonNullable<Snapshot['endpoints']>): number {
  let best = Number.NEGATIVE_INFINITY;
  for (const endpoint of info.endpoints) {
    const value = health[endpoint.endpoint.id]?.throughput?.p50;
    if (value !== undefined && value > best) best = value;
  }
  return best;
}

function lowestErrorRate(info: ModelInfo, health: NonNullable<Snapshot['endpoints']>): number {
  let best = Number.POSITIVE_INFINITY;
  for (const endpoint of info.endpoints) {
    const value = health[endpoint.endpoint.id]?.error_rate;
    if (value !== undefined && value < best) best = value;
  }
  return best;
}

/** The policy's `auto.candidates` as catalog models, cheapest first; cached per policy and catalog. */
const candidatePools = new WeakMap<CompiledPolicy, { catalog: CompiledCatalog; pool: readonly ModelInfo[] }>();

function candidatePool(policy: CompiledPolicy, catalog: CompiledCatalog): readonly ModelInfo[] {
  const index = catalogIndex(catalog);
  const candidates = policy.auto.candidates;
  if (candidates === undefined) return index.modelsByPrice;
  const cached = candidatePools.get(policy);
  if (cached !== undefined && cached.catalog === catalog) return cached.pool;
  const wanted = new Set<ModelInfo>();
  for (const name of candidates) {
    const info = index.models.get(policy.aliases.get(name) ?? name);
    if (info !== undefined) wanted.add(info);
  }
  const pool = index.modelsByPrice.filter((info) => wanted.has(info));
  candidatePools.set(policy, { catalog, pool });
  return pool;
}

interface Scored {
  info: ModelInfo;
  score: number;
  position: number;
}

/** Ascending score, then the cheapest-first position (stable and total). */
function compareScored(a: Scored, b: Scored): number {
  return a.score === b.score ? a.position - b.position : a.score < b.score ? -1 : 1;
}

/** The capable models `auto` may use, best first. */
export function rankAutoModels(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot): ModelInfo[] {
  const pool = candidatePool(policy, catalog);
  const capable: ModelInfo[] = [];
  for (const info of pool) if (modelIsCapable(info, facts)) capable.push(info);
  const strategy = policy.auto.strategy;
  // The pool is cheapest-first already; the other strategies re-rank with price as the tie-breaker.
  if (strategy === 'cheapest') return capable;
  const health = snapshot.endpoints ?? NO_HEALTH;
  const scored: Scored[] = [];
  for (let position = 0; position < capable.length; position++) {
    const info = capable[position]!;
    // Higher throughput is better: negate so that every score sorts ascending.
    const score = strategy === 'fastest' ? -bestThroughput(info, health) : lowestErrorRate(info, health);
    scored.push({ info, score, position });
  }
  scored.sort(compareScored);
  for (let position = 0; position < scored.length; position++) capable[position] = scored[position]!.info;
  return capable;
}

function notFound(name: string, rules: RuleOutcome, trace: TraceEntry[]): { ok: false; error: NoRouteError } {
  const message = `Model ${JSON.stringify(name)} is not in the catalog and is not an alias of this policy`;
  trace.push({ stage: 'resolve', message });
  return { ok: false, error: { code: 'model_not_found', status: 404, message, excluded: [], matched_rules: rules.matchedRules, trace } };
}

/** Value of a fact path such as `user`, `team`, `headers.x-tenant` (null when absent or not a scalar). */
export function factValue(facts: RequestFacts, path: string): string | null {
  let current: unknown = facts;
  for (const segment of path.split('.')) {
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) return null;
    current = (current as Record<string, unknown>)[segment];
  }
  if (typeof current === 'string') return current === '' ? null : current;
  if (typeof current === 'number' || typeof current === 'boolean') return String(current);
  return null;
}

/** State of one resolution. */
interface Resolution {
  policy: CompiledPolicy;
  catalog: CompiledCatalog;
  facts: RequestFacts;
  snapshot: Snapshot;
  rules: RuleOutcome;
  trace: TraceEntry[];
  strategy: 'direct' | 'alias' | 'auto' | 'rule';
  chain: ChainItem[];
  seen: Set<string>;
  autoRanked: ModelInfo[] | null;
}

function describeRanked(ranked: readonly ModelInfo[]): string {
  if (ranked.length === 0) return '';
  const best: string[] = [];
  for (let index = 0; index < ranked.length && index < AUTO_MODELS; index++) best.push(ranked[index]!.model.id);
  return `, best ${best.join(', ')}`;
}

/** Append one name (alias, model id or `auto`) to the chain; an error when it names nothing. */
function addToChain(state: Resolution, name: string, variant: Variant | null, role: string, position: number): { ok: false; error: NoRouteError } | null {
  const policy = state.policy;
  if (AUTO_NAMES.has(name)) {
    if (position === 0 && state.strategy !== 'rule') state.strategy = 'auto';
    state.autoRanked ??= rankAutoModels(policy, state.catalog, state.facts, state.snapshot);
    const ranked = state.autoRanked;
    state.trace.push({ stage: 'resolve', message: `auto (${policy.auto.strategy}): ${ranked.length} capable model(s)${describeRanked(ranked)}` });
    state.chain.push({ kind: 'auto', ranked, variant, role });
    return null;
  }
  const aliased = policy.aliases.get(name);
  if (aliased !== undefined && AUTO_NAMES.has(aliased)) return addToChain(state, aliased, variant, role, position);
  const info = catalogIndex(state.catalog).models.get(aliased ?? name);
  if (info === undefined) return notFound(name, state.rules, state.trace);
  if (aliased !== undefined) {
    if (position === 0 && state.strategy === 'direct') state.strategy = 'alias';
    state.trace.push({ stage: 'resolve', message: `alias ${name} -> ${aliased}` });
  }
  if (state.seen.has(info.model.id)) return null;
  state.seen.add(info.model.id);
  state.chain.push({ kind: 'model', model: info, variant, role });
  return null;
}

/** A split by model picks the primary among its arms (sticky on a fact, else seeded). */
function applyModelSplit(state: Resolution, seed: number): void {
  const split = state.rules.split;
  if (split === null || split.value.by !== 'model') return;
  const index = catalogIndex(state.catalog);
  const arms: Array<{ info: ModelInfo; weight: number }> = [];
  let total = 0;
  for (const name of Object.keys(split.value.weights)) {
    const weight = split.value.weights[name] ?? 0;
    const info = index.models.get(state.policy.aliases.get(name) ?? name);
    if (info !== undefined && weight > 0) {
      arms.push({ info, weight });
      total += weight;
    }
  }
  if (arms.length === 0) return;
  const stickyValue = split.value.sticky !== undefined ? factValue(state.facts, split.value.sticky) : null;
  const draw = stickyValue !== null ? unitHash(`${stickyValue}|${split.source}`) : seededDraw(seed, `split|${split.source}`);
  let cumulative = 0;
  let chosen = arms[arms.length - 1]!;
  for (const arm of arms) {
    cumulative += arm.weight;
    if (draw * total < cumulative) {
      chosen = arm;
      break;
    }
  }
  const rest: ChainItem[] = [];
  for (const item of state.chain) if (item.kind !== 'model' || item.model !== chosen.info) rest.push(item);
  state.chain = [{ kind: 'model', model: chosen.info, variant: null, role: `split arm (rule ${split.source})` }, ...rest];
  state.seen.add(chosen.info.model.id);
  state.trace.push({ stage: 'resolve', message: `split by model (rule ${split.source}, ${stickyValue !== null ? `sticky on ${split.value.sticky}` : 'seeded draw'}): ${chosen.info.model.id}` });
}

/** Resolve the requested models (or the rule's `route_to`) into the chain. */
export function resolveChain(
  policy: CompiledPolicy,
  catalog: CompiledCatalog,
  facts: RequestFacts,
  snapshot: Snapshot,
  rules: RuleOutcome,
  seed: number,
  trace: TraceEntry[],
): ResolveResult {
  const state: Resolution = { policy, catalog, facts, snapshot, rules, trace, strategy: 'direct', chain: [], seen: new Set(), autoRanked: null };
  let names: readonly string[];
  let variants: ReadonlyArray<Variant | null>;
  if (rules.routeTo !== null) {
    names = [rules.routeTo.value];
    variants = NO_VARIANT;
    state.strategy = 'rule';
    trace.push({ stage: 'resolve', message: `route_to ${rules.routeTo.value} (rule ${rules.routeTo.source}) replaces the requested ${facts.models.join(', ') || 'model'}` });
  } else if (facts.models.length === 0) {
    names = AUTO_REQUEST;
    variants = NO_VARIANT;
  } else {
    names = facts.models;
    variants = facts.variants;
    if (names.length > 1 && rules.lock.has('models')) {
      trace.push({ stage: 'resolve', message: `request models [${names.slice(1).join(', ')}] ignored: locked by ${rules.lockSource}` });
      names = names.slice(0, 1);
    }
    if (rules.lock.has('variants') && variants.some(isVariant)) {
      trace.push({ stage: 'resolve', message: `request variants ignored: locked by ${rules.lockSource}` });
      variants = NO_VARIANT;
    }
  }

  for (let position = 0; position < names.length; position++) {
    const failed = addToChain(state, names[position]!, variants[position] ?? null, position === 0 ? 'primary' : 'request fallback', position);
    if (failed !== null) return failed;
  }
  applyModelSplit(state, seed);

  if (rules.fallbacks !== null) {
    const index = catalogIndex(catalog);
    for (const name of rules.fallbacks.value) {
      const aliased = policy.aliases.get(name) ?? name;
      if (!AUTO_NAMES.has(aliased) && !index.models.has(aliased)) {
        trace.push({ stage: 'resolve', message: `fallback ${name} (rule ${rules.fallbacks.source}) is not in the catalog; skipped` });
        continue;
      }
      const failed = addToChain(state, name, null, `rule fallback (${rules.fallbacks.source})`, state.chain.length);
      if (failed !== null) return failed;
    }
  }
  return { ok: true, strategy: state.strategy, chain: state.chain };
}
