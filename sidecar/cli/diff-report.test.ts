import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileCatalog, compilePolicy, type CompiledCatalog, type CompiledPolicy } from '../../engine/index.ts';
import { diffPolicies, fnv1a, parseSample, type DiffSettings } from './diff-report.ts';

const fixture = (name: string): string => readFileSync(new URL(`../../test/cli/fixtures/${name}`, import.meta.url), 'utf8');

function compiled(): { catalog: CompiledCatalog; before: CompiledPolicy; after: CompiledPolicy } {
  const catalog = compileCatalog([{ text: fixture('catalog.yaml'), file: 'catalog.yaml' }]);
  if (!catalog.ok) throw new Error('fixture catalog does not compile');
  const before = compilePolicy(fixture('policy.yaml'), 'policy.yaml', catalog.value);
  const after = compilePolicy(fixture('new-policy.yaml'), 'new-policy.yaml', catalog.value);
  if (!before.ok || !after.ok) throw new Error('fixture policies do not compile');
  return { catalog: catalog.value, before: before.value, after: after.value };
}

const settings: DiffSettings = { snapshot: {}, now: 0, seed: 0, completionTokens: 256, defaultLatencyMs: 1000, limit: 20 };

describe('parseSample', () => {
  it('reads bodies, records and generation records, skipping blank lines', () => {
    const text = [
      '{"model":"demo/a","messages":[]}',
      '',
      '{"request":{"model":"demo/b","messages":[]},"headers":{"X-Private":"true"},"team":"ml","usage":{"completion_tokens":12}}',
      '{"requested_models":["demo/a","demo/b"],"usage":{"prompt_tokens":40,"completion_tokens":9},"tags":["batch"],"streamed":true,"user":"u1"}',
    ].join('\n');
    const { requests, errors } = parseSample(text);
    expect(errors).toEqual([]);
    expect(requests.map((request) => request.line)).toEqual([1, 3, 4]);
    expect(requests[1]).toMatchObject({ headers: { 'x-private': 'true' }, identity: { team: 'ml' }, completionTokens: 12, promptTokens: null });
    expect(requests[2]).toMatchObject({
      body: { model: 'demo/a', models: ['demo/b'], stream: true },
      headers: { 'x-switchyard-tags': 'batch' },
      identity: { user: 'u1' },
      completionTokens: 9,
      promptTokens: 40,
    });
  });

  it('names the lines that are not JSON objects', () => {
    expect(parseSample('{"model":"demo/a"}\nnot json\n[1]\n').errors.map((error) => error.split(':')[0])).toEqual(['line 2', 'line 3']);
  });

  it('seeds a request by its text, so reordering the sample changes nothing', () => {
    const first = '{"model":"demo/a","messages":[{"role":"user","content":"one"}]}';
    const second = '{"model":"demo/a","messages":[{"role":"user","content":"two"}]}';
    const forward = parseSample(`${first}\n${second}`).requests.map((request) => request.hash);
    const backward = parseSample(`${second}\n${first}`).requests.map((request) => request.hash);
    expect(forward).toEqual([fnv1a(first), fnv1a(second)]);
    expect(backward).toEqual([fnv1a(second), fnv1a(first)]);
    expect(fnv1a(first)).not.toBe(fnv1a(second));
  });
});

describe('diffPolicies', () => {
  it('lists requests the gateway would reject and leaves them out of the totals', () => {
    const { catalog, before, after } = compiled();
    const sample = parseSample(
      [
        '{"model":"demo/a","messages":[{"role":"user","content":"hi"}],"max_tokens":10}',
        '{"models":["demo/a","demo/b","demo/a","demo/b"],"messages":[{"role":"user","content":"hi"}]}',
      ].join('\n'),
    );
    const report = diffPolicies(before, after, catalog, sample.requests, settings);
    expect(report.requests).toBe(1);
    expect(report.invalid).toMatchObject([{ line: 2, code: 'invalid_request' }]);
    expect(report.changed).toBe(1);
  });

  it('counts a request that loses its route as changed, with no cost under the new policy', () => {
    const { catalog, before } = compiled();
    const strict = compilePolicy('version: 1\nid: strict\nrequire: { regions: [mars] }\n', 'strict.yaml', catalog);
    if (!strict.ok) throw new Error('strict policy does not compile');
    const sample = parseSample('{"model":"demo/a","messages":[{"role":"user","content":"hi"}],"max_tokens":10}');
    const report = diffPolicies(before, strict.value, catalog, sample.requests, settings);
    expect(report.no_route).toEqual({ old: 0, new: 1 });
    expect(report.changes).toMatchObject([{ line: 1, old: 'alpha', new: null }]);
    expect(report.cost_usd.new).toBe(0);
    expect(report.cost_usd.old).toBeGreaterThan(0);
  });
});
