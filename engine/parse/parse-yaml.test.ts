import { describe, expect, it } from 'vitest';
import { parseYaml } from './parse-yaml.ts';

function diagnosticsOf(text: string) {
  const result = parseYaml(text, 'doc.yaml');
  if (result.ok) throw new Error('expected diagnostics');
  return result.diagnostics;
}

describe('parseYaml', () => {
  it('maps pointers to the line and column of values and keys', () => {
    const result = parseYaml('id: demo\nrules:\n  - id: first\n    when: { var: tools }\n', 'doc.yaml');
    if (!result.ok) throw new Error('expected ok');
    const { data, sourceMap } = result.value;
    expect(data).toEqual({ id: 'demo', rules: [{ id: 'first', when: { var: 'tools' } }] });
    expect(sourceMap.position('/id')).toEqual({ line: 1, column: 5 });
    expect(sourceMap.position('/rules/0')).toEqual({ line: 3, column: 5 });
    expect(sourceMap.position('/rules/0/when', 'key')).toEqual({ line: 4, column: 5 });
    expect(sourceMap.position('/rules/0/when/var')).toEqual({ line: 4, column: 18 });
    // Unknown pointers fall back to the nearest ancestor.
    expect(sourceMap.position('/rules/0/missing')).toEqual({ line: 3, column: 5 });
  });

  it('keeps the written form of numbers', () => {
    const result = parseYaml('prompt: 0.0000025\ncompletion: 1e-5\n');
    if (!result.ok) throw new Error('expected ok');
    expect(result.value.sourceMap.scalarSource('/prompt')).toBe('0.0000025');
    expect(result.value.sourceMap.scalarSource('/completion')).toBe('1e-5');
  });

  it('reports a syntax error at its line and column', () => {
    expect(diagnosticsOf('id: demo\nrules: [\n  { id: a\n')[0]).toMatchObject({ code: 'yaml_syntax_error', file: 'doc.yaml', severity: 'error' });
    const [tab] = diagnosticsOf('id: demo\nrules:\n\t- id: a\n');
    expect(tab).toMatchObject({ code: 'yaml_syntax_error', line: 3, column: 1 });
  });

  it('rejects duplicate keys at the second occurrence', () => {
    expect(diagnosticsOf('id: a\nversion: 1\nid: b\n')).toEqual([
      expect.objectContaining({ code: 'yaml_duplicate_key', line: 3, column: 1 }),
    ]);
  });

  it('rejects merge keys and prototype-reaching keys, all at once', () => {
    const diagnostics = diagnosticsOf('base: &b { x: 1 }\nother:\n  <<: *b\n  __proto__: { polluted: true }\n  nested: { constructor: 1 }\n');
    expect(diagnostics.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: 'yaml_merge_key', line: 3, column: 3 },
      { code: 'yaml_forbidden_key', line: 4, column: 3 },
      { code: 'yaml_forbidden_key', line: 5, column: 13 },
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('stops alias bombs', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [index, name] of ['b', 'c', 'd', 'e', 'f'].entries()) {
      const previous = ['a', 'b', 'c', 'd', 'e'][index];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const [diagnostic] = diagnosticsOf(`${levels.join('\n')}\n`);
    expect(diagnostic).toMatchObject({ code: 'yaml_alias_limit', line: 2 });
  });

  it('allows a few ordinary aliases', () => {
    const result = parseYaml('params: &p [tools, temperature]\na: *p\nb: *p\n');
    expect(result.ok && result.value.data).toEqual({ params: ['tools', 'temperature'], a: ['tools', 'temperature'], b: ['tools', 'temperature'] });
  });
});

describe('parseYaml: keys that collide once turned into strings', () => {
  it('reports `1` and `"1"` as duplicates', () => {
    const result = parseYaml('weights:\n  1: 10\n  "1": 20\n', 'doc.yaml');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.diagnostics.map(({ code, line, column }) => ({ code, line, column }))).toEqual([{ code: 'yaml_duplicate_key', line: 3, column: 3 }]);
  });
});
