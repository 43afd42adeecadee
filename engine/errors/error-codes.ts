/**
 * Every engine diagnostic / error code with a one-line meaning. engine/README.md has the same
 * table; engine/errors/error-codes.test.ts fails when the two disagree, so add a code in both.
 * Codes are stable: tests, CLI output and dashboards match on them.
 */
export const ENGINE_ERROR_CODES: Readonly<Record<string, string>> = Object.freeze({
  // parse: YAML text -> data
  yaml_syntax_error: 'The text is not valid YAML (or holds several documents).',
  yaml_duplicate_key: 'A mapping has the same key twice.',
  yaml_merge_key: 'A `<<` merge key was used; merges are not supported.',
  yaml_forbidden_key: 'A key named `__proto__`, `constructor` or `prototype` was used.',
  yaml_non_string_key: 'A mapping key is a collection instead of a plain string.',
  yaml_alias_limit: 'Aliases expand too far (a "billion laughs" document).',
  yaml_warning: 'The YAML parser warned (for example an unknown tag); the value was read as a string.',

  // validate: JSON Schema (schemas/*.v1.schema.json)
  schema_unknown_property: 'A key the schema does not define (often a typo; the hint suggests the closest key).',
  schema_missing_property: 'A required key is missing.',
  schema_wrong_type: 'A value has the wrong type (string for boolean, ...).',
  schema_invalid_value: 'A value breaks a schema rule: not one of the allowed values, pattern, range, length or uniqueness.',

  // catalog compilation
  catalog_duplicate_provider: 'A provider id is declared twice across the catalog files.',
  catalog_duplicate_model: 'A model id is declared twice in one catalog file.',
  catalog_model_incomplete: 'The first declaration of a model lacks name, context_length or modalities.',
  catalog_model_conflict: 'A later catalog file redeclares a model field with a different value (later files may only add endpoints).',
  catalog_unknown_provider: 'An endpoint names a provider no catalog file declares.',
  catalog_duplicate_endpoint: 'A model has two endpoints on the same provider.',
  catalog_model_without_endpoints: 'A model has no endpoints and can never be routed (warning).',

  // policy resolve stage
  policy_unknown_model: 'A model id or alias (route_to, fallbacks, auto candidates, split, downgrade_to, alias target) is not in the catalog.',
  policy_unknown_provider: 'A provider id or base slug (providers allow/deny, split weights) is not in the catalog.',
  policy_unknown_budget: '`require.budgets` names a budget that is not declared.',
  policy_unknown_region: 'No catalog provider is in a required region (warning).',
  policy_duplicate_budget: 'A budget id is declared twice.',
  policy_reserved_name: 'An alias is named `auto` or hides a catalog model id.',
  policy_auto_not_allowed: '`auto` is used where a concrete model is needed (only `route_to` may say `auto`).',
  policy_invalid_sticky: '`split.sticky` is not a single-valued request fact.',

  // policy conditions stage
  condition_unknown_operator: 'An operator that is not on the allowlist (unknown, or refused such as `log`, `map`, `reduce`).',
  condition_loose_equality: '`==` or `!=` without `options.loose_equality: true`; use `===` / `!==`.',
  condition_unknown_fact: 'A `var` / `missing` path that schemas/facts.v1.schema.json does not define.',
  condition_header_not_exposed: '`headers.<name>` for a header not listed in `expose_headers`.',
  condition_forbidden_path: 'A path segment `__proto__`, `constructor` or `prototype`.',
  condition_dynamic_path: 'A fact path computed by an expression instead of written literally.',
  condition_object_literal: 'An object with zero or several keys where an operation was expected (JSON Logic would treat it as a literal).',
  condition_type_mismatch: '`===` / `!==` compares a fact with a literal of a type (or enum value) the fact never has, so the result never varies.',
  condition_arity: 'An operator got the wrong number of arguments.',
  condition_too_deep: 'A condition nests operations deeper than the limit (32).',
  condition_too_large: 'A condition has more nodes than the limit (512).',

  // policy lint stage
  lint_unreachable_rule: 'A rule after a final rule that matches every request, or the same `when` (warning).',
  lint_rule_never_matches: 'A rule has `when: false` (warning).',
  lint_duplicate_rule_id: 'Two rules share an id.',
  lint_empty_fallbacks: 'A rule has `fallbacks: []` (warning).',
  lint_split_zero_weights: 'A split whose weights sum to zero.',
  lint_fallback_context_smaller: 'A fallback model has a smaller context window than the rule\'s route_to model (warning).',
  lint_unused_budget: 'A budget is declared but no `require.budgets` uses it (warning).',
  lint_unsatisfiable_constraints: 'No catalog endpoint meets the global `require`, or a rule\'s constraints together with it, so matching requests find no route (warning; request-dependent limits are not considered).',
  lint_inconsistent_limits: 'Timeouts out of order (first_byte > attempt > total) or backoff above max_backoff (warning).',

  // any stage
  internal_error: 'A compiler stage failed unexpectedly; the message names the stage.',

  // request facts and evaluation (engine/facts, engine/evaluate): NoRouteError and facts errors
  invalid_request: 'The request body is not a valid chat completion request (HTTP 400).',
  invalid_provider_preferences: 'The request `provider` object is invalid (HTTP 400).',
  model_not_found: 'The requested model, alias or variant is not in the catalog (HTTP 404).',
  no_route: 'Every candidate endpoint was excluded; `excluded` says why (HTTP 404).',
  budget_exceeded: 'A required budget has no headroom for the request and no downgrade applies (HTTP 402).',

  // policy test runner (engine/testing)
  test_parse_error: 'A policy test file is not valid YAML.',
  test_schema_error: 'A policy test file does not match its schema.',
  test_load_error: 'A policy test file names a policy or catalog that cannot be loaded.',
  test_engine_error: 'The engine failed while running a test case.',
  test_no_expectation: 'A test case has no expectation (a case that asserts nothing fails).',
});
