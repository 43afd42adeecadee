import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, compilePolicyStages, formatDiagnostic, type CompiledCatalog, type Diagnostic } from '../../engine/index.ts';

/** A small catalog: two models with different context windows, three providers, two regions. */
const CATALOG = `providers:
  - { id: openai, name: OpenAI, protocol: openai-compatible, base_url: "https://api.openai.com/v1", region: us, data_policy: { trains_on_prompts: false, retention_days: 30, zdr: false } }
  - { id: deepinfra, name: DeepInfra, protocol: openai-compatible, base_url: "https://api.deepinfra.com/v1/openai", region: us, data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true } }
  - { id: deepinfra/turbo, name: DeepInfra Turbo, protocol: openai-compatible, region: us, data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true } }
  - { id: sim-eu, name: Simulated EU, protocol: simulated, region: eu, data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true } }
models:
  - id: openai/gpt-4o
    name: GPT-4o
    context_length: 128000
    input_modalities: [text]
    output_modalities: [text]
    endpoints:
      - { provider: openai, upstream_model: gpt-4o, pricing: { prompt: "0.0000025", completion: "0.00001" }, supported_parameters: [] }
      - { provider: sim-eu, upstream_model: gpt-4o, pricing: { prompt: "0.0000025", completion: "0.00001" }, supported_parameters: [] }
  - id: meta-llama/llama-3.1-8b-instruct
    name: Llama 3.1 8B
    context_length: 8192
    input_modalities: [text]
    output_modalities: [text]
    endpoints:
      - { provider: deepinfra, upstream_model: llama, pricing: { prompt: "0.00000003", completion: "0.00000005" }, supported_parameters: [] }
`;

const catalogResult = compileCatalog([{ text: CATALOG, file: 'catalog.yaml' }]);
if (!catalogResult.ok) throw new Error(catalogResult.diagnostics.map(formatDiagnostic).join('\n'));
const catalog: CompiledCatalog = catalogResult.value;

const lines = (...text: string[]): string => `${text.join('\n')}\n`;
const HEADER = ['version: 1', 'id: test']; // lines 1-2

/** code@line:col for every diagnostic, in the order reported. */
function located(text: string): string[] {
  const result = compilePolicy(text, 'policy.yaml', catalog);
  const diagnostics: Diagnostic[] = result.ok ? (result.warnings ?? []) : result.diagnostics;
  for (const diagnostic of diagnostics) expect(diagnostic.file).toBe('policy.yaml');
  return diagnostics.map((diagnostic) => `${diagnostic.code}@${diagnostic.line}:${diagnostic.column}`);
}

function only(text: string): Diagnostic {
  const result = compilePolicy(text, 'policy.yaml', catalog);
  const diagnostics = result.ok ? (result.warnings ?? []) : result.diagnostics;
  expect(diagnostics, diagnostics.map(formatDiagnostic).join('\n')).toHaveLength(1);
  return diagnostics[0] as Diagnostic;
}

describe('compilePolicy diagnostics: parse and validate', () => {
  it('a YAML syntax error', () => {
    const text = lines(...HEADER, 'rules:', '  - id: a', '   when: true');
    // The third line of the rule is indented by 3, between the sequence (2) and its items (4).
    expect(located(text)).toEqual(['yaml_syntax_error@5:1']);
    const unclosed = lines(...HEADER, 'rules:', '  - id: a', '    when: { var: tools', '  - id: b');
    expect(located(unclosed)[0]).toMatch(/^yaml_syntax_error@6:/);
  });

  it('duplicate keys', () => {
    const text = lines(...HEADER, 'rules:', '  - id: a', '    final: true', '    final: false');
    expect(located(text)).toEqual(['yaml_duplicate_key@6:5']);
  });

  it('a `__proto__` key, a merge key', () => {
    const text = lines(...HEADER, 'defaults: &d { attempts: 2 }', 'options:', '  __proto__: { loose_equality: true }', 'lock:', '  - order', 'x:', '  <<: *d');
    expect(located(text)).toEqual(['yaml_forbidden_key@5:3', 'yaml_merge_key@9:3']);
  });

  it('a misspelt key, with a suggestion', () => {
    const diagnostic = only(lines(...HEADER, 'rules:', '  - id: a', '    wehn: { var: tools }'));
    expect(diagnostic).toMatchObject({ code: 'schema_unknown_property', line: 5, column: 5, pointer: '/rules/0/wehn', hint: 'did you mean `when`?' });
  });

  it('a wrong type', () => {
    const diagnostic = only(lines(...HEADER, 'defaults:', '  attempts: three'));
    expect(diagnostic).toMatchObject({ code: 'schema_wrong_type', line: 4, column: 13, message: '`defaults.attempts` must be integer, got string "three"' });
  });
});

describe('compilePolicy diagnostics: conditions', () => {
  it('an unknown operator, at the operator', () => {
    const diagnostic = only(lines(...HEADER, 'rules:', '  - id: a', '    when: { inn: [gpt, { var: model }] }'));
    expect(diagnostic).toMatchObject({ code: 'condition_unknown_operator', line: 5, column: 13, hint: 'did you mean `in`?' });
  });

  it('`==` without loose_equality, and accepted with it', () => {
    const rule = ['rules:', '  - id: a', '    when: { "==": [{ var: prompt_tokens }, 10] }'];
    const diagnostic = only(lines(...HEADER, ...rule));
    expect(diagnostic).toMatchObject({ code: 'condition_loose_equality', line: 5, column: 13 });
    expect(diagnostic.hint).toContain('use `===`');
    expect(compilePolicy(lines(...HEADER, 'options: { loose_equality: true }', ...rule), 'policy.yaml', catalog).ok).toBe(true);
  });

  it('a `var` path that is not a fact, and a header that is not exposed', () => {
    const text = lines(
      ...HEADER,
      'expose_headers: [x-team]',
      'rules:',
      '  - id: a',
      '    when:',
      '      and:',
      '        - { ">": [{ var: prompt_token }, 10] }',
      '        - { "===": [{ var: headers.x-tier }, gold] }',
      '        - { "===": [{ var: headers.x-team }, ml] }',
    );
    expect(located(text)).toEqual(['condition_unknown_fact@8:26', 'condition_header_not_exposed@9:28']);
    const result = compilePolicy(text, 'policy.yaml', catalog);
    expect(!result.ok && result.diagnostics[0]?.hint).toBe('did you mean `prompt_tokens`?');
  });

  it('a `__proto__` path segment', () => {
    const diagnostic = only(lines(...HEADER, 'rules:', '  - id: a', '    when: { var: provider.__proto__.polluted }'));
    expect(diagnostic).toMatchObject({ code: 'condition_forbidden_path', line: 5, column: 18 });
  });

  it('a multi-key condition object', () => {
    const diagnostic = only(lines(...HEADER, 'rules:', '  - id: a', '    when: { "===": [1, 1], "!==": [1, 2] }'));
    expect(diagnostic).toMatchObject({ code: 'condition_object_literal', line: 5, column: 11 });
  });
});

describe('compilePolicy diagnostics: resolve', () => {
  it('unknown models, providers, budgets, misuse of auto, each at its place', () => {
    const text = lines(
      ...HEADER,
      'aliases:', //                                        3
      '  auto: openai/gpt-4o', //                           4
      '  fast: meta-llama/llama-3.1-8b-instruc', //         5
      'require:', //                                        6
      '  providers: { allow: [openai, deepinfra, opneai] }', // 7
      '  budgets: [monthly]', //                            8
      '  regions: [mars]', //                               9
      'rules:', //                                         10
      '  - id: a', //                                      11
      '    route_to: openai/gpt-4', //                     12
      '    fallbacks: [auto]', //                          13
      '    split: { weights: { openai: 1, nope: 1 }, sticky: tools_used }', // 14
    );
    expect(located(text)).toEqual([
      'policy_reserved_name@4:3',
      'policy_unknown_model@5:9',
      'policy_unknown_provider@7:43',
      'policy_unknown_budget@8:13',
      'policy_unknown_region@9:13',
      'policy_unknown_model@12:15',
      'policy_auto_not_allowed@13:17',
      'policy_unknown_provider@14:36',
      'policy_invalid_sticky@14:55',
    ]);
    const result = compilePolicy(text, 'policy.yaml', catalog);
    if (result.ok) throw new Error('expected errors');
    const hints = Object.fromEntries(result.diagnostics.map((diagnostic) => [`${diagnostic.line}:${diagnostic.column}`, diagnostic.hint]));
    expect(hints['5:9']).toBe('did you mean `meta-llama/llama-3.1-8b-instruct`?');
    expect(hints['7:43']).toBe('did you mean `openai`?');
    expect(hints['12:15']).toBe('did you mean `openai/gpt-4o`?');
  });

  it('accepts base provider slugs, aliases and auto where they belong', () => {
    const text = lines(
      ...HEADER,
      'aliases: { small: meta-llama/llama-3.1-8b-instruct }',
      'auto: { strategy: cheapest, candidates: [small, openai/gpt-4o] }',
      'require: { providers: { deny: [deepinfra] }, regions: [eu] }',
      'rules:',
      '  - { id: a, route_to: auto, split: { by: model, weights: { small: 1, openai/gpt-4o: 3 }, sticky: user } }',
    );
    expect(located(text)).toEqual([]);
  });
});

describe('compilePolicy diagnostics: lints', () => {
  it('an unreachable rule after a catch-all final rule, and after an identical final `when`', () => {
    const text = lines(
      ...HEADER,
      'rules:',
      '  - { id: guard, when: { var: tools }, final: true }', // 4
      '  - { id: same, when: { var: tools } }', //              5
      '  - { id: all, final: true }', //                        6
      '  - { id: late }', //                                    7
    );
    expect(located(text)).toEqual(['lint_unreachable_rule@5:5', 'lint_unreachable_rule@7:5']);
  });

  it('duplicate rule ids (an error)', () => {
    const text = lines(...HEADER, 'rules:', '  - id: a', '  - id: a');
    const result = compilePolicy(text, 'policy.yaml', catalog);
    expect(result.ok).toBe(false);
    expect(located(text)).toEqual(['lint_duplicate_rule_id@5:9']);
  });

  it('an empty fallback chain', () => {
    expect(located(lines(...HEADER, 'rules:', '  - id: a', '    fallbacks: []'))).toEqual(['lint_empty_fallbacks@5:16']);
  });

  it('split weights summing to zero (an error)', () => {
    expect(located(lines(...HEADER, 'rules:', '  - id: a', '    split: { weights: { openai: 0, deepinfra: 0 } }'))).toEqual(['lint_split_zero_weights@5:23']);
  });

  it('a fallback with a smaller context window than route_to', () => {
    const text = lines(...HEADER, 'aliases: { small: meta-llama/llama-3.1-8b-instruct }', 'rules:', '  - id: a', '    route_to: openai/gpt-4o', '    fallbacks: [small]');
    const diagnostic = only(text);
    expect(diagnostic).toMatchObject({ code: 'lint_fallback_context_smaller', severity: 'warning', line: 7, column: 17 });
    expect(diagnostic.message).toContain('8192');
  });

  it('a budget declared but never required', () => {
    const text = lines(...HEADER, 'budgets:', '  - { id: monthly, scope: global, period: month, limit: 100 }', '  - { id: daily, scope: key, period: day, limit: 5 }', 'require: { budgets: [daily] }');
    expect(located(text)).toEqual(['lint_unused_budget@4:5']);
  });

  it('a rule that never matches, inconsistent timeouts', () => {
    const text = lines(...HEADER, 'defaults: { timeouts: { first_byte_ms: 5000, attempt_ms: 1000 } }', 'rules:', '  - { id: off, when: false }');
    expect(located(text)).toEqual(['lint_inconsistent_limits@3:23', 'lint_rule_never_matches@5:22']);
  });

  it('warnings keep the result ok', () => {
    const result = compilePolicy(lines(...HEADER, 'rules:', '  - id: a', '    fallbacks: []'), 'policy.yaml', catalog);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings?.map((warning) => warning.severity)).toEqual(['warning']);
  });
});

describe('compilePolicy: all at once, stages, versions', () => {
  it('reports schema and condition problems of one file in one run, sorted', () => {
    const text = lines(
      ...HEADER,
      'defaults: { attempts: 0 }', //                                  3
      'rules:', //                                                     4
      '  - id: a', //                                                  5
      '    when: { "==": [{ var: modle }, x] }', //                    6
      '    sort: cheapest', //                                         7
      '  - id: b', //                                                  8
      '    when: { log: [1] }', //                                     9
      '    finall: true', //                                          10
    );
    expect(located(text)).toEqual([
      'schema_invalid_value@3:23',
      'condition_loose_equality@6:13',
      'condition_unknown_fact@6:27',
      'schema_invalid_value@7:11',
      'condition_unknown_operator@9:13',
      'schema_unknown_property@10:5',
    ]);
  });

  it('stopAfter stops after the named stage', () => {
    const withResolveError = lines(...HEADER, 'rules:', '  - { id: a, route_to: nowhere/model, when: { "==": [1, 1] } }');
    expect(compilePolicyStages(withResolveError, 'policy.yaml', catalog, { stopAfter: 'validate' })).toEqual({ stages: ['parse', 'validate'], diagnostics: [], document: expect.any(Object) });
    const afterResolve = compilePolicyStages(withResolveError, 'policy.yaml', catalog, { stopAfter: 'resolve' });
    expect(afterResolve.diagnostics.map((diagnostic) => diagnostic.code)).toEqual(['policy_unknown_model']);
    expect(compilePolicyStages(withResolveError, 'policy.yaml', catalog).diagnostics.map((diagnostic) => diagnostic.code)).toEqual(['policy_unknown_model', 'condition_loose_equality']);
    expect(compilePolicy(withResolveError, 'policy.yaml', catalog, { stopAfter: 'parse' })).toEqual({ ok: false, diagnostics: [] });

    const withLint = lines(...HEADER, 'rules:', '  - { id: a, fallbacks: [] }');
    const early = compilePolicy(withLint, 'policy.yaml', catalog, { stopAfter: 'conditions' });
    expect(early.ok && early.warnings).toBeUndefined();
    const full = compilePolicy(withLint, 'policy.yaml', catalog);
    expect(full.ok && full.warnings?.map((warning) => warning.code)).toEqual(['lint_empty_fallbacks']);
    expect(compilePolicyStages(withLint, 'policy.yaml', catalog).stages).toEqual(['parse', 'validate', 'resolve', 'conditions', 'lint']);
  });

  it('applies defaults key by key and versions the policy by the sha256 of its text', () => {
    const text = lines(...HEADER, 'defaults: { retries: { max: 3 }, timeouts: { total_ms: 60000 }, sort: price }');
    const result = compilePolicy(text, 'policy.yaml', catalog);
    if (!result.ok) throw new Error(result.diagnostics.map(formatDiagnostic).join('\n'));
    const policy = result.value;
    expect(policy.defaults).toEqual({
      attempts: 4,
      retries: { max: 3, backoff_ms: 500, multiplier: 2, max_backoff_ms: 30000 },
      timeouts: { first_byte_ms: 30000, attempt_ms: 120000, total_ms: 60000 },
      sort: 'price',
    });
    expect(policy.auto).toEqual({ strategy: 'cheapest' });
    expect(policy.version).toBe(createHash('sha256').update(text).digest('hex').slice(0, 12));
    expect(policy.rules).toEqual([]);
    const rule = compilePolicy(lines(...HEADER, 'rules:', '  - id: always'), 'policy.yaml', catalog);
    expect(rule.ok && rule.value.rules[0]?.location).toEqual({ file: 'policy.yaml', line: 4, column: 5 });
    expect(rule.ok && rule.value.rules[0]?.when.evaluate({} as never)).toEqual({ value: true });
  });
});

describe('compilePolicy diagnostics: constraints nothing can meet', () => {
  it('a rule or a global require whose constraints exclude every endpoint (warnings)', () => {
    const text = lines(
      ...HEADER,
      'rules:',
      '  - { id: eu-zdr-cheap, require: { regions: [eu], max_price: { prompt: 0.5 } } }', // 4: sim-eu's gpt-4o costs $2.5/M
      '  - { id: routed, route_to: meta-llama/llama-3.1-8b-instruct, require: { providers: { allow: [openai] } } }', // 5
      '  - { id: fine, require: { zdr: true, providers: { allow: [deepinfra] } } }', // 6: deepinfra is zdr
    );
    expect(located(text)).toEqual(['lint_unsatisfiable_constraints@4:34', 'lint_unsatisfiable_constraints@5:72']);
    const global = lines(...HEADER, 'require: { quantization_floor: fp8 }');
    const result = compilePolicy(global, 'policy.yaml', catalog);
    expect(result.ok && result.warnings?.map((warning) => warning.severity)).toEqual(['warning']);
    expect(located(global)).toEqual(['lint_unsatisfiable_constraints@3:10']);
  });
});
