import { describe, expect, it } from 'vitest';
import { compileCatalog } from './compile-catalog.ts';

const PROVIDERS = `providers:
  - id: alpha
    name: Alpha
    protocol: openai-compatible
    base_url: https://alpha.example/v1
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true }
    region: us
`;

const BASE = `${PROVIDERS}models:
  - id: acme/one
    name: One
    context_length: 8000
    input_modalities: [text]
    output_modalities: [text]
    endpoints:
      - provider: alpha
        upstream_model: one
        pricing: { prompt: 0.0000025, completion: "0.00001", request: "0.001" }
        supported_parameters: [tools]
`;

const EXTRA = `providers:
  - id: beta
    name: Beta
    protocol: simulated
    data_policy: { trains_on_prompts: true, retention_days: 30, zdr: false }
    region: eu
    options: { latency_ms: 10 }
models:
  - id: acme/one
    endpoints:
      - provider: beta
        upstream_model: one-sim
        pricing: { prompt: "0.000001", completion: "0.000002", internal_reasoning: "0.000003" }
        context_length: 4000
        max_completion_tokens: 1000
        supported_parameters: []
`;

function problems(sources: Array<{ text: string; file: string }>) {
  const result = compileCatalog(sources);
  if (result.ok) throw new Error('expected diagnostics');
  return result.diagnostics.map(({ code, file, line, column }) => ({ code, file, line, column }));
}

describe('compileCatalog', () => {
  it('merges later files: new providers, extra endpoints on an existing model', () => {
    const result = compileCatalog([{ text: BASE, file: 'base.yaml' }, { text: EXTRA, file: 'extra.yaml' }]);
    if (!result.ok) throw new Error(JSON.stringify(result.diagnostics));
    const catalog = result.value;
    expect([...catalog.providers.keys()]).toEqual(['alpha', 'beta']);
    expect(catalog.providers.get('alpha')?.status).toBe('active');
    expect(catalog.endpointsByModel.get('acme/one')?.map((endpoint) => endpoint.id)).toEqual(['acme/one@alpha', 'acme/one@beta']);
    const [first, second] = catalog.endpoints;
    expect(first?.endpoint.pricing.prompt).toBe('0.0000025');
    expect(first?.price).toEqual({ prompt: 0.0000025, completion: 0.00001, request: 0.001, image: 0, input_cache_read: 0.0000025, input_cache_write: 0.0000025, internal_reasoning: 0.00001 });
    expect(first?.context_length).toBe(8000);
    expect(first?.max_completion_tokens).toBe(8000);
    expect(first?.parameters.has('tools')).toBe(true);
    expect(second?.context_length).toBe(4000);
    expect(second?.max_completion_tokens).toBe(1000);
    expect(second?.price.internal_reasoning).toBe(0.000003);
    expect(catalog.models.get('acme/one')?.endpoints).toHaveLength(2);
    expect(catalog.version).toMatch(/^[0-9a-f]{12}$/);
    const again = compileCatalog([{ text: BASE, file: 'base.yaml' }, { text: EXTRA.replace('10 }', '11 }'), file: 'extra.yaml' }]);
    expect(again.ok && again.value.version).not.toBe(catalog.version);
  });

  it('reports unknown providers with a suggestion, duplicate endpoints and providers', () => {
    const text = `${PROVIDERS}  - id: alpha
    name: Alpha again
    protocol: simulated
    data_policy: { trains_on_prompts: false, retention_days: 0, zdr: true }
    region: us
models:
  - id: acme/one
    name: One
    context_length: 8000
    input_modalities: [text]
    output_modalities: [text]
    endpoints:
      - { provider: alpah, upstream_model: one, pricing: { prompt: "1", completion: "1" }, supported_parameters: [] }
      - { provider: alpha, upstream_model: one, pricing: { prompt: "1", completion: "1" }, supported_parameters: [] }
      - { provider: alpha, upstream_model: two, pricing: { prompt: "1", completion: "1" }, supported_parameters: [] }
`;
    const result = compileCatalog([{ text, file: 'cat.yaml' }]);
    if (result.ok) throw new Error('expected diagnostics');
    expect(result.diagnostics.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: 'catalog_duplicate_provider', line: 8, column: 9 },
      { code: 'catalog_unknown_provider', line: 20, column: 21 },
      { code: 'catalog_duplicate_endpoint', line: 22, column: 21 },
    ]);
    expect(result.diagnostics[1]?.hint).toBe('did you mean `alpha`?');
    expect(result.diagnostics[2]?.hint).toBe('first declared at cat.yaml:21:9');
  });

  it('requires a full first declaration and forbids conflicting redeclarations', () => {
    expect(problems([{ text: EXTRA.replace('provider: beta', 'provider: beta'), file: 'extra.yaml' }])).toEqual([
      { code: 'catalog_model_incomplete', file: 'extra.yaml', line: 9, column: 5 },
    ]);
    const conflicting = EXTRA.replace('  - id: acme/one\n', '  - id: acme/one\n    context_length: 9000\n');
    expect(problems([{ text: BASE, file: 'base.yaml' }, { text: conflicting, file: 'extra.yaml' }])).toEqual([
      { code: 'catalog_model_conflict', file: 'extra.yaml', line: 10, column: 5 },
    ]);
  });

  it('reports schema problems of every file in one run', () => {
    const broken = BASE.replace('region: us', 'regoin: us').replace('context_length: 8000', 'context_length: "8k"');
    const diagnostics = problems([{ text: broken, file: 'a.yaml' }, { text: 'providers: [\n', file: 'b.yaml' }]);
    expect(diagnostics.map((diagnostic) => `${diagnostic.file}:${diagnostic.code}`)).toEqual([
      'a.yaml:schema_missing_property',
      'a.yaml:schema_unknown_property',
      'a.yaml:schema_wrong_type',
      'b.yaml:yaml_syntax_error',
    ]);
  });

  it('warns about models without endpoints', () => {
    const result = compileCatalog([{ text: BASE.replace(/ {4}endpoints:[\s\S]*$/, '    endpoints: []\n'), file: 'base.yaml' }]);
    expect(result.ok && result.warnings?.map((warning) => warning.code)).toEqual(['catalog_model_without_endpoints']);
  });
});
