import { checkFactPath, factsSchemaRoot, isScalarFact } from '../conditions/fact-paths.ts';
import { didYouMean } from '../errors/suggest.ts';
import type { ProblemAt } from '../parse/source-map.ts';
import type {
  AutoModelSettings,
  Budget,
  CompiledCatalog,
  CompiledPolicy,
  Constraints,
  LockableOverride,
  PolicyDocument,
  RetryPolicy,
  Timeouts,
} from '../types.ts';
import { AUTO_MODEL, POLICY_DEFAULTS } from './policy-defaults.ts';

/** Everything of a CompiledPolicy except its rules, resolved against a catalog. */
export type ResolvedPolicy = Pick<CompiledPolicy, 'defaults' | 'require' | 'budgets' | 'lock' | 'aliases' | 'auto' | 'exposeHeaders'>;

/** Does a provider reference (`deepinfra`, or the full slug `deepinfra/turbo`) match a catalog provider? */
export function providerReferenceKnown(catalog: CompiledCatalog, reference: string): boolean {
  if (catalog.providers.has(reference)) return true;
  for (const id of catalog.providers.keys()) if (id.startsWith(`${reference}/`)) return true;
  return false;
}

/**
 * The `resolve` stage: defaults applied, and every model, alias, provider, budget and fact path
 * the policy names checked against the catalog and the facts schema. Unknown ids are errors.
 */
export function resolvePolicy(document: PolicyDocument, catalog: CompiledCatalog): { resolved: ResolvedPolicy; problems: ProblemAt[] } {
  const problems: ProblemAt[] = [];
  const aliasTargets = new Map<string, string>();
  const aliasNames = Object.keys(document.aliases ?? {});
  const exposeHeaders = document.expose_headers ?? [];
  const regions = new Set([...catalog.providers.values()].map((provider) => provider.region));

  const unknownModelHint = (reference: string): string =>
    didYouMean(reference, [...catalog.models.keys(), ...aliasNames]) ?? 'use a catalog model id (`author/slug`) or an alias declared under `aliases`';

  /** Check a model reference (`target: 'key'` when the reference is a mapping key, as in split weights). */
  const modelReference = (reference: string, pointer: string, allowAuto: boolean, target: 'key' | 'value' = 'value'): void => {
    if (reference === AUTO_MODEL) {
      if (!allowAuto) problems.push({ code: 'policy_auto_not_allowed', message: '`auto` may only be used as `route_to`', pointer, target, hint: 'name concrete models (or aliases) here' });
      return;
    }
    if (catalog.models.has(reference) || aliasTargets.has(reference)) return;
    problems.push({ code: 'policy_unknown_model', message: `unknown model \`${reference}\``, pointer, target, hint: unknownModelHint(reference) });
  };

  const providerReference = (reference: string, pointer: string, target: 'key' | 'value' = 'value'): void => {
    if (providerReferenceKnown(catalog, reference)) return;
    problems.push({
      code: 'policy_unknown_provider',
      message: `unknown provider \`${reference}\``,
      pointer,
      target,
      hint: didYouMean(reference, catalog.providers.keys()) ?? `catalog providers: ${[...catalog.providers.keys()].join(', ')}`,
    });
  };

  for (const [alias, target] of Object.entries(document.aliases ?? {})) {
    const pointer = `/aliases/${alias}`;
    if (alias === AUTO_MODEL) {
      problems.push({ code: 'policy_reserved_name', message: '`auto` is a reserved model name and cannot be an alias', pointer, target: 'key' });
      continue;
    }
    if (catalog.models.has(alias)) {
      problems.push({ code: 'policy_reserved_name', message: `alias \`${alias}\` hides the catalog model of the same id`, pointer, target: 'key' });
      continue;
    }
    if (!catalog.models.has(target)) {
      const chained = document.aliases?.[target];
      problems.push({
        code: 'policy_unknown_model',
        message: `alias \`${alias}\` points at unknown model \`${target}\``,
        pointer,
        hint: chained !== undefined ? `aliases point at model ids, not other aliases: use \`${chained}\`` : unknownModelHint(target),
      });
      continue;
    }
    aliasTargets.set(alias, target);
  }

  const budgets = new Map<string, Budget>();
  (document.budgets ?? []).forEach((budget, index) => {
    const pointer = `/budgets/${index}`;
    if (budgets.has(budget.id)) {
      problems.push({ code: 'policy_duplicate_budget', message: `budget \`${budget.id}\` is declared twice`, pointer: `${pointer}/id` });
      return;
    }
    budgets.set(budget.id, budget);
    (budget.downgrade_to ?? []).forEach((model, modelIndex) => modelReference(model, `${pointer}/downgrade_to/${modelIndex}`, false));
  });

  const constraints = (require: Constraints | undefined, pointer: string): void => {
    if (!require) return;
    (require.providers?.allow ?? []).forEach((provider, index) => providerReference(provider, `${pointer}/providers/allow/${index}`));
    (require.providers?.deny ?? []).forEach((provider, index) => providerReference(provider, `${pointer}/providers/deny/${index}`));
    (require.budgets ?? []).forEach((budget, index) => {
      if (budgets.has(budget)) return;
      problems.push({
        code: 'policy_unknown_budget',
        message: `unknown budget \`${budget}\``,
        pointer: `${pointer}/budgets/${index}`,
        hint: didYouMean(budget, budgets.keys()) ?? 'declare it under `budgets`',
      });
    });
    (require.regions ?? []).forEach((region, index) => {
      if (regions.has(region)) return;
      problems.push({
        code: 'policy_unknown_region',
        severity: 'warning',
        message: `no catalog provider is in region \`${region}\``,
        pointer: `${pointer}/regions/${index}`,
        hint: didYouMean(region, regions) ?? `catalog regions: ${[...regions].sort().join(', ')}`,
      });
    });
  };

  constraints(document.require, '/require');
  (document.auto?.candidates ?? []).forEach((model, index) => modelReference(model, `/auto/candidates/${index}`, false));

  (document.rules ?? []).forEach((rule, index) => {
    const pointer = `/rules/${index}`;
    constraints(rule.require, `${pointer}/require`);
    if (rule.route_to !== undefined) modelReference(rule.route_to, `${pointer}/route_to`, true);
    (rule.fallbacks ?? []).forEach((model, modelIndex) => modelReference(model, `${pointer}/fallbacks/${modelIndex}`, false));
    if (rule.split) {
      for (const key of Object.keys(rule.split.weights)) {
        const keyPointer = `${pointer}/split/weights/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        if (rule.split.by === 'model') modelReference(key, keyPointer, false, 'key');
        else providerReference(key, keyPointer, 'key');
      }
      const sticky = rule.split.sticky;
      if (sticky !== undefined) {
        const check = checkFactPath(sticky, factsSchemaRoot(), new Set(exposeHeaders));
        if (!check.ok || !isScalarFact(check.schema)) {
          const problem: ProblemAt = {
            code: 'policy_invalid_sticky',
            message: check.ok ? `\`${sticky}\` is not a single value, so it cannot keep a caller in one arm` : check.message,
            pointer: `${pointer}/split/sticky`,
            hint: check.ok ? 'use `user`, `key`, `team`, `session` or an exposed header' : (check.hint ?? 'use `user`, `key`, `team` or `session`'),
          };
          problems.push(problem);
        }
      }
    }
  });

  const defaults = document.defaults ?? {};
  const resolvedDefaults: CompiledPolicy['defaults'] = {
    attempts: defaults.attempts ?? POLICY_DEFAULTS.attempts,
    retries: { ...POLICY_DEFAULTS.retries, ...defaults.retries } as RetryPolicy,
    timeouts: { ...POLICY_DEFAULTS.timeouts, ...defaults.timeouts } as Timeouts,
  };
  if (defaults.sort !== undefined) resolvedDefaults.sort = defaults.sort;
  if (defaults.targets !== undefined) resolvedDefaults.targets = defaults.targets;
  const auto: AutoModelSettings = document.auto ? { ...document.auto } : { ...POLICY_DEFAULTS.auto };

  return {
    resolved: {
      defaults: resolvedDefaults,
      require: document.require ?? {},
      budgets,
      lock: new Set<LockableOverride>(document.lock ?? []),
      aliases: aliasTargets,
      auto,
      exposeHeaders,
    },
    problems,
  };
}
