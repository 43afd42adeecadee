import { describe, expect, it } from 'vitest';
import { parseYaml } from '../parse/parse-yaml.ts';
import { validateSchema } from './validate-schema.ts';

function validatePolicyText(text: string) {
  const parsed = parseYaml(text, 'policy.yaml');
  if (!parsed.ok) throw new Error('parse failed');
  return validateSchema('policy', parsed.value.data, parsed.value.sourceMap);
}

describe('validateSchema', () => {
  it('accepts a minimal policy', () => {
    expect(validatePolicyText('version: 1\nid: minimal\n')).toEqual([]);
  });

  it('reports every problem at once, sorted, each at its own line:col', () => {
    const text = [
      'version: 1', //                         1
      'id: demo', //                           2
      'require:', //                           3
      '  regoins: [eu]', //                    4  misspelt key
      '  zdr: "yes"', //                       5  wrong type
      'budgets:', //                           6
      '  - id: team', //                       7  missing scope
      '    period: daily', //                  8  bad enum
      '    limit: 10', //                      9
      'rules:', //                            10
      '  - id: r1', //                        11
      '    sort: prise', //                   12
      '',
    ].join('\n');
    const diagnostics = validatePolicyText(text);
    expect(diagnostics.map(({ code, line, column, pointer }) => ({ code, line, column, pointer }))).toEqual([
      { code: 'schema_unknown_property', line: 4, column: 3, pointer: '/require/regoins' },
      { code: 'schema_wrong_type', line: 5, column: 8, pointer: '/require/zdr' },
      { code: 'schema_missing_property', line: 7, column: 5, pointer: '/budgets/0' },
      { code: 'schema_invalid_value', line: 8, column: 13, pointer: '/budgets/0/period' },
      { code: 'schema_invalid_value', line: 12, column: 11, pointer: '/rules/0/sort' },
    ]);
    expect(diagnostics[0]?.hint).toBe('did you mean `regions`?');
    expect(diagnostics[1]?.message).toBe('`require.zdr` must be boolean, got string "yes"');
    expect(diagnostics[2]?.message).toContain('`scope`');
    expect(diagnostics[3]?.hint).toBe('did you mean `day`?');
    expect(diagnostics[4]?.hint).toBe('did you mean `price`?');
  });

  it('lists the allowed keys when nothing is close', () => {
    const [diagnostic] = validatePolicyText('version: 1\nid: demo\noptions: { zzzzzzzz: true }\n');
    expect(diagnostic).toMatchObject({ code: 'schema_unknown_property', line: 3, column: 12, hint: 'allowed here: loose_equality' });
  });

  it('validates request facts against the facts schema', () => {
    const facts = {
      model: 'openai/gpt-4o', models: ['openai/gpt-4o'], variants: [null], tags: [], key: null, user: null, team: null, headers: {},
      prompt_tokens: 10, max_tokens: null, tools: false, tool_choice: null, response_format: null, input_modalities: ['text'], stream: false,
      parameters: [], provider: {}, session: null,
    };
    expect(validateSchema('facts', facts)).toEqual([]);
    const problems = validateSchema('facts', { ...facts, prompt_tokens: -1, extra: 1 });
    expect(problems.map((problem) => problem.code).sort()).toEqual(['schema_invalid_value', 'schema_unknown_property']);
  });
});
