import type { CompiledCatalog, CompiledPolicy, EvaluateOptions, EvaluateResult, RequestFacts, Snapshot } from '../types.ts';

/** (policy, catalog, facts, snapshot, {now, seed}) -> plan. STUB: engine-evaluate helper replaces this. */
export function evaluate(policy: CompiledPolicy, catalog: CompiledCatalog, facts: RequestFacts, snapshot: Snapshot, options: EvaluateOptions): EvaluateResult {
  void policy;
  void catalog;
  void facts;
  void snapshot;
  void options;
  throw new Error('not implemented');
}
