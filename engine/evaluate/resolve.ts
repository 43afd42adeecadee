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

const AUTO_NAMES = new Set(['auto', 'openrouter/auto']);

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

function bestThroughput(info: ModelInfo, snapshot: Snapshot): number {
  let best = Number.NEGATIVE_INFINITY;
  for (const endpoint of info.endpoints) {
    const value = snapshot.endpoints?.[endpoint.endpoint.id]?.throughput?.p50;
    if (value !== undefined && value > best) best = value;
  }
  return best;
}

function lowestErrorRate(info: ModelInfo, snapshot: Snapshot): number {
  let best = Number.POSITIVE_INFINITY;
  for (const endpoint of info.endpoints) {
    const value = snapshot.endpoints?.[endpoint.endpoint.id]?.error_rate;
    if (value !== undefined && value < best) best = value;
  }
  return best;
}

/** The capable models `auto` may use, best first. */
export function rankAutoModels(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot): ModelInfo[] {
  const index = catalogIndex(catalog);
  let pool: ModelInfo[];
  if (policy.auto.candidates !== undefined) {
    pool = [];
    for (const name of policy.auto.candidates) {
      const info = index.models.get(policy.aliases.get(name) ?? name);
      if (info !== undefined && !pool.includes(info)) pool.push(info);
    }
    pool.sort((a, b) => index.modelsByPrice.indexOf(a) - index.modelsByPrice.indexOf(b));
  } else {
    pool = index.modelsByPrice as ModelInfo[];
  }
  const capable = pool.filter((info) => modelIsCapable(info, facts));
  // Pool is cheapest-first already; the other strategies re-sort stably with price as the tie-breaker.
  if (policy.auto.strategy === 'fastest') {
    const score = new Map(capable.map((info) => [info, bestThroughput(info, snapshot)]));
    capable.sort((a, b) => compareNumbers(score.get(b) ?? Number.NEGATIVE_INFINITY, score.get(a) ?? Number.NEGATIVE_INFINITY));
  } else if (policy.auto.strategy === 'most_reliable') {
    const score = new Map(capable.map((info) => [info, lowestErrorRate(info, snapshot)]));
    capable.sort((a, b) => compareNumbers(score.get(a) ?? Number.POSITIVE_INFINITY, score.get(b) ?? Number.POSITIVE_INFINITY));
  }
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
  const index = catalogIndex(catalog);
  let names: string[];
  let variants: Array<Variant | null>;
  let strategy: 'direct' | 'alias' | 'auto' | 'rule' = 'direct';
  if (rules.routeTo !== null) {
    names = [rules.routeTo.value];
    variants = [null];
    strategy = 'rule';
    trace.push({ stage: 'resolve', message: `route_to ${rules.routeTo.value} (rule ${rules.routeTo.source}) replaces the requested ${facts.models.join(', ') || 'model'}` });
  } else if (facts.models.length === 0) {
    names = ['auto'];
    variants = [null];
  } else {
    names = facts.models;
    variants = facts.variants;
    if (names.length > 1 && rules.lock.has('models')) {
      trace.push({ stage: 'resolve', message: `request models [${names.slice(1).join(', ')}] ignored: locked by ${rules.lockSource}` });
      names = names.slice(0, 1);
    }
    if (variants.some((variant) => variant !== null) && rules.lock.has('variants')) {
      trace.push({ stage: 'resolve', message: `request variants ignored: locked by ${rules.lockSource}` });
      variants = names.map(() => null);
    }
  }

  const chain: ChainItem[] = [];
  const seen = new Set<string>();
  let autoRanked: ModelInfo[] | null = null;
  const rankAuto = (): ModelInfo[] => (autoRanked ??= rankAutoModels(policy, catalog, facts, snapshot));

  const add = (name: string, variant: Variant | null, role: string, position: number): { ok: false; error: NoRouteError } | null => {
    if (AUTO_NAMES.has(name)) {
      if (position === 0 && strategy !== 'rule') strategy = 'auto';
      const ranked = rankAuto();
      trace.push({ stage: 'resolve', message: `auto (${policy.auto.strategy}): ${ranked.length} capable model(s)${ranked.length > 0 ? `, best ${ranked.slice(0, AUTO_MODELS).map((info) => info.model.id).join(', ')}` : ''}` });
      chain.push({ kind: 'auto', ranked, variant, role });
      return null;
    }
    const aliased = policy.aliases.get(name);
    if (aliased !== undefined && AUTO_NAMES.has(aliased)) return add(aliased, variant, role, position);
    const info = index.models.get(aliased ?? name);
    if (info === undefined) return notFound(name, rules, trace);
    if (aliased !== undefined) {
      if (position === 0 && strategy === 'direct') strategy = 'alias';
      trace.push({ stage: 'resolve', message: `alias ${name} -> ${aliased}` });
    }
    if (seen.has(info.model.id)) return null;
    seen.add(info.model.id);
    chain.push({ kind: 'model', model: info, variant, role });
    return null;
  };

  for (let position = 0; position < names.length; position++) {
    const failed = add(names[position]!, variants[position] ?? null, position === 0 ? 'primary' : 'request fallback', position);
    if (failed !== null) return failed;
  }

  // A split by model picks the primary among its arms (sticky on a fact, else seeded).
  const split = rules.split;
  if (split !== null && split.value.by === 'model') {
    const arms: Array<{ info: ModelInfo; weight: number }> = [];
    let total = 0;
    for (const name of Object.keys(split.value.weights)) {
      const weight = split.value.weights[name] ?? 0;
      const info = index.models.get(policy.aliases.get(name) ?? name);
      if (info !== undefined && weight > 0) {
        arms.push({ info, weight });
        total += weight;
      }
    }
    if (arms.length > 0) {
      const stickyValue = split.value.sticky !== undefined ? factValue(facts, split.value.sticky) : null;
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
      const rest = chain.filter((item) => item.kind !== 'model' || item.model !== chosen.info);
      chain.length = 0;
      chain.push({ kind: 'model', model: chosen.info, variant: null, role: `split arm (rule ${split.source})` }, ...rest);
      seen.add(chosen.info.model.id);
      trace.push({ stage: 'resolve', message: `split by model (rule ${split.source}, ${stickyValue !== null ? `sticky on ${split.value.sticky}` : 'seeded draw'}): ${chosen.info.model.id}` });
    }
  }

  if (rules.fallbacks !== null) {
    for (const name of rules.fallbacks.value) {
      const aliased = policy.aliases.get(name) ?? name;
      if (!AUTO_NAMES.has(aliased) && !index.models.has(aliased)) {
        trace.push({ stage: 'resolve', message: `fallback ${name} (rule ${rules.fallbacks.source}) is not in the catalog; skipped` });
        continue;
      }
      const failed = add(name, null, `rule fallback (${rules.fallbacks.source})`, chain.length);
      if (failed !== null) return failed;
    }
  }
  return { ok: true, strategy, chain };
}
