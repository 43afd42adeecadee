import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runPolicyTestFile, checkPolicyTestFile, type LoadText } from './run-policy-tests.ts';

const catalogText = readFileSync(new URL('../../test/cli/fixtures/catalog.yaml', import.meta.url), 'utf8');
const policyText = 'version: 1\nid: demo\ndefaults: { sort: price, attempts: 5 }\nrules:\n  - { id: streaming, when: { var: stream }, require: { zdr: true } }\n';

/** In-memory files, so these tests exercise the runner alone. */
function loader(files: Record<string, string>): LoadText {
  return (path) => (path in files ? { text: files[path] ?? '', file: path } : null);
}
const load = loader({ 'catalog.yaml': catalogText, 'policy.yaml': policyText, 'request.json': '{"model":"demo/b","messages":[{"role":"user","content":"hi"}]}' });
const header = 'policy: policy.yaml\ncatalog: catalog.yaml\n';
const request = '{ model: demo/a, messages: [{ role: user, content: hi }] }';

describe('runPolicyTestFile', () => {
  it('fails a case with no expectation', () => {
    const report = runPolicyTestFile(`${header}cases:\n  - note: proves nothing\n    request: ${request}\n`, 't.yaml', load);
    expect(report.cases).toHaveLength(1);
    expect(report.cases[0]?.passed).toBe(false);
    expect(report.cases[0]?.failures[0]?.what).toBe('expect');
  });

  it('rejects more than one expectation when asked to (the corpus rule)', () => {
    const text = `${header}cases:\n  - note: two\n    request: ${request}\n    expect: { first_provider: alpha, attempts: [alpha, beta] }\n`;
    expect(runPolicyTestFile(text, 't.yaml', load).cases[0]?.passed).toBe(true);
    const strict = runPolicyTestFile(text, 't.yaml', load, { singleExpectation: true }).cases[0];
    expect(strict?.passed).toBe(false);
    expect(strict?.failures[0]).toEqual({ what: 'expect', expected: 'exactly one expectation', actual: ['first_provider', 'attempts'] });
  });

  it('checks prefix and relative order of attempts', () => {
    const text = [
      `${header}cases:`,
      `  - { note: prefix ok, request: ${request}, expect: { attempts: { prefix: [alpha] } } }`,
      `  - { note: prefix wrong, request: ${request}, expect: { attempts: { prefix: [beta] } } }`,
      `  - { note: contains ok, request: ${request}, expect: { attempts: { contains: [demo/a@alpha, beta] } } }`,
      `  - { note: contains out of order, request: ${request}, expect: { attempts: { contains: [beta, alpha] } } }`,
    ].join('\n');
    const report = runPolicyTestFile(text, 't.yaml', load);
    expect(report.cases.map((result) => [result.note, result.passed])).toEqual([
      ['prefix ok', true],
      ['prefix wrong', false],
      ['contains ok', true],
      ['contains out of order', false],
    ]);
    expect(report.cases[1]?.failures[0]).toEqual({ what: 'attempts (prefix)', expected: ['beta'], actual: ['alpha', 'beta'] });
  });

  it('reports a missing policy file where it is named, and runs no case', () => {
    const report = runPolicyTestFile('catalog: catalog.yaml\npolicy: nope.yaml\ncases:\n  - { note: x, request: {}, expect: { first_provider: alpha } }\n', 't.yaml', load);
    expect(report.cases).toEqual([]);
    expect(report.diagnostics).toMatchObject([{ code: 'test_load_error', line: 2, column: 9, message: 'policy file not found: nope.yaml' }]);
  });

  it('reports schema problems in the test file with line and column', () => {
    const report = runPolicyTestFile(`${header}cases:\n  - note: typo\n    expcet: {}\n`, 't.yaml', load);
    expect(report.diagnostics).toMatchObject([{ code: 'test_schema_error', line: 5, column: 5 }]);
  });

  it('loads requests from files and builds facts directly from `facts`', () => {
    const text = `${header}cases:\n  - { note: file, request: request.json, expect: { first_provider: gamma } }\n  - { note: facts, facts: { model: demo/a, stream: true }, expect: { attempts: [alpha] } }\n`;
    const report = runPolicyTestFile(text, 't.yaml', load);
    expect(report.cases.map((result) => result.passed)).toEqual([true, true]);
  });

  it('counts rule matches and constraint exclusions for coverage', () => {
    const text = `${header}cases:\n  - { note: a, request: { model: demo/a, stream: true, messages: [{ role: user, content: hi }] }, expect: { first_provider: alpha } }\n  - { note: b, request: ${request}, expect: { first_provider: alpha } }\n`;
    const report = runPolicyTestFile(text, 't.yaml', load);
    expect(report.coverage.rules).toEqual([{ policy: 'demo', id: 'streaming', hits: 1 }]);
    // zdr on demo/a excludes beta (alpha is ZDR), once.
    expect(report.coverage.constraints).toEqual([{ policy: 'demo', name: 'rules.streaming.require.zdr', hits: 1 }]);
  });

  it('places diagnostics of an inline policy at lines of the test file', () => {
    const text = `catalog: catalog.yaml\ncases:\n  - note: bad\n    policy:\n      version: 1\n      id: bad\n      defaults: { sort: cheapest }\n    expect:\n      diagnostics: [{ code: schema_invalid_value, line: 7 }]\n`;
    const report = runPolicyTestFile(text, 't.yaml', load);
    expect(report.cases[0]?.passed).toBe(true);
    const outcome = report.cases[0]?.outcome;
    expect(outcome?.kind === 'diagnostics' ? outcome.diagnostics[0]?.file : null).toBe('t.yaml');
  });
});

describe('checkPolicyTestFile', () => {
  it('reports cases without expectations and policies that do not compile, without running anything', () => {
    const broken = loader({ 'catalog.yaml': catalogText, 'policy.yaml': 'version: 1\nid: x\nrules: [{ id: r, when: { "==": [1, 1] } }]\n' });
    const diagnostics = checkPolicyTestFile(`${header}cases:\n  - note: nothing\n    request: ${request}\n`, 't.yaml', broken);
    expect(diagnostics.map((diagnostic) => diagnostic.code).sort()).toEqual(['condition_loose_equality', 'test_no_expectation']);
  });
});
