import fc from 'fast-check';
import jsonLogic from 'json-logic-js';
import { describe, expect, it } from 'vitest';
import type { RequestFacts } from '../types.ts';
import { compileCondition, type ConditionOptions } from './compile-condition.ts';
import { ALLOWED_OPERATORS } from './operators.ts';

const OPTIONS: ConditionOptions = { exposeHeaders: ['x-confidential', 'x-tier'] };

function baseFacts(overrides: Partial<RequestFacts> = {}): RequestFacts {
  return {
    model: 'openai/gpt-4o-mini',
    models: ['openai/gpt-4o-mini'],
    variants: [null],
    tags: [],
    key: 'key-1',
    user: 'alice',
    team: 'ml',
    headers: {},
    prompt_tokens: 1200,
    max_tokens: 512,
    tools: false,
    tool_choice: null,
    response_format: null,
    input_modalities: ['text'],
    stream: false,
    parameters: ['max_tokens'],
    provider: {},
    session: null,
    ...overrides,
  };
}

function compileOk(source: unknown, options: ConditionOptions = OPTIONS) {
  const result = compileCondition(source, options);
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.problems)}`);
  return result.condition;
}

function problemsOf(source: unknown, options: ConditionOptions = OPTIONS) {
  const result = compileCondition(source, options, '/when');
  if (result.ok) throw new Error('expected problems');
  return result.problems;
}

describe('compileCondition: checks', () => {
  it('refuses == and != unless loose_equality is on', () => {
    const [problem] = problemsOf({ '==': [{ var: 'model' }, 'x'] });
    expect(problem).toMatchObject({ code: 'condition_loose_equality', pointer: '/when/==' });
    expect(problem?.hint).toContain('===');
    expect(compileCondition({ '!=': [1, '1'] }, { ...OPTIONS, looseEquality: true }).ok).toBe(true);
  });

  it('refuses unknown and unsafe operators with hints', () => {
    expect(problemsOf({ inn: [1, [1]] })[0]).toMatchObject({ code: 'condition_unknown_operator', hint: 'did you mean `in`?' });
    for (const operator of ['log', 'map', 'filter', 'reduce', 'method']) {
      expect(problemsOf({ [operator]: [[1], 1] })[0]?.code).toBe('condition_unknown_operator');
    }
  });

  it('checks var paths against the facts schema', () => {
    expect(problemsOf({ var: 'prompt_token' })[0]).toMatchObject({ code: 'condition_unknown_fact', hint: 'did you mean `prompt_tokens`?' });
    expect(problemsOf({ var: 'provider.sorting' })[0]?.code).toBe('condition_unknown_fact');
    expect(problemsOf({ var: 'headers.x-team' })[0]).toMatchObject({ code: 'condition_header_not_exposed', hint: 'add `x-team` to `expose_headers`' });
    for (const path of ['model', 'models.0', 'models.length', 'tags', 'provider.sort.by', 'provider.max_price.prompt', 'headers.x-confidential', 'session']) {
      expect(compileCondition({ var: path }, OPTIONS).ok, path).toBe(true);
    }
  });

  it('refuses prototype-reaching path segments, also where paths are unchecked', () => {
    expect(problemsOf({ var: '__proto__' })[0]?.code).toBe('condition_forbidden_path');
    expect(problemsOf({ var: 'provider.constructor' })[0]?.code).toBe('condition_forbidden_path');
    const unchecked = { some: [{ merge: [['abc']] }, { var: 'prototype.x' }] };
    expect(problemsOf(unchecked)[0]?.code).toBe('condition_forbidden_path');
  });

  it('checks paths inside quantifiers against the element schema', () => {
    expect(compileCondition({ some: [{ var: 'models' }, { in: ['gpt', { var: '' }] }] }, OPTIONS).ok).toBe(true);
    expect(problemsOf({ some: [{ var: 'models' }, { var: 'id' }] })[0]).toMatchObject({ code: 'condition_unknown_fact', pointer: '/when/some/1/var' });
  });

  it('refuses multi-key and empty objects, computed paths, wrong arity, depth and size', () => {
    expect(problemsOf({ '===': [1, 1], '!==': [1, 2] })[0]?.code).toBe('condition_object_literal');
    expect(problemsOf({ and: [{}] })[0]).toMatchObject({ code: 'condition_object_literal', pointer: '/when/and/0' });
    expect(problemsOf({ var: { cat: ['mo', 'del'] } })[0]?.code).toBe('condition_dynamic_path');
    expect(problemsOf({ '===': [1] })[0]).toMatchObject({ code: 'condition_arity', message: '`===` takes 2 arguments, got 1' });
    expect(problemsOf({ some: [[1]] })[0]?.code).toBe('condition_arity');
    let deep: unknown = true;
    for (let level = 0; level < 40; level += 1) deep = { '!': [deep] };
    expect(problemsOf(deep)[0]?.code).toBe('condition_too_deep');
    const wide = { or: Array.from({ length: 600 }, (_, index) => ({ '===': [{ var: 'prompt_tokens' }, index] })) };
    expect(problemsOf(wide).map((problem) => problem.code)).toEqual(['condition_too_large']);
  });

  it('refuses strict comparisons that can never hold', () => {
    expect(problemsOf({ '===': [{ var: 'tools' }, 'true'] })[0]).toMatchObject({ code: 'condition_type_mismatch', pointer: '/when/===', hint: 'it is boolean' });
    expect(problemsOf({ '!==': ['json', { var: 'response_format' }] })[0]?.message).toBe('`response_format` can never be "json", so this `!==` is always true');
    expect(problemsOf({ '===': [{ var: 'headers.x-confidential' }, true] })[0]?.code).toBe('condition_type_mismatch');
    expect(problemsOf({ '===': [{ var: 'prompt_tokens' }, 1.5] })[0]?.code).toBe('condition_type_mismatch');
    for (const fine of [
      { '===': [{ var: 'max_tokens' }, null] },
      { '===': [{ var: 'response_format' }, 'json_schema'] },
      { '===': [{ var: 'provider.sort.by' }, 'latency'] },
      { '===': [{ var: ['user', 'nobody'] }, 7] },
      { '===': [{ var: 'models.0' }, 'openai/gpt-4o'] },
    ]) {
      expect(compileCondition(fine, OPTIONS).ok, JSON.stringify(fine)).toBe(true);
    }
  });

  it('reports every problem of a condition at once', () => {
    const problems = problemsOf({ and: [{ '==': [1, 1] }, { var: 'nope' }, { bogus: [] }] });
    expect(problems.map((problem) => problem.code).sort()).toEqual(['condition_loose_equality', 'condition_unknown_fact', 'condition_unknown_operator']);
  });
});

describe('compileCondition: evaluation', () => {
  it('evaluates routing conditions with JSON Logic truthiness', () => {
    const confidential = compileOk({ '===': [{ var: 'headers.x-confidential' }, 'true'] });
    expect(confidential.evaluate(baseFacts({ headers: { 'x-confidential': 'true' } })).value).toBe(true);
    expect(confidential.evaluate(baseFacts()).value).toBe(false);
    const tagged = compileOk({ var: 'tags' });
    expect(tagged.evaluate(baseFacts({ tags: [] })).value).toBe(false);
    expect(tagged.evaluate(baseFacts({ tags: ['batch'] })).value).toBe(true);
    const large = compileOk({ and: [{ '>': [{ var: 'prompt_tokens' }, 1000] }, { in: ['openai/gpt-4o-mini', { var: 'models' }] }] });
    expect(large.evaluate(baseFacts()).value).toBe(true);
    expect(large.evaluate(baseFacts({ prompt_tokens: 10 })).value).toBe(false);
  });

  it('turns non-finite arithmetic into an error, never a throw', () => {
    const divide = compileOk({ '>': [{ '/': [{ var: 'prompt_tokens' }, { var: 'max_tokens' }] }, 1] });
    expect(divide.evaluate(baseFacts({ max_tokens: 0 }))).toEqual({ value: false, error: expect.stringContaining('non-finite') });
    expect(divide.evaluate(baseFacts({ max_tokens: 100 }))).toEqual({ value: true });
  });

  it('does not read inherited properties even without a path check', () => {
    const condition = compileOk({ some: [{ merge: [['abc']] }, { var: 'toString' }] });
    expect(condition.rawValue(baseFacts())).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: our closures agree with json-logic-js `apply` wherever ours does not report an error.
// ---------------------------------------------------------------------------------------------

const MODELS = ['openai/gpt-4o', 'openai/gpt-4o-mini', 'anthropic/claude-sonnet-4', 'meta-llama/llama-3.3-70b-instruct'];
const STRINGS = ['', 'true', 'false', '1', '10', '9', 'abc', 'gpt', ...MODELS];
const SCALAR_PATHS = [
  'model', 'models', 'models.0', 'models.length', 'tags', 'tags.0', 'key', 'user', 'team', 'prompt_tokens', 'max_tokens', 'tools',
  'tool_choice', 'response_format', 'input_modalities', 'stream', 'parameters', 'session', 'headers.x-confidential', 'headers.x-tier',
  'provider.zdr', 'provider.data_collection', 'provider.only', 'provider.max_price.prompt', 'provider.sort.by', 'variants.0',
];
const ARRAY_PATHS = ['models', 'tags', 'input_modalities', 'parameters', 'provider.only'];

const literal = fc.oneof(
  fc.integer({ min: -5, max: 20 }),
  fc.constantFrom(0, 1, 0.5, 1000, 100000),
  fc.constantFrom(...STRINGS),
  fc.boolean(),
  fc.constant(null),
);
const varNode = fc.oneof(
  fc.constantFrom(...SCALAR_PATHS).map((path) => ({ var: path })),
  fc.tuple(fc.constantFrom(...SCALAR_PATHS), literal).map(([path, fallback]) => ({ var: [path, fallback] })),
);
const elementPredicate = fc.oneof(
  fc.constantFrom(...STRINGS).map((value) => ({ '===': [{ var: '' }, value] })),
  fc.constantFrom(...STRINGS).map((value) => ({ in: [value, { var: '' }] })),
  fc.constant({ var: '' }),
  fc.integer({ min: 0, max: 12 }).map((length) => ({ '>': [{ var: 'length' }, length] })),
);

const EAGER = ['===', '!==', '==', '!=', '!', '!!', '<', '<=', '>', '>=', 'in', '+', '-', '*', '/', '%', 'min', 'max', 'cat', 'substr', 'merge', 'and', 'or', 'if'];

const { condition } = fc.letrec<{ condition: unknown; operation: unknown }>((tie) => ({
  condition: fc.oneof({ depthSize: 'small', withCrossShrink: true }, literal, varNode, tie('operation'), tie('operation')),
  operation: fc.oneof(
    fc.constantFrom(...EAGER).chain((operator) => {
      const spec = ALLOWED_OPERATORS[operator] ?? { min: 2, max: 2 };
      const max = Math.min(spec.max ?? 4, 4);
      return fc.array(tie('condition'), { minLength: spec.min, maxLength: max }).map((args) => ({ [operator]: args }));
    }),
    fc.tuple(fc.constantFrom('some', 'all', 'none'), fc.constantFrom(...ARRAY_PATHS), elementPredicate).map(([operator, path, predicate]) => ({
      [operator]: [{ var: path }, predicate],
    })),
    fc.constantFrom(...SCALAR_PATHS).chain((path) => fc.constantFrom({ missing: [path] }, { missing_some: [1, [path, 'model']] })),
  ),
}));

const facts: fc.Arbitrary<RequestFacts> = fc.record({
  model: fc.option(fc.constantFrom(...MODELS), { nil: null }),
  models: fc.array(fc.constantFrom(...MODELS), { maxLength: 3 }),
  variants: fc.array(fc.constantFrom<'free' | 'nitro' | 'floor' | null>('free', 'nitro', 'floor', null), { maxLength: 3 }),
  tags: fc.array(fc.constantFrom('batch', 'interactive', 'gpt', ''), { maxLength: 3 }),
  key: fc.option(fc.constantFrom('key-1', '10'), { nil: null }),
  user: fc.option(fc.constantFrom('alice', 'bob', ''), { nil: null }),
  team: fc.option(fc.constantFrom('ml', 'web'), { nil: null }),
  headers: fc.record({ 'x-confidential': fc.constantFrom('true', 'false', '1', ''), 'x-tier': fc.constantFrom('gold', '9') }, { requiredKeys: [] }),
  prompt_tokens: fc.integer({ min: 0, max: 200000 }),
  max_tokens: fc.option(fc.integer({ min: 0, max: 8192 }), { nil: null }),
  tools: fc.boolean(),
  tool_choice: fc.option(fc.constantFrom('auto', 'none'), { nil: null }),
  response_format: fc.constantFrom<RequestFacts['response_format']>('text', 'json_object', 'json_schema', null),
  input_modalities: fc.subarray(['text', 'image', 'audio']),
  stream: fc.boolean(),
  parameters: fc.subarray(['max_tokens', 'temperature', 'tools']),
  provider: fc.record(
    {
      zdr: fc.boolean(),
      data_collection: fc.constantFrom<'allow' | 'deny'>('allow', 'deny'),
      only: fc.array(fc.constantFrom('openai', 'groq'), { maxLength: 2 }),
      max_price: fc.record({ prompt: fc.constantFrom(0, 1, 2.5) }, { requiredKeys: [] }),
      sort: fc.record({ by: fc.constantFrom<'price' | 'latency' | 'throughput'>('price', 'latency'), partition: fc.constantFrom<'model' | 'none'>('model') }),
    },
    { requiredKeys: [] },
  ),
  session: fc.option(fc.constantFrom('s-1'), { nil: null }),
});

describe('compileCondition: agreement with json-logic-js', () => {
  it('returns what json-logic-js apply returns, for random conditions and facts', () => {
    let compared = 0;
    fc.assert(
      fc.property(condition, facts, (source, requestFacts) => {
        const compiled = compileCondition(source, { ...OPTIONS, looseEquality: true, checkTypes: false });
        expect(compiled.ok).toBe(true);
        if (!compiled.ok) return;
        let ours: unknown;
        try {
          ours = compiled.condition.rawValue(requestFacts);
        } catch {
          // Non-finite arithmetic: ours reports an error where json-logic-js returns Infinity/NaN.
          return;
        }
        const reference: unknown = jsonLogic.apply(source as jsonLogic.RulesLogic, requestFacts);
        expect(ours).toStrictEqual(reference);
        expect(compiled.condition.evaluate(requestFacts).value).toBe(jsonLogic.truthy(reference));
        compared += 1;
      }),
      { numRuns: 3000 },
    );
    // The property must not pass vacuously by erroring on everything.
    expect(compared).toBeGreaterThan(1500);
  });
});
