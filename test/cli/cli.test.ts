/**
 * The `switchyard` binary, run as a subprocess on fixture files: output, `--json`, exit codes
 * (0 ok, 1 failures, 2 usage or invalid input).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { estimatePromptTokens } from '../../engine/index.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = join(root, 'test', 'cli', 'fixtures');
const fixture = (name: string): string => join(fixtures, name);
const scratch = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runWithInput(args: string[], input: string): Promise<Run> {
  return new Promise((resolvePromise) => {
    const child = execFile(process.execPath, [join(root, 'bin', 'switchyard.mjs'), ...args], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error && typeof error.code === 'number' ? error.code : error ? -1 : 0;
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

const switchyard = (...args: string[]): Promise<Run> => runWithInput(args, '');

const lastLine = (text: string): string => text.trimEnd().split('\n').at(-1) ?? '';
const catalog = ['--catalog', fixture('catalog.yaml')];

describe('switchyard test', () => {
  it('passes a passing suite with exit 0 and the closing line', async () => {
    const run = await switchyard('test', fixture('passing.test.yaml'));
    expect(run.code).toBe(0);
    expect(lastLine(run.stdout)).toBe('3 passed, 0 failed');
    expect(run.stdout).not.toContain('FAIL');
  });

  it('names a failing case, shows expected vs actual, and exits 1', async () => {
    const run = await switchyard('test', fixture('failing.test.yaml'));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('FAIL this case expects the wrong order on purpose (test/cli/fixtures/failing.test.yaml:9)');
    expect(run.stdout).toContain('- expected: [beta, alpha]');
    expect(run.stdout).toContain('+ actual:   [alpha, beta]');
    expect(run.stdout).not.toContain('FAIL demo/b goes to gamma');
    expect(lastLine(run.stdout)).toBe('1 passed, 1 failed');
  });

  it('prints machine-readable results with --json', async () => {
    const run = await switchyard('test', fixture('passing.test.yaml'), fixture('failing.test.yaml'), '--json', '--coverage');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as {
      passed: number;
      failed: number;
      files: Array<{ file: string; cases: Array<{ note: string; passed: boolean; failures: Array<{ what: string; expected: unknown; actual: unknown }> }>; coverage: { rules: Array<{ id: string; hits: number }> } }>;
    };
    expect(report.passed).toBe(4);
    expect(report.failed).toBe(1);
    const failing = report.files.find((file) => file.file.endsWith('failing.test.yaml'));
    const failed = failing?.cases.find((result) => !result.passed);
    expect(failed?.note).toBe('this case expects the wrong order on purpose');
    expect(failed?.failures).toEqual([{ what: 'attempts', expected: ['beta', 'alpha'], actual: ['alpha', 'beta'] }]);
    const passing = report.files.find((file) => file.file.endsWith('passing.test.yaml'));
    expect(passing?.coverage.rules).toEqual([{ policy: 'demo', id: 'private', hits: 1 }]);
  });

  it('runs the shipped policy tests when given no path', async () => {
    const result = await switchyard('test', '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { failed: number; files: Array<{ file: string }> };
    expect(report.failed).toBe(0);
    expect(report.files.map((file) => file.file)).toContain('policies/default.test.yaml');
    expect(report.files.every((file) => file.file.startsWith('policies/'))).toBe(true);
  });

  it('writes a JUnit report with --junit', async () => {
    const path = join(scratch, 'junit.xml');
    const result = await switchyard('test', fixture('passing.test.yaml'), fixture('failing.test.yaml'), '--junit', path);
    expect(result.code).toBe(1);
    const xml = readFileSync(path, 'utf8');
    expect(xml).toContain('<testsuites name="switchyard" tests="5" failures="1">');
    expect(xml).toContain('<testcase classname="test/cli/fixtures/passing.test.yaml" name="cheapest endpoint first"/>');
    expect(xml).toContain('<failure message="attempts: expected [beta, alpha], actual [alpha, beta]">test/cli/fixtures/failing.test.yaml:9');
  });

  it('reports rules no case matched with --coverage', async () => {
    const run = await switchyard('test', fixture('failing.test.yaml'), '--coverage');
    expect(run.stdout).toContain('rules no case matched: demo: private');
  });

  it('exits 2 for a test file that does not validate, with the line of the problem', async () => {
    const path = join(scratch, 'broken.test.yaml');
    writeFileSync(path, `policy: ${fixture('policy.yaml')}\ncatalog: ${fixture('catalog.yaml')}\ncases:\n  - note: typo\n    expcet: { first_provider: alpha }\n`);
    const run = await switchyard('test', path);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(/broken\.test\.yaml:5:5: error test_schema_error: .*expcet/);
  });
});

describe('switchyard check', () => {
  const text = readFileSync(fixture('invalid-policy.yaml'), 'utf8').split('\n');
  // Where the two mistakes are, found in the fixture's text rather than typed in.
  const sortLine = text.findIndex((line) => line.includes('cheapest')) + 1;
  const sortColumn = (text[sortLine - 1] ?? '').indexOf('cheapest') + 1;
  const factLine = text.findIndex((line) => line.includes('temas')) + 1;
  const factColumn = (text[factLine - 1] ?? '').indexOf('temas') + 1;

  it('reports every error of an invalid policy at its line and column and exits 1', async () => {
    const run = await switchyard('check', fixture('invalid-policy.yaml'), ...catalog);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`test/cli/fixtures/invalid-policy.yaml:${sortLine}:${sortColumn}: error schema_invalid_value:`);
    expect(run.stdout).toContain(`test/cli/fixtures/invalid-policy.yaml:${factLine}:${factColumn}: error condition_unknown_fact:`);
    expect(run.stdout).toContain('hint: did you mean `team`?');
    expect(lastLine(run.stdout)).toBe('checked 1 files (0 catalogs, 1 policies, 0 test files): 2 errors, 0 warnings');
  });

  it('prints diagnostics as JSON with --json', async () => {
    const run = await switchyard('check', fixture('invalid-policy.yaml'), ...catalog, '--json');
    expect(run.code).toBe(1);
    const result = JSON.parse(run.stdout) as { ok: boolean; errors: number; diagnostics: Array<{ code: string; line: number; column: number }> };
    expect(result.ok).toBe(false);
    expect(result.errors).toBe(2);
    expect(result.diagnostics.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: 'schema_invalid_value', line: sortLine, column: sortColumn },
      { code: 'condition_unknown_fact', line: factLine, column: factColumn },
    ]);
  });

  it('passes valid files with exit 0', async () => {
    const run = await switchyard('check', fixture('catalog.yaml'), fixture('policy.yaml'), fixture('passing.test.yaml'));
    expect(run.code).toBe(0);
    expect(lastLine(run.stdout)).toBe('checked 3 files (1 catalogs, 1 policies, 1 test files): 0 errors, 0 warnings');
  });
});

describe('switchyard plan', () => {
  const body = JSON.parse(readFileSync(fixture('request.json'), 'utf8')) as unknown;
  const promptTokens = estimatePromptTokens(body);

  it('prints the plan for a request', async () => {
    const run = await switchyard('plan', '--request', fixture('request.json'), '--policy', fixture('policy.yaml'), ...catalog);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/1\s+demo\/a@alpha\s+Alpha/);
    expect(run.stdout).toMatch(/2\s+demo\/a@beta\s+Beta/);
    expect(run.stdout).not.toContain('trace:');
  });

  it('explains a rule that did not match', async () => {
    const run = await switchyard('plan', '--request', fixture('request.json'), '--policy', fixture('policy.yaml'), ...catalog, '--explain');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/rule\s+private\s+not matched\s+\S/);
  });

  it('adds the trace with --explain: rules checked and candidates excluded, with why', async () => {
    const run = await switchyard('plan', '--request', fixture('request.json'), '--policy', fixture('policy.yaml'), ...catalog, '--header', 'x-private=true', '--explain');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('trace:');
    expect(run.stdout).toMatch(/rule\s+private\s+matched/);
    expect(run.stdout).toMatch(/demo\/a@alpha\s+attempt 1\s+model demo\/a: primary/);
    expect(run.stdout).toMatch(/demo\/a@beta\s+excluded: data_collection\s+by private: beta trains on prompts/);
  });

  it('prints the plan object with --json, costs as computed by hand', async () => {
    const run = await switchyard('plan', '--request', fixture('request.json'), '--policy', fixture('policy.yaml'), ...catalog, '--json');
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout) as { attempts: Array<{ endpoint: string; estimated_cost: { min: number; max: number } }> };
    expect(plan.attempts.map((attempt) => attempt.endpoint)).toEqual(['demo/a@alpha', 'demo/a@beta']);
    // alpha: $1/M prompt, $2/M completion; max_tokens 100.
    expect(plan.attempts[0]?.estimated_cost.min).toBeCloseTo(promptTokens * 0.000001, 12);
    expect(plan.attempts[0]?.estimated_cost.max).toBeCloseTo(promptTokens * 0.000001 + 100 * 0.000002, 12);
  });

  it('reads the request from standard input with --request -', async () => {
    const result = await runWithInput(['plan', '--request', '-', '--policy', fixture('policy.yaml'), ...catalog, '--json'], JSON.stringify({ model: 'demo/b', messages: [{ role: 'user', content: 'hi' }] }));
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { attempts: Array<{ endpoint: string }> };
    expect(plan.attempts.map((attempt) => attempt.endpoint)).toEqual(['demo/b@gamma', 'demo/b@alpha']);
  });

  it('exits 1 with the typed error when there is no route', async () => {
    const path = join(scratch, 'unknown-model.json');
    writeFileSync(path, JSON.stringify({ model: 'demo/zzz', messages: [{ role: 'user', content: 'hi' }] }));
    const run = await switchyard('plan', '--request', path, '--policy', fixture('policy.yaml'), ...catalog);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('no route: model_not_found (HTTP 404)');
  });
});

describe('usage errors exit 2', () => {
  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['test', '--bogus'], /unknown option '--bogus'/],
    [['plan', '--policy', 'x.yaml'], /required option '--request <file>' not specified/],
    [['plan', '--request', 'does-not-exist.json', '--catalog', 'test/cli/fixtures/catalog.yaml', '--policy', 'test/cli/fixtures/policy.yaml'], /cannot read .*does-not-exist\.json: ENOENT/],
    [['plan', '--request', 'test/cli/fixtures/request.json', '--seed', 'abc'], /--seed must be an integer/],
    [['test', 'test/cli/fixtures/catalog.yaml', 'no-such-folder'], /no such file or folder: no-such-folder/],
    [['plan', '--request', 'test/cli/fixtures/request.json', '--policy', 'test/cli/fixtures/invalid-policy.yaml', '--catalog', 'test/cli/fixtures/catalog.yaml'], /invalid-policy\.yaml:\d+:\d+: error schema_invalid_value/],
  ])('switchyard %j', async (args, message) => {
    const run = await switchyard(...args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('shows help for every subcommand with exit 0', async () => {
    for (const command of ['check', 'test', 'plan', 'diff']) {
      const run = await switchyard(command, '--help');
      expect(run.code, command).toBe(0);
      expect(run.stdout, command).toContain(`Usage: switchyard ${command}`);
      expect(run.stdout, command).toContain('Exit codes: 0 ok, 1 failures, 2 usage error or invalid input.');
    }
  });
});

describe('switchyard diff', () => {
  it('matches totals computed by hand on a small sample', async () => {
    const run = await switchyard(
      'diff',
      '--old',
      fixture('policy.yaml'),
      '--new',
      fixture('new-policy.yaml'),
      '--requests',
      fixture('sample.jsonl'),
      '--snapshot',
      fixture('snapshot.json'),
      ...catalog,
      '--json',
    );
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      requests: number;
      changed: number;
      changes: Array<{ line: number; old: string; new: string }>;
      cost_usd: { old: number; new: number; change: number };
      latency_ms: { old_mean: number; new_mean: number; change: number };
      per_model: Array<{ model: string; requests: number; changed: number; cost_usd: { old: number; new: number } }>;
    };
    // Lines 1-4 carry chat bodies: their prompt tokens are the engine's documented estimate.
    const bodies = readFileSync(fixture('sample.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 4)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .map((value) => ('request' in value ? value['request'] : value));
    const [p1, p2, p3, p4] = bodies.map((body) => estimatePromptTokens(body)) as [number, number, number, number];
    // Line 5 is a bare generation record: 20 prompt and 30 completion tokens, as billed.
    const p5 = 20;
    // Completion tokens: min(max_tokens, 256) = 100, 256, 100; line 4's usage says 50, line 5's 30.
    // Old policy: demo/a on alpha ($1/M, $2/M), demo/b on gamma ($1/M, $1/M).
    const oldA = p1 * 1e-6 + 100 * 2e-6 + (p2 * 1e-6 + 256 * 2e-6) + (p4 * 1e-6 + 50 * 2e-6) + (p5 * 1e-6 + 30 * 2e-6);
    const oldB = p3 * 1e-6 + 100 * 1e-6;
    // New policy denies alpha: demo/a on beta ($2/M, $3/M); demo/b unchanged.
    const newA = p1 * 2e-6 + 100 * 3e-6 + (p2 * 2e-6 + 256 * 3e-6) + (p4 * 2e-6 + 50 * 3e-6) + (p5 * 2e-6 + 30 * 3e-6);

    expect(report.requests).toBe(5);
    expect(report.changed).toBe(4);
    expect(report.changes.map((change) => [change.line, change.old, change.new])).toEqual([
      [1, 'alpha', 'beta'],
      [2, 'alpha', 'beta'],
      [4, 'alpha', 'beta'],
      [5, 'alpha', 'beta'],
    ]);
    expect(report.cost_usd.old).toBeCloseTo(oldA + oldB, 12);
    expect(report.cost_usd.new).toBeCloseTo(newA + oldB, 12);
    expect(report.cost_usd.change).toBeCloseTo(newA - oldA, 12);
    // Snapshot p50: alpha 300, beta 500, gamma 200 (ms).
    expect(report.latency_ms.old_mean).toBeCloseTo((300 + 300 + 200 + 300 + 300) / 5, 9);
    expect(report.latency_ms.new_mean).toBeCloseTo((500 + 500 + 200 + 500 + 500) / 5, 9);
    expect(report.latency_ms.change).toBeCloseTo(160, 9);
    const perModel = Object.fromEntries(report.per_model.map((model) => [model.model, model]));
    expect(perModel['demo/a']?.requests).toBe(4);
    expect(perModel['demo/a']?.changed).toBe(4);
    expect(perModel['demo/a']?.cost_usd.old).toBeCloseTo(oldA, 12);
    expect(perModel['demo/b']?.changed).toBe(0);
    expect(perModel['demo/b']?.cost_usd.new).toBeCloseTo(oldB, 12);
  });

  it('replays a generated 1,000-request sample and prints how long it took', async () => {
    const lines: string[] = [];
    let demoA = 0;
    for (let index = 0; index < 1000; index += 1) {
      const model = index % 3 === 0 ? 'demo/b' : 'demo/a';
      if (model === 'demo/a') demoA += 1;
      lines.push(JSON.stringify({ model, messages: [{ role: 'user', content: `request ${index}: ${'word '.repeat(index % 50)}` }], max_tokens: 50 + (index % 200) }));
    }
    const path = join(scratch, 'sample-1000.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);
    const run = await switchyard('diff', '--old', fixture('policy.yaml'), '--new', fixture('new-policy.yaml'), '--requests', path, ...catalog, '--limit', '3');
    expect(run.code).toBe(0);
    const elapsed = /replayed 1000 requests through both policies in (\d+(?:\.\d+)?) ms/.exec(run.stdout);
    expect(elapsed).not.toBeNull();
    // Time is printed, not asserted (bench/diff.ts measures it); every demo/a request moves to beta.
    process.stdout.write(`diff of 1,000 requests: ${elapsed?.[1]} ms (measured inside the CLI)\n`);
    expect(run.stdout).toContain(`first provider changed: ${demoA} of 1000`);
    expect(run.stdout).toContain(`... and ${demoA - 3} more`);
  });

  it('exits 1 with --fail-on-change when a first provider changes', async () => {
    const run = await switchyard('diff', '--old', fixture('policy.yaml'), '--new', fixture('new-policy.yaml'), '--requests', fixture('sample.jsonl'), ...catalog, '--fail-on-change');
    expect(run.code).toBe(1);
  });
});
