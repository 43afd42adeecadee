/**
 * The engine's public surface. Nothing outside `engine/` imports anything else from it.
 *
 * Stages: parse (YAML -> document + positions) -> validate (JSON Schema) -> compile (defaults,
 * catalog references, conditions, lints) -> evaluate (facts + snapshot -> plan).
 */
export type * from './types.ts';
export { QUANTIZATION_ORDER } from './types.ts';

export { compileCatalog, type CatalogSource } from './compile/compile-catalog.ts';
export { compilePolicy, type CompilePolicyOptions } from './compile/compile-policy.ts';
export { ENGINE_ERROR_CODES } from './errors/error-codes.ts';
export { formatDiagnostic, sortDiagnostics } from './errors/diagnostic.ts';
export { parseYaml, type ParsedYaml } from './parse/parse-yaml.ts';
export { SourceMap, diagnosticAt, type ProblemAt, type SourcePosition } from './parse/source-map.ts';
export { type ParseYamlOptions } from './parse/parse-yaml.ts';
export { validateSchema, type SchemaKind } from './validate/validate-schema.ts';
export { numericPricing } from './compile/compile-catalog.ts';
export {
  compilePolicyStages,
  POLICY_STAGES,
  type PolicyStageName,
  type PolicyStage,
  type PolicyCompilation,
} from './compile/compile-policy.ts';
export { POLICY_DEFAULTS, AUTO_MODEL } from './compile/policy-defaults.ts';
export { sha256Hex, contentVersion } from './compile/sha256.ts';
export {
  compileCondition,
  truthy,
  type ConditionOptions,
  type ConditionProblem,
  type ExecutableCondition,
} from './conditions/compile-condition.ts';

export { requestFacts, estimatePromptTokens, type FactsResult, type FactsOptions } from './facts/request-facts.ts';
export { normalizeProviderPreferences } from './facts/provider-preferences.ts';
export { evaluate } from './evaluate/evaluate.ts';
export { budgetScopeKey } from './evaluate/budgets.ts';
/** The engine's seeded hash and generator, shared so the sidecar's deterministic parts draw the same way. */
export { fnv1a, mulberry32 } from './evaluate/random.ts';

export { runPolicyTestFile, type PolicyTestReport, type PolicyTestCaseResult, type LoadText } from './testing/run-policy-tests.ts';
export {
  checkPolicyTestFile,
  DEFAULT_NOW,
  DEFAULT_SEED,
  type RunPolicyTestOptions,
  type PolicyTestCoverage,
} from './testing/run-policy-tests.ts';
export { describeDiagnostic, describeExclusion, type CaseOutcome, type ExpectationFailure } from './testing/expectations.ts';
